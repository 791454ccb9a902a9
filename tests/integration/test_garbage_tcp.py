"""Garbage over Modbus TCP: a meter behind a TCP gateway answers, in turn, random bytes, a reply
with a wrong transaction id, a reply from the wrong unit id, and a reply with the wrong function
code. None of them may be stored as its values — in particular the reply from another unit,
which is well formed in every other way (libmodbus does not check the unit of a TCP reply; the
gateway's own transport must). The neighbour on the same endpoint keeps flowing, the failures
are logged at a limited rate, and the meter comes back once it answers properly."""

import sys

import harness as h


def test(started):
    work = h.Workdir("garbage-tcp")
    scen = h.scenario(work, [
        {"unit": 1, "driver": "level/ultrasonic-generic", "values": {"decimals": 2, "level": 0.33}},
        {"unit": 2, "driver": "level/ultrasonic-generic", "values": {"decimals": 2, "level": 0.44},
         "behave": "garbage"},
    ])
    sim = h.Sim(work, scen, tcp=True)
    started.append(sim)
    bus = {"id": "gw-tcp", "type": "tcp", "host": "127.0.0.1", "port": sim.tcp_port, "timeout_ms": 200,
           "retries": 1, "offline_after": 100,
           "devices": [
               {"id": "good", "unit": 1, "driver": "level/ultrasonic-generic", "poll_ms": 50},
               {"id": "noisy", "unit": 2, "driver": "level/ultrasonic-generic", "poll_ms": 50},
           ]}
    cfg = h.base_config(work, [bus])
    db = cfg["store"]["path"]
    d = h.Daemon(work, cfg)
    started.append(d)
    # 100 requests: 25 rounds of the four kinds of garbage, 25 of them from the wrong unit
    h.wait_until("the noisy meter to get 100 requests", lambda: sim.stats().get(2, 0) >= 100, timeout=60)
    if not d.running():
        raise h.TestFailure("daemon died:\n" + d.output())
    noisy = h.query(db, "SELECT count(*) FROM reading_values WHERE device = 'noisy' AND value IS NOT NULL")[0][0]
    if noisy:
        raise h.TestFailure("%d values stored from garbage replies (a reply from the wrong unit taken?)" % noisy)
    h.wait_until("the good meter's level", lambda: h.latest(db, "good", "level") == (0.33, 0))
    out = d.output()
    lines = [l for l in out.splitlines() if "noisy" in l and "bad reply" in l]
    if not lines:
        raise h.TestFailure("garbage replies were not logged:\n" + out)
    if len(lines) > 5:
        raise h.TestFailure("%d log lines for one repeating failure: not rate-limited" % len(lines))
    if not all(l.startswith("<4>bus gw-tcp: noisy (unit 2): ") for l in lines):
        raise h.TestFailure("log lines do not start with module and device:\n" + "\n".join(lines))
    sim.cmd("behave 2 ok")
    h.wait_until("the noisy meter's real value", lambda: h.latest(db, "noisy", "level") == (0.44, 0))
    if d.stop() != 0:
        raise h.TestFailure("daemon exited %s" % d.proc.returncode)


sys.exit(h.run(test))
