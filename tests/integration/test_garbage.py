"""A meter answering garbage (random bytes, bad CRC, wrong unit, wrong function, truncated
frames) on a shared RS-485 line never crashes the daemon and never stores garbage; the failures
are logged at a limited rate, and its neighbour on the same line keeps flowing."""

import sys

import harness as h


def test(started):
    work = h.Workdir("garbage")
    scen = h.scenario(work, [
        {"unit": 1, "driver": "level/ultrasonic-generic", "values": {"decimals": 2, "level": 0.33}},
        {"unit": 2, "driver": "level/ultrasonic-generic", "values": {"decimals": 2, "level": 0.44},
         "behave": "garbage"},
    ])
    line = h.PtyPair(work)
    started.append(line)
    sim = h.Sim(work, scen, rtu=line.a)
    started.append(sim)
    bus = {"id": "rs485-1", "type": "rtu", "port": line.b, "baud": 9600, "timeout_ms": 200,
           "retries": 1, "offline_after": 100,
           "devices": [
               {"id": "good", "unit": 1, "driver": "level/ultrasonic-generic", "poll_ms": 50},
               {"id": "noisy", "unit": 2, "driver": "level/ultrasonic-generic", "poll_ms": 50},
           ]}
    cfg = h.base_config(work, [bus])
    db = cfg["store"]["path"]
    d = h.Daemon(work, cfg)
    started.append(d)
    h.wait_until("the noisy meter to get 100 requests", lambda: sim.stats().get(2, 0) >= 100, timeout=60)
    sim.cmd("behave 2 truncate")
    s = sim.stats().get(2, 0)
    h.wait_until("10 truncated replies", lambda: sim.stats().get(2, 0) >= s + 10, timeout=60)
    if not d.running():
        raise h.TestFailure("daemon died:\n" + d.output())
    noisy = h.query(db, "SELECT count(*) FROM reading_values WHERE device = 'noisy' AND value IS NOT NULL")[0][0]
    if noisy:
        raise h.TestFailure("%d values stored from garbage replies" % noisy)
    if h.latest(db, "good", "level") != (0.33, 0):
        raise h.TestFailure("the good meter's level is %r" % (h.latest(db, "good", "level"),))
    out = d.output()
    lines = [l for l in out.splitlines() if "noisy" in l and ("bad reply" in l or "no valid reply" in l)]
    if not lines:
        raise h.TestFailure("garbage replies were not logged:\n" + out)
    if len(lines) > 5:
        raise h.TestFailure("%d log lines for one repeating failure: not rate-limited" % len(lines))
    # The noisy meter comes back to health once it answers properly
    sim.cmd("behave 2 ok")
    h.wait_until("the noisy meter's real value", lambda: h.latest(db, "noisy", "level") == (0.44, 0))
    if d.stop() != 0:
        raise h.TestFailure("daemon exited %s" % d.proc.returncode)


sys.exit(h.run(test))
