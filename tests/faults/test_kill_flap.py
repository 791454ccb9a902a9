"""SIGKILL at random moments under load while the broker flaps: the daemon is killed
FAULT_KILLS times (100 by default, about a minute; FAULT_KILLS=20 for a quick run), each time
after it has made progress and at a random moment after that, while the broker is stopped and started at
random moments too. At the end, with the broker up, one last daemon drains the outbox.

Checks: the store's seqs have no gap (a seq lost in a crash is handed out again, so the
committed ones are contiguous); every stored row reached the subscriber; nothing reached the
subscriber that the store does not hold under that seq with the same timestamp (only committed
rows leave the box); a seq delivered twice is the same message twice."""

import json
import os
import random
import signal
import sys
import time

import harness as h

PREFIX = "caretaker/hongmei/gw-test"
KILLS = int(os.environ.get("FAULT_KILLS", "100"))
SEED = int(os.environ.get("FAULT_SEED", "1795430804"))  # fixed: every run the same moments unless told


def scenario(work):
    path = work.file("scenario.json")
    with open(path, "w") as f:
        json.dump({"devices": [
            {"unit": 1, "driver": "level/ultrasonic-generic", "values": {"decimals": 3, "level": 1.0},
             "waves": {"level": {"base": 1.0, "amplitude": 0.4, "period_s": 3}}},
            {"unit": 2, "driver": "flow/electromagnetic-generic", "values": {"flow": 12.5},
             "waves": {"flow": {"base": 12.5, "amplitude": 2.5, "period_s": 2}}},
            {"unit": 3, "driver": "level/ultrasonic-generic", "values": {"decimals": 2, "level": 0.5},
             "waves": {"level": {"base": 0.5, "amplitude": 0.2, "period_s": 5}}},
        ] + [{"unit": u, "driver": "flow/electromagnetic-generic", "values": {"flow": float(u)},
              "waves": {"flow": {"base": float(u), "amplitude": 1.0, "period_s": u}}} for u in range(4, 9)]}, f)
    return path


def delivered(sub):
    """seq -> payloads as received (outbox topics only: status carries no seq)."""
    out = {}
    for topic, m, _ in sub.received():
        if h.outbox_topic(topic) and m.get("seq"):
            out.setdefault(m["seq"], []).append(m)
    return out


def test(started):
    rnd = random.Random(SEED)
    day_at_start = h.local_day(h.now_ms())
    print("%d kills, seed %d (FAULT_SEED=%d reproduces the moments)" % (KILLS, SEED, SEED))
    work = h.Workdir("fault-kill")
    sim, broker, sub = h.stack(started, work, scenario(work), PREFIX + "/#", broker=dict(persistence=True),
                               subscriber=dict(client_id="o-and-m", clean=False))
    bus = {"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": sim.tcp_port, "timeout_ms": 500,
           "devices": [
               {"id": "manhole-3", "unit": 1, "driver": "level/ultrasonic-generic", "poll_ms": 50},
               {"id": "flow-main", "unit": 2, "driver": "flow/electromagnetic-generic", "poll_ms": 50},
               {"id": "manhole-7", "unit": 3, "driver": "level/ultrasonic-generic", "poll_ms": 50},
           ] + [{"id": "flow-%d" % u, "unit": u, "driver": "flow/electromagnetic-generic", "poll_ms": 50}
                for u in range(4, 9)]}
    cfg = h.base_config(work, [bus], mqtt=broker.mqtt(qos=1, keepalive_s=5, inflight=50))
    cfg["store"]["commit_ms"] = 100
    db = cfg["store"]["path"]
    broker_up = True
    flaps = 0
    t0 = time.monotonic()
    for i in range(KILLS):
        before = h.scalar(db, "SELECT max(seq) FROM outbox") or 0
        d = h.Daemon(work, cfg, name="run%03d" % i)
        started.append(d)
        # Progress first (a kill before the first commit tests nothing), then a random moment
        h.wait_until("run %d to commit new rows" % i,
                     lambda: (h.scalar(db, "SELECT max(seq) FROM outbox") or 0) > before, 30)
        if rnd.random() < 0.5:
            if broker_up:
                broker.stop()
            else:
                broker.start()
            broker_up = not broker_up
            flaps += 1
        time.sleep(rnd.uniform(0.0, 0.5))  # the fault's timing, not a synchronisation
        if not d.running():
            raise h.TestFailure("run %d died on its own:\n%s" % (i, d.output()[-3000:]))
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait(10)
        d.log.close()
        started.remove(d)
    if not broker_up:
        broker.start()
    last = h.Daemon(work, cfg, name="final")
    started.append(last)
    top = h.scalar(db, "SELECT max(seq) FROM outbox") or 0
    h.wait_until("the backlog drained and 50 live rows sent",
                 lambda: h.scalar(db, "SELECT count(*) FROM outbox WHERE sent = 0 AND seq <= ?", (top,)) == 0 and
                 (h.scalar(db, "SELECT count(*) FROM outbox WHERE sent = 1 AND seq > ?", (top,)) or 0) >= 50, 120)
    if h.local_day(h.now_ms()) != day_at_start:  # across a local midnight (CARETAKER_TEST_CLOCK)
        h.wait_until("the daily reports of the day that ended",
                     lambda: h.scalar(db, "SELECT count(*) FROM outbox WHERE kind = 5 AND sent = 1"), 30)
    if last.stop() != 0:
        raise h.TestFailure("the final daemon exited %s on SIGTERM" % last.proc.returncode)

    stored = {seq: ts for seq, ts in h.query(db, "SELECT seq, ts FROM outbox")}
    lo, hi = min(stored), max(stored)
    gaps = sorted(set(range(lo, hi + 1)) - set(stored))
    if gaps:
        raise h.TestFailure("%d gaps in the store's seqs, first %r" % (len(gaps), gaps[:10]))
    h.wait_until("every stored row at the subscriber", lambda: set(stored) <= set(delivered(sub)), 60)
    got = delivered(sub)
    dups = 0
    for seq, msgs in got.items():
        if seq not in stored:
            raise h.TestFailure("seq %d reached the subscriber but is not in the store" % seq)
        for m in msgs:
            if m["ts"] != stored[seq]:
                raise h.TestFailure("seq %d delivered with ts %d, the store has %d" % (seq, m["ts"], stored[seq]))
            if m != msgs[0]:
                raise h.TestFailure("seq %d delivered twice with different data:\n%r\n%r" % (seq, msgs[0], m))
        dups += len(msgs) - 1
    readings = h.scalar(db, "SELECT count(*) FROM outbox WHERE kind = 1")
    reports = h.scalar(db, "SELECT count(*) FROM outbox WHERE kind = 5")
    print("%d kills, %d broker flaps in %.0f s: %d rows (%d readings, %d daily reports), seqs %d..%d without a gap, "
          "all delivered, %d duplicate deliveries%s" %
          (KILLS, flaps, time.monotonic() - t0, len(stored), readings, reports, lo, hi, dups,
           ", across a local midnight" if h.local_day(h.now_ms()) != day_at_start else ""))


sys.exit(h.run(test))
