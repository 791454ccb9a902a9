"""The window of readings at risk, measured: a reading is held in memory until the broker
acknowledges it, and written to the store when it is not acknowledged within the at-risk window
(1 s, docs/store.md) — here there is no broker, so every reading is written, in one transaction
per window. A SIGKILL or a power cut loses the readings polled since the last such write. The
daemon is killed at random moments and the polls the simulator answered are compared with the
readings the store kept.

Checks: a clean stop keeps every reading polled; after a kill the store never holds a reading the
simulator did not serve (lost >= 0), and the loss stays within the window, counted from the
config, never from a clock: the readings polled in one window at the configured rate (devices x
1000 / poll_ms a second) plus a quarter of that, plus two requests in flight per device. Each
restart after a kill announces one seq_skipped range, and no stored reading lies in one. The
figures are printed for docs/testing.md."""

import os
import random
import signal
import statistics
import sys
import time

import harness as h

DEVICES = 4
POLL_MS = 50
AT_RISK_MS = 1000
KILLS = int(os.environ.get("FAULT_WINDOW_KILLS", "6"))
SEED = int(os.environ.get("FAULT_SEED", "6"))  # fixed: every run the same moments unless told


def readings(db):
    return h.scalar(db, "SELECT count(*) FROM outbox WHERE kind = 1") or 0


def served(sim):
    return sum(sim.stats().values())


def allowed_loss():
    """Most readings a kill may cost: one window's readings at the configured rate and a quarter
    more (a write is a little late under load), and those in flight."""
    per_window = DEVICES * AT_RISK_MS // POLL_MS
    return per_window + (per_window + 3) // 4 + 2 * DEVICES


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
    print("%d devices polled every %d ms (%.0f readings/s), seed %d" % (DEVICES, POLL_MS, rate, SEED))
    bound = allowed_loss()
    losses, rates = [], []
    for k in range(KILLS):
        s0, r0 = served(sim), readings(db)
        d = h.Daemon(work, cfg, name="kill-%d" % k)
        started.append(d)
        h.wait_until("a first write", lambda: readings(db) > r0, 30)
        t_first = time.monotonic()
        s_first = served(sim)
        time.sleep(rnd.uniform(0.2, 0.2 + 2.0 * AT_RISK_MS / 1000.0))  # the fault's moment
        rates.append((served(sim) - s_first) / (time.monotonic() - t_first))
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait(10)
        d.log.close()
        started.remove(d)
        lost = (served(sim) - s0) - (readings(db) - r0)
        if lost < 0:
            raise h.TestFailure("the store holds %d readings more than were served" % -lost)
        if lost > bound:
            raise h.TestFailure("%d readings lost, more than the %d of the at-risk window" % (lost, bound))
        losses.append(lost)
    # The next start tells each kill's range; nothing stored lies in one
    d = h.Daemon(work, cfg, name="after")
    started.append(d)
    skipped = "SELECT json_extract(body, '$.from'), json_extract(body, '$.to') FROM outbox WHERE kind = 3 " \
              "AND json_extract(body, '$.event') = 'seq_skipped'"
    h.wait_until("the last kill's seq_skipped event", lambda: len(h.query(db, skipped)) == KILLS)
    if d.stop() != 0:
        raise h.TestFailure("daemon exited %s on SIGTERM" % d.proc.returncode)
    started.remove(d)
    inside = h.scalar(db, "SELECT count(*) FROM outbox o WHERE o.kind = 1 AND EXISTS (SELECT 1 FROM outbox e "
                          "WHERE e.kind = 3 AND json_extract(e.body, '$.event') = 'seq_skipped' AND o.seq BETWEEN "
                          "json_extract(e.body, '$.from') AND json_extract(e.body, '$.to'))")
    if inside:
        raise h.TestFailure("%d stored readings lie in an announced seq_skipped range" % inside)
    r = statistics.mean(rates)
    print("window_ms  kills  lost min/mean/max  allowed  served/s  expected mean (served/s x window / 2)")
    print("%9d  %5d  %4d / %5.1f / %4d  %7d  %8.1f  %.1f" % (AT_RISK_MS, KILLS, min(losses), statistics.mean(losses),
                                                             max(losses), bound, r, r * AT_RISK_MS / 1000.0 / 2))


sys.exit(h.run(test))
