"""A dead meter on a shared RTU line costs the line a bounded number of requests: after it goes
offline it is probed once per back-off window, and the healthy meter keeps its schedule.
Asserted by counting requests on the line, not by wall time."""

import sys

import harness as h

POLL_MS = 100
BACKOFF_MAX_MS = 1000
OFFLINE_AFTER = 2
RETRIES = 1


def test(started):
    work = h.Workdir("dead")
    line = h.PtyPair(work)
    started.append(line)
    scen = h.scenario(work, [
        {"unit": 1, "driver": "level/ultrasonic-generic", "values": {"decimals": 2, "level": 0.5}},
        {"unit": 2, "driver": "level/ultrasonic-generic", "values": {"decimals": 2, "level": 0.7},
         "behave": "silent"},
    ])
    sim = h.Sim(work, scen, rtu=line.a)
    started.append(sim)
    bus = {"id": "rs485-1", "type": "rtu", "port": line.b, "baud": 9600, "timeout_ms": 100,
           "retries": RETRIES, "offline_after": OFFLINE_AFTER, "backoff_max_ms": BACKOFF_MAX_MS,
           "devices": [
               {"id": "manhole-1", "unit": 1, "driver": "level/ultrasonic-generic", "poll_ms": POLL_MS},
               {"id": "manhole-2", "unit": 2, "driver": "level/ultrasonic-generic", "poll_ms": POLL_MS},
           ]}
    cfg = h.base_config(work, [bus])
    db = cfg["store"]["path"]
    d = h.Daemon(work, cfg)
    started.append(d)

    state = ("SELECT o.body FROM outbox o JOIN devices d ON d.id = o.device_id "
             "WHERE d.name = ? AND o.kind = 2 ORDER BY o.seq")
    h.wait_until("manhole-2 offline", lambda: any('"offline"' in r[0] for r in h.query(db, state, ("manhole-2",))))
    # Before going offline the dead meter had OFFLINE_AFTER cycles of (1 + RETRIES) requests.
    s0 = sim.stats()
    if s0.get(2, 0) > OFFLINE_AFTER * (1 + RETRIES) + 1:
        raise h.TestFailure("dead unit got %d requests before going offline, expected <= %d"
                            % (s0.get(2, 0), OFFLINE_AFTER * (1 + RETRIES) + 1))

    # Window: let the healthy meter make 60 more requests, one per cycle.
    h.wait_until("60 healthy polls", lambda: sim.stats().get(1, 0) - s0.get(1, 0) >= 60, timeout=60)
    s1 = sim.stats()
    healthy = s1.get(1, 0) - s0.get(1, 0)
    dead = s1.get(2, 0) - s0.get(2, 0)
    # Probes double from 1 s up to BACKOFF_MAX_MS: at most one per BACKOFF_MAX_MS / POLL_MS healthy
    # cycles, plus one at each edge of the window. Without the breaker it would be
    # (1 + RETRIES) requests per healthy poll: 120 here.
    bound = healthy * POLL_MS // BACKOFF_MAX_MS + 2
    if dead > bound:
        raise h.TestFailure("dead unit got %d requests while the healthy one got %d (bound %d)"
                            % (dead, healthy, bound))
    # The healthy meter never failed and never went offline
    if any('"offline"' in r[0] for r in h.query(db, state, ("manhole-1",))):
        raise h.TestFailure("the healthy meter went offline")
    bad = h.query(db, "SELECT count(*) FROM reading_values WHERE device = 'manhole-1' AND quality != 0")[0][0]
    if bad:
        raise h.TestFailure("the healthy meter has %d readings that are not ok" % bad)

    # The dead meter's series shows the gap as offline, without numbers
    gap = h.query(db, "SELECT count(*), count(value) FROM reading_values WHERE device = 'manhole-2' "
                      "AND point = 'level' AND quality = 2")[0]
    if gap[0] != 1 or gap[1] != 0:
        raise h.TestFailure("expected one offline marker without a value for manhole-2, got %r" % (gap,))

    # It comes back: the next probe finds it and polling resumes
    sim.cmd("behave 2 ok")
    h.wait_until("manhole-2 back online", lambda: '"online"' in (h.query(db, state, ("manhole-2",)) or [("",)])[-1][0],
                 timeout=30)
    h.wait_until("manhole-2 readings", lambda: h.latest(db, "manhole-2", "level") == (0.7, 0))
    if d.stop() != 0:
        raise h.TestFailure("daemon exited %s" % d.proc.returncode)


sys.exit(h.run(test))
