"""check_dashboard: the page works on a LAN with no internet and stays light — every script and
stylesheet index.html loads is a file of dashboard/ (no CDN, no absolute URL), every one exists,
each vendored library sits beside its licence, and the JavaScript and CSS, uncompressed, total
under 300 kB."""

import glob
import os
import re
import sys

SRC = os.environ.get("CARETAKER_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
DASH = os.path.join(SRC, "dashboard")
BUDGET = 300 * 1000


def main():
    errors = []
    html = open(os.path.join(DASH, "index.html"), encoding="utf-8").read()
    refs = re.findall(r'<(?:script|link)\b[^>]*?\b(?:src|href)="([^"]+)"', html)
    for ref in refs:
        if ref.startswith("data:"):
            continue
        if re.match(r"^([a-z]+:)?//", ref) or ref.startswith("/"):
            errors.append("index.html loads %r: only files of dashboard/ may be loaded" % ref)
        elif not os.path.isfile(os.path.join(DASH, ref)):
            errors.append("index.html loads %r, which is not in dashboard/" % ref)
    for lib in glob.glob(os.path.join(DASH, "vendor", "*")):
        if not glob.glob(os.path.join(lib, "*epl*")) + glob.glob(os.path.join(lib, "*LICEN*")):
            errors.append("%s has no licence file" % os.path.relpath(lib, SRC))
    files = [p for p in glob.glob(os.path.join(DASH, "**", "*"), recursive=True)
             if p.endswith((".js", ".css")) and "node_modules" not in p]
    total = sum(os.path.getsize(p) for p in files)
    if total >= BUDGET:
        errors.append("JavaScript and CSS total %d bytes, over the %d budget" % (total, BUDGET))
    for e in errors:
        print("FAIL " + e)
    if errors:
        sys.exit(1)
    print("PASS %d references, %d JS/CSS files, %d bytes (budget %d)" % (len(refs), len(files), total, BUDGET))


main()
