"""DTU claims against the real daemon, the simulator as the DTU, on a bus polled once a minute.

- A connection with the right id and secret, waiting while the current one still answers, is
  never pushed out for room: idle connections from the DTU's own address (carrier NAT) close
  one another, not it.
- One claim per DTU: a newer right claim closes the older one that waits.
- A DTU that closes its connection itself and dials again is let in at once — it registers
  anew (no takeover) without waiting for the bus's next poll, a minute away.
"""

import re
import sys

import harness as h
from dtu_raw import closed, connect

IMEI = "868120034567891"
SECRET = "Xk3pQ9zw-7Lm"


def local_port(sock):
    return sock.getsockname()[1]


def test(started):
    work = h.Workdir("dtu-claims")
    port = h.free_port()
    secret = work.secret("dtu.secret", SECRET)
    bus = {"id": "dtu-slow", "type": "dtu", "listen": "127.0.0.1:%d" % port, "dtu_id": IMEI,
           "secret_file": secret, "timeout_ms": 300, "retries": 0,
           "devices": [{"id": "manhole-s1", "unit": 1, "driver": "level/ultrasonic-generic", "poll_ms": 60000}]}
    cfg = h.base_config(work, [bus])
    d = h.Daemon(work, cfg)
    started.append(d)
    h.wait_until("the daemon to listen", lambda: h.accepting(port), 10)
    scen = h.scenario(work, [{"unit": 1, "driver": "level/ultrasonic-generic",
                              "values": {"decimals": 2, "level": 0.33}}])
    sim = h.Sim(work, scen, extra=["--dtu", "127.0.0.1:%d" % port, "--dtu-id", "%s:%s" % (IMEI, SECRET)])
    started.append(sim)
    registered = r"bus dtu-slow: DTU %s: registered from" % IMEI
    # a new connection counts as answering for the bus's quiet time (poll_ms + timeout_ms) from
    # when it registers: the claims below are made while it still does
    h.wait_until("the DTU registered", lambda: re.search(registered, d.output()), 10)

    # a right claim while the DTU answers: held
    packet = ("%s:%s" % (IMEI, SECRET)).encode()
    claim = connect(port, packet)
    waits = r"DTU %s: connection from 127\.0\.0\.1:%d waits up to \d+ s"
    h.wait_until("the claim held", lambda: re.search(waits % (IMEI, local_port(claim)), d.output()), 10)

    # 9 idle connections from the same address: 8 may wait, so the 9th pushes out the oldest
    # idle one — not the claim, which came before them all
    idle = [connect(port) for _ in range(9)]
    h.wait_until("the oldest idle connection closed for room", lambda: closed(idle[0]), 10)
    if closed(claim):
        raise h.TestFailure("the waiting right claim was closed to make room for idle connections:\n" + d.output())
    if any(closed(s) for s in idle[1:]):
        raise h.TestFailure("more idle connections closed than room needed")

    # a newer right claim: the older one is closed, the newer waits
    newer = connect(port, packet)
    h.wait_until("the older claim closed for the newer", lambda: closed(claim), 10)
    if closed(newer):
        raise h.TestFailure("the newer right claim was closed")
    if not re.search(waits % (IMEI, local_port(newer)), d.output()):
        raise h.TestFailure("the newer claim is not held:\n" + d.output())
    for s in idle + [claim, newer]:
        s.close()

    # the DTU closes its connection and dials again: in at once, though the next poll is a minute away
    if len(re.findall(registered, d.output())) != 1:
        raise h.TestFailure("expected one registration so far:\n" + d.output())
    sim.cmd("dtu reconnect")
    h.wait_until("the redial registered", lambda: len(re.findall(registered, d.output())) == 2, 5)
    if re.search(r"DTU %s: new connection from .* replaces" % IMEI, d.output()):
        raise h.TestFailure("a DTU's own redial after closing was taken for a takeover:\n" + d.output())
    if "the connection from 127.0.0.1:" not in d.output() or "was closed by the DTU" not in d.output():
        raise h.TestFailure("the closed connection was not logged:\n" + d.output())

    if not d.running():
        raise h.TestFailure("daemon died:\n" + d.output())
    if d.stop() != 0:
        raise h.TestFailure("daemon exited %s" % d.proc.returncode)


sys.exit(h.run(test))
