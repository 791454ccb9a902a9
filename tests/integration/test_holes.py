"""A meter without one register of its map: the merged read is split until the missing point is
found, that point is reported once by name, its neighbours keep flowing, and later cycles do not
repeat the failing read."""

import sys

import harness as h


def test(started):
    work = h.Workdir("holes")
    scen = h.scenario(work, [
        {"unit": 1, "driver": "level/ultrasonic-generic",
         "values": {"decimals": 2, "level": 0.64, "distance": 1.25, "echo_lost": 1},
         # This model has no temperature register (address 5)
         "holes": [{"table": "holding", "address": 5, "count": 1}]},
    ])
    sim = h.Sim(work, scen, tcp=True)
    started.append(sim)
    bus = {"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": sim.tcp_port, "max_gap": 10,
           # Readings count polls here: every poll published in full (report_max_s 0).
           "devices": [{"id": "manhole-5", "unit": 1, "driver": "level/ultrasonic-generic", "poll_ms": 50,
                        "report_max_s": 0}]}
    cfg = h.base_config(work, [bus])
    db = cfg["store"]["path"]
    d = h.Daemon(work, cfg)
    started.append(d)

    count_readings = "SELECT count(*) FROM outbox WHERE kind = 1"
    h.wait_until("20 readings", lambda: (h.scalar(db, count_readings) or 0) >= 20)
    for point, want in (("level", 0.64), ("distance", 1.25), ("echo_lost", 1)):
        got = h.latest(db, "manhole-5", point)
        if got != (want, 0):
            raise h.TestFailure("%s: stored %r, expected (%r, 0)" % (point, got, want))
    if h.latest(db, "manhole-5", "temperature") is not None:
        raise h.TestFailure("a reading was stored for the missing temperature point")
    events = h.query(db, "SELECT body FROM outbox WHERE kind = 3")
    if len(events) != 1 or '"temperature"' not in events[0][0]:
        raise h.TestFailure("expected exactly one missing-point event naming temperature, got %r" % events)
    if d.output().count('"temperature"') != 1:
        raise h.TestFailure("the missing point should be logged once:\n" + d.output())

    # Learned: each cycle now costs exactly the two reads that work (registers 0..3 and 4), and
    # no request is answered with an exception any more. Counted where the counts are exact: a
    # clean stop stores every reading polled, so over a whole run the requests beyond two a
    # reading are what learning cost (and at most a cycle cut short by the stop). A second,
    # longer run costs no more than the first (less if learning is kept): not learning would
    # cost a request or more a cycle, 40 and up over the extra 40 cycles.
    if d.stop() != 0:
        raise h.TestFailure("daemon exited %s" % d.proc.returncode)
    started.remove(d)
    first = overhead(sim, db, count_readings, 0, 0)

    s0, r0 = sim.stats()[1], h.scalar(db, count_readings)
    d = h.Daemon(work, cfg, name="caretaker-2")
    started.append(d)
    h.wait_until("60 readings", lambda: h.scalar(db, count_readings) >= r0 + 60)
    if d.stop() != 0:
        raise h.TestFailure("daemon exited %s" % d.proc.returncode)
    started.remove(d)
    second = overhead(sim, db, count_readings, s0, r0)
    if not second[0] <= first[0] + 2:
        raise h.TestFailure("run 1: %d requests for %d readings; run 2: %d for %d: each later cycle costs more "
                            "than the two reads that work" % (first[1], first[2], second[1], second[2]))
    print("requests beyond two a reading: %d over %d readings, then %d over %d" %
          (first[0], first[2], second[0], second[2]))


def overhead(sim, db, count_readings, s0, r0):
    """(requests - 2 x readings, requests, readings) of a run stopped cleanly."""
    requests, readings = sim.stats()[1] - s0, h.scalar(db, count_readings) - r0
    return requests - 2 * readings, requests, readings


sys.exit(h.run(test))
