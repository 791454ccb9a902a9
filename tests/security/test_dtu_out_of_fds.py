"""The DTU listener out of file descriptors (a connection flood, or a low limit): accepting fails,
and that is logged — not spun on in silence — and once descriptors are free again a real DTU
registers on the same listener.

The daemon's descriptor limit is lowered while it runs (prlimit) to a few above what it has
open, then idle connections are opened until accept() must fail.
"""

import os
import re
import resource
import sys

import harness as h
from dtu_raw import connect

IMEI = "868120034567891"
SECRET = "Xk3pQ9zw-7Lm"


def cpu_ticks(pid):
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def test(started):
    work = h.Workdir("dtu-fds")
    port = h.free_port()
    secret = work.secret("dtu.secret", SECRET)
    bus = {"id": "dtu-a", "type": "dtu", "listen": "127.0.0.1:%d" % port, "dtu_id": IMEI,
           "secret_file": secret, "timeout_ms": 300, "retries": 0,
           "devices": [{"id": "manhole-a1", "unit": 1, "driver": "level/ultrasonic-generic", "poll_ms": 200}]}
    cfg = h.base_config(work, [bus])
    db = cfg["store"]["path"]
    d = h.Daemon(work, cfg)
    started.append(d)
    h.wait_until("the daemon to listen", lambda: h.accepting(port), 10)

    pid = d.proc.pid
    limit = len(os.listdir("/proc/%d/fd" % pid)) + 3
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (limit, limit))
    idle = [connect(port) for _ in range(12)]
    failed = r"<3>dtu 127\.0\.0\.1:%d: cannot accept connections: Too many open files; trying again in 1 s" % port
    h.wait_until("the failed accept logged", lambda: re.search(failed, d.output()), 10)
    ticks = cpu_ticks(pid)
    # the idle connections close: their descriptors are freed, and a real DTU gets in
    for s in idle:
        s.close()
    scen = h.scenario(work, [{"unit": 1, "driver": "level/ultrasonic-generic",
                              "values": {"decimals": 2, "level": 0.33}}])
    sim = h.Sim(work, scen, extra=["--dtu", "127.0.0.1:%d" % port, "--dtu-id", "%s:%s" % (IMEI, SECRET)])
    started.append(sim)
    h.wait_until("readings through the DTU", lambda: h.latest(db, "manhole-a1", "level") == (0.33, 0), 20)
    print("daemon CPU while out of descriptors and back: %d ticks" % (cpu_ticks(pid) - ticks))
    lines = len(re.findall(failed, d.output()))
    if lines > 3:
        raise h.TestFailure("%d lines for one spell out of descriptors (expected at most 3):\n%s"
                            % (lines, d.output()))

    if not d.running():
        raise h.TestFailure("daemon died:\n" + d.output())
    if d.stop() != 0:
        raise h.TestFailure("daemon exited %s" % d.proc.returncode)


sys.exit(h.run(test))
