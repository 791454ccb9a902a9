"""A malformed or inconsistent config never starts the daemon and never touches an existing
database; `caretaker check` names the JSON path, and on a good config prints the read plan and
the bus load."""

import hashlib
import json
import os
import subprocess
import sys

import harness as h


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def test(started):
    work = h.Workdir("badcfg")
    good_bus = {"id": "rs485-1", "type": "rtu", "port": "/dev/null", "baud": 9600,
                "devices": [{"id": "manhole-3", "unit": 1, "driver": "level/ultrasonic-generic", "poll_ms": 1000}]}
    cfg = h.base_config(work, [good_bus])
    db = cfg["store"]["path"]
    # An existing database, as a box in the field has
    import sqlite3
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE keep(x)")
    con.execute("INSERT INTO keep VALUES (42)")
    con.commit()
    con.close()
    before = digest(db)

    bad = json.loads(json.dumps(cfg))
    bad["buses"][0]["devices"][0]["driver"] = "level/ultrasonic-genric"
    path = work.file("bad.json")
    with open(path, "w") as f:
        json.dump(bad, f)
    for cmd in ("run", "check"):
        r = subprocess.run([h.BIN, cmd, "-c", path, "-d", h.DRIVERS], capture_output=True, text=True, timeout=30)
        if r.returncode == 0:
            raise h.TestFailure("%s accepted a config with an unknown driver" % cmd)
        want = 'buses[0].devices[0].driver: no profile "level/ultrasonic-genric" (did you mean "level/ultrasonic-generic"?)'
        if want not in r.stderr:
            raise h.TestFailure("%s: error does not name the path and the fix: %r" % (cmd, r.stderr))
    if digest(db) != before or os.path.exists(db + "-wal"):
        raise h.TestFailure("the database was touched by a refused config")

    good = work.file("good.json")
    with open(good, "w") as f:
        json.dump(cfg, f)
    r = subprocess.run([h.BIN, "check", "-c", good, "-d", h.DRIVERS], capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise h.TestFailure("check refused a good config: %s" % r.stderr)
    # The level meter's map: registers 0..5 in one read (level, decimals, distance, status bits, temperature)
    for want in ("read holding registers 0..5 (6)", "bus load", "manhole-3"):
        if want not in r.stdout:
            raise h.TestFailure("check output lacks %r:\n%s" % (want, r.stdout))


sys.exit(h.run(test))
