"""The window of readings at risk before a group commit, measured: readings are committed to
the store every commit_ms (or every `batch` rows, whichever comes first), so a SIGKILL or a
power cut loses the readings polled since the last commit. For several commit_ms, the daemon is
killed at random moments and the polls the simulator answered are compared with the readings
the store kept.

`batch` counts SQLite rows, not readings: a reading is its outbox row plus one row per point
(10 rows for the level profile used here), so batch 1000 forces a commit every 100 readings.

Checks: the store never holds a reading the simulator did not serve (lost >= 0), and with a
small batch the loss stays within it: batch / rows per reading, plus one request in flight per
device. The figures are printed for docs/testing.md."""

import os
import random
import signal
import statistics
import sys
import time

import harness as h

DEVICES = 4
POLL_MS = 50
SMALL_BATCH = 200
KILLS = int(os.environ.get("FAULT_WINDOW_KILLS", "6"))
SEED = int(os.environ.get("FAULT_SEED", str(int(time.time()))))


def readings(db):
    return h.scalar(db, "SELECT count(*) FROM outbox WHERE kind = 1") or 0


def served(sim):
    return sum(sim.stats().values())


def test(started):
    rnd = random.Random(SEED)
    work = h.Workdir("fault-window")
    # The level profile's six registers are one read: one reply per poll
    scen = h.scenario(work, [{"unit": u, "driver": "level/ultrasonic-generic",
                              "values": {"decimals": 2, "level": 0.25 * u}} for u in range(1, DEVICES + 1)])
    sim = h.Sim(work, scen, tcp=True)
    started.append(sim)
    bus = {"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": sim.tcp_port, "timeout_ms": 500,
           "devices": [{"id": "manhole-%d" % u, "unit": u, "driver": "level/ultrasonic-generic", "poll_ms": POLL_MS}
                       for u in range(1, DEVICES + 1)]}
    cfg = h.base_config(work, [bus])
    db = cfg["store"]["path"]

    # A clean stop commits everything: every reply served is a reading stored
    s0, r0 = served(sim), readings(db)
    d = h.Daemon(work, cfg, name="clean")
    started.append(d)
    h.wait_until("100 readings", lambda: readings(db) >= 100)
    if d.stop() != 0:
        raise h.TestFailure("daemon exited %s on SIGTERM" % d.proc.returncode)
    started.remove(d)
    s1, r1 = served(sim), readings(db)
    if abs((s1 - s0) - (r1 - r0)) > DEVICES:
        raise h.TestFailure("clean stop: %d replies served, %d readings stored" % (s1 - s0, r1 - r0))

    rate = DEVICES * 1000.0 / POLL_MS
    per_reading = 1 + (h.scalar(db, "SELECT count(*) FROM readings") or 0) // max(r1, 1)
    print("%d devices polled every %d ms (%.0f readings/s), %d rows a reading, seed %d" %
          (DEVICES, POLL_MS, rate, per_reading, SEED))
    print("commit_ms   batch  kills  lost min/mean/max  served/s  expected mean (served/s x commit_ms / 2)")
    for commit_ms, batch in ((50, 100000), (250, 100000), (1000, 100000), (1000, SMALL_BATCH)):
        cfg["store"]["commit_ms"] = commit_ms
        cfg["store"]["batch"] = batch
        bound = batch // per_reading + 1 + DEVICES
        losses, rates = [], []
        for k in range(KILLS):
            s0, r0 = served(sim), readings(db)
            d = h.Daemon(work, cfg, name="c%d-%d" % (commit_ms, k))
            started.append(d)
            h.wait_until("a first commit", lambda: readings(db) > r0, 30)
            t_first = time.monotonic()
            s_first = served(sim)
            time.sleep(rnd.uniform(0.2, 0.2 + 2.0 * commit_ms / 1000.0))  # the fault's moment
            rates.append((served(sim) - s_first) / (time.monotonic() - t_first))
            d.proc.send_signal(signal.SIGKILL)
            d.proc.wait(10)
            d.log.close()
            started.remove(d)
            lost = (served(sim) - s0) - (readings(db) - r0)
            if lost < 0:
                raise h.TestFailure("commit_ms %d: the store holds %d readings more than were served" %
                                    (commit_ms, -lost))
            if lost > bound:
                raise h.TestFailure("commit_ms %d: %d readings lost, more than batch %d rows (%d readings) allows" %
                                    (commit_ms, lost, batch, bound))
            losses.append(lost)
        r = statistics.mean(rates)
        print("%9d  %6d  %5d  %4d / %5.1f / %4d  %8.1f  %.1f" % (commit_ms, batch, KILLS, min(losses),
                                                                 statistics.mean(losses), max(losses), r,
                                                                 r * commit_ms / 1000.0 / 2))


sys.exit(h.run(test))
