"""The site's broker as config/mosquitto/ writes it (acl.example, caretaker.conf.example), for the
security tests: its password file made with mosquitto_passwd, its settings with the test's paths."""

import os
import re
import subprocess

SRC = os.environ.get("CARETAKER_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
ACL = os.path.join(SRC, "config", "mosquitto", "acl.example")
CONF = os.path.join(SRC, "config", "mosquitto", "caretaker.conf.example")
GATEWAY_USER = "gw-hongmei-01"


def passwords(work, more=()):
    """The password file for every user the ACL names, and the users `more` (whom the ACL reaches
    only through its patterns), made as the recipe says; returns (path, {user: password})."""
    users = re.findall(r"^user (\S+)$", open(ACL).read(), re.M) + list(more)
    path = work.file("caretaker.passwd")
    secrets = {}
    for i, user in enumerate(users):
        secrets[user] = "pw-%s-%d" % (user, i)
        subprocess.run(["mosquitto_passwd"] + (["-c"] if i == 0 else []) + ["-b", path, user, secrets[user]],
                       check=True, capture_output=True)
    return path, secrets


def broker_settings(work, passwd):
    """caretaker.conf.example's lines, with the test's paths for the two files."""
    lines = []
    for line in open(CONF).read().splitlines():
        if line.strip() and not line.startswith("#"):
            lines.append(line.replace("/etc/mosquitto/caretaker.passwd", passwd)
                         .replace("/etc/mosquitto/caretaker.acl", ACL))
    return "\n".join(lines)


def gateway_password(work, secrets):
    """The gateway's mqtt.password_file, holding its user's password; returns its path."""
    path = work.file("gateway.password")
    with open(path, "w") as f:
        f.write(secrets[GATEWAY_USER] + "\n")
    os.chmod(path, 0o600)
    return path
