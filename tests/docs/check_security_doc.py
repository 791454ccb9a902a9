"""docs/security.md shows the broker's files for a site as the security suite runs them: the
copies in the document must equal config/mosquitto/caretaker.conf.example and acl.example."""

import os
import re
import sys

SRC = os.environ.get("CARETAKER_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))


def check():
    doc = open(os.path.join(SRC, "docs", "security.md"), encoding="utf-8").read()
    blocks = re.findall(r"^```\n(.*?)^```$", doc, re.S | re.M)
    errors = []
    for name in ("caretaker.conf.example", "acl.example"):
        text = open(os.path.join(SRC, "config", "mosquitto", name), encoding="utf-8").read()
        if text not in blocks:
            errors.append("docs/security.md: no code block equal to config/mosquitto/%s" % name)
    return errors


if __name__ == "__main__":
    errs = check()
    for e in errs:
        print(e)
    print("%s check_security_doc.py: %d difference(s)" % ("FAIL" if errs else "PASS", len(errs)))
    sys.exit(1 if errs else 0)
