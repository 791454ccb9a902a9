"""The window of readings at risk before a group commit, measured: readings are committed to
the store every commit_ms (or every `batch` rows, whichever comes first), so a SIGKILL or a
power cut loses the readings polled since the last commit. For several commit_ms, the daemon is
killed at random moments and the polls the simulator answered are compared with the readings
the store kept.

`batch` counts SQLite rows, not readings: a reading is its outbox row plus one row per point
(10 rows for the level profile used here), so batch 1000 forces a commit every 100 readings.

Checks: the store never holds a reading the simulator did not serve (lost >= 0), and the loss
stays within what the config allows, counted from the config, never from a clock: the readings
polled in one commit_ms at the configured rate (devices x 1000 / poll_ms a second) plus a quarter
of that, or with a small batch the batch's readings (batch / rows per reading) plus one, whichever
is less, plus two requests in flight per device. A daemon that ignored commit_ms (committing only
by batch, or at another interval than asked) or ignored batch would lose more. The figures are
printed for docs/testing.md."""

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
SEED = int(os.environ.get("FAULT_SEED", "6"))  # fixed: every run the same moments unless told


def readings(db):
    return h.scalar(db, "SELECT count(*) FROM outbox WHERE kind = 1") or 0


def served(sim):
    return sum(sim.stats().values())


def allowed_loss(commit_ms, batch, per_reading):
    """Most readings a kill may cost: one commit interval's readings at the configured rate and a
    quarter more (a commit is a little late under load), or the batch's, and those in flight."""
    per_interval = DEVICES * commit_ms // POLL_MS
    return min(per_interval + (per_interval + 3) // 4, batch // per_reading + 1) + 2 * DEVICES


def test(started):
    rnd = random.Random(SEED)
    work = h.Workdir("fault-window")
    # The level profile's six registers are one read: one reply per poll
    scen = h.scenario(work, [{"unit": u, "driver": "level/ultrasonic-generic",
                              "values": {"decimals": 2, "level": 0.25 * u}} for u in range(1, DEVICES + 1)])
    sim = h.Sim(work, scen, tcp=True)
    started.append(sim)
    bus = {"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": sim.tcp_port, "timeout_ms": 500,
           # Readings count polls here: every poll stored and published in full (report_max_s 0).
           "devices": [{"id": "manhole-%d" % u, "unit": u, "driver": "level/ultrasonic-generic", "poll_ms": POLL_MS,
                        "report_max_s": 0}
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
    print("commit_ms   batch  kills  lost min/mean/max  allowed  served/s  expected mean (served/s x commit_ms / 2)")
    for commit_ms, batch in ((50, 100000), (250, 100000), (1000, 100000), (1000, SMALL_BATCH)):
        cfg["store"]["commit_ms"] = commit_ms
        cfg["store"]["batch"] = batch
        bound = allowed_loss(commit_ms, batch, per_reading)
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
                raise h.TestFailure("commit_ms %d, batch %d: %d readings lost, more than the %d the config allows" %
                                    (commit_ms, batch, lost, bound))
            losses.append(lost)
        r = statistics.mean(rates)
        print("%9d  %6d  %5d  %4d / %5.1f / %4d  %7d  %8.1f  %.1f" % (commit_ms, batch, KILLS, min(losses),
                                                                      statistics.mean(losses), max(losses), bound, r,
                                                                      r * commit_ms / 1000.0 / 2))


sys.exit(h.run(test))
