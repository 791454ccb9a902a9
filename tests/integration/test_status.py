"""caretaker status on a store written by a real daemon run: devices with their state and last
reading, the last values, the backlog of messages no broker has acknowledged, active alerts;
read while the daemon writes without disturbing it, and from a read-only copy afterwards."""

import os
import re
import shutil
import stat
import subprocess
import sys

import harness as h


def status(*args):
    r = subprocess.run([h.BIN, "status"] + list(args), capture_output=True, text=True, timeout=30,
                       env=h.clock_env())
    return r.returncode, r.stdout, r.stderr


def test(started):
    work = h.Workdir("status")
    scen = h.scenario(work, [
        {"unit": 1, "driver": "level/ultrasonic-generic",
         "values": {"decimals": 2, "level": 0.33, "distance": 1.5, "temperature": 21.5}},
        {"unit": 2, "driver": "level/ultrasonic-generic", "behave": "silent"},
    ])
    sim = h.Sim(work, scen, tcp=True)
    started.append(sim)
    # The store growing shows the daemon at work: every poll written in full (report_max_s 0).
    bus = {"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": sim.tcp_port, "timeout_ms": 100,
           "retries": 0, "offline_after": 2,
           "devices": [
               {"id": "manhole-1", "unit": 1, "driver": "level/ultrasonic-generic", "poll_ms": 100,
                "location": "3号楼北侧窨井", "report_max_s": 0},
               {"id": "manhole-2", "unit": 2, "driver": "level/ultrasonic-generic", "poll_ms": 100,
                "report_max_s": 0},
           ]}
    cfg = h.base_config(work, [bus])
    db = cfg["store"]["path"]
    d = h.Daemon(work, cfg)
    started.append(d)
    h.wait_until("a reading", lambda: h.latest(db, "manhole-1", "level") == (0.33, 0))
    offline = "SELECT count(*) FROM outbox o JOIN devices v ON v.id = o.device_id WHERE v.name = 'manhole-2' " \
              "AND o.kind = 2 AND o.body LIKE '%offline%'"
    h.wait_until("manhole-2 offline", lambda: h.scalar(db, offline))

    # while the daemon writes
    before = h.scalar(db, "SELECT max(seq) FROM outbox")
    rc, out, err = status("-c", d.config_path, "-d", h.DRIVERS)
    if rc != 0:
        raise h.TestFailure("status exited %d: %s%s" % (rc, out, err))
    checks = [
        r"^devices \(2\):$",
        r"^  manhole-1\s+online\s+last reading \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(\d+ s ago\)$",
        r"^\s+level/ultrasonic-generic, 3号楼北侧窨井, online since ",
        r"^  manhole-2\s+offline\s+last reading never$",
        r"^  manhole-1 at \d{4}-",
        r"^    level\s+0\.33 m$",
        r"^    distance\s+1\.5 m$",
        r"^    temperature\s+21\.5 C$",
        r"^    decimals\s+2$",
        r"^backlog: \d+ messages not yet acknowledged by the broker \(\d+ readings, \d+ device states",
        r"^active alerts: none$",
    ]
    for c in checks:
        if not re.search(c, out, re.M):
            raise h.TestFailure("status output lacks /%s/:\n%s" % (c, out))
    h.wait_until("the daemon to go on writing", lambda: h.scalar(db, "SELECT max(seq) FROM outbox") > before + 10)
    if "error" in d.output().lower():
        raise h.TestFailure("the daemon logged an error while status read:\n" + d.output())
    if d.stop() != 0:
        raise h.TestFailure("daemon exited %s" % d.proc.returncode)

    # the backlog counted by status is the store's own count of unsent rows
    unsent = h.scalar(db, "SELECT count(*) FROM outbox WHERE sent = 0")
    copy = work.file("copy.db")
    shutil.copy(db, copy)
    os.chmod(copy, stat.S_IRUSR)
    rc, out, err = status("--db", copy)
    if rc != 0 or ("backlog: %d messages" % unsent) not in out:
        raise h.TestFailure("status on a read-only copy (%d), expected %d unsent: %s%s" % (rc, unsent, out, err))
    if os.path.exists(copy + "-wal") and os.path.getsize(copy + "-wal") > 0:
        raise h.TestFailure("status wrote to the store")

    rc, out, err = status("--db", work.file("nope.db"))
    if rc != 1 or "No such file" not in err or os.path.exists(work.file("nope.db")):
        raise h.TestFailure("missing store (%d): %s%s" % (rc, out, err))
    rc, out, err = status()
    if rc != 2:
        raise h.TestFailure("status without a store exited %d" % rc)
    r = subprocess.run([h.BIN, "status", "--help"], capture_output=True, text=True, timeout=10)
    if r.returncode != 0 or "examples:" not in r.stdout:
        raise h.TestFailure("status --help: %r" % r.stdout)


sys.exit(h.run(test))
