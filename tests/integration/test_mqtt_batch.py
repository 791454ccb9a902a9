"""Contract v2 readings end to end (simulator, daemon, mosquitto): four meters polled every
100 ms share messages on <prefix>/v2/readings — far fewer messages than readings, every seq
exactly once, each device's seqs ascending; an alert raised while its reading waits in a batch
reaches the subscriber before that batch; after the broker is away for a while the backlog
comes back in large batches, none missing. Counts and arrival order, never clocks."""

import json
import sys

import harness as h

PREFIX = "caretaker/hongmei/gw-test"
UNITS = {"pit-1": 1, "pit-2": 2, "pit-3": 3, "pit-4": 4}


def check(cond, what, *shown):
    if not cond:
        raise h.TestFailure(what + (": " + " ".join(json.dumps(x, ensure_ascii=False)[:600] for x in shown)
                                    if shown else ""))


def batches(sub):
    """(arrival index, message) of every v2 readings message so far."""
    return [(i, m) for i, (t, m, _) in enumerate(sub.received()) if t == PREFIX + "/v2/readings"]


def readings(msg):
    """(device, reading) of a v2 message, in the message's order; each reading's values checked
    against its group's points."""
    out = []
    for g in msg["devices"]:
        for r in g["readings"]:
            check(len(r["values"]) == len(g["points"]), "values and points of one length", g)
            out.append((g["device"], r))
    return out


def arrivals(sub):
    """seq → (device, arrival index of the first message that carried it); and the number of
    readings received in all, duplicates included."""
    seen, total = {}, 0
    for i, m in batches(sub):
        check(m["v"] == 2 and m["gateway"] == "gw-test", "a v2 head", m)
        for dev, r in readings(m):
            total += 1
            seen.setdefault(r["seq"], (dev, i))
    return seen, total


def check_stream(sub, db, upto=None):
    """Every stored reading (to seq upto) arrived; per device in ascending seq order."""
    stored = h.query(db, "SELECT o.seq, d.name FROM outbox o JOIN devices d ON d.id = o.device_id "
                         "WHERE o.kind = 1 AND o.seq <= ? ORDER BY o.seq", (upto or 1 << 62,))
    seen, _ = arrivals(sub)
    missing = [s for s, _ in stored if s not in seen]
    check(not missing, "%d of %d stored readings never arrived" % (len(missing), len(stored)), missing[:10])
    wrong = [(s, dev, seen[s][0]) for s, dev in stored if seen[s][0] != dev]
    check(not wrong, "readings under another device", wrong[:5])
    order = {}
    for i, m in batches(sub):
        for dev, r in readings(m):
            order.setdefault(dev, []).append(r["seq"])
    for dev, seqs in order.items():
        firsts = [s for k, s in enumerate(seqs) if s not in seqs[:k]]
        check(firsts == sorted(firsts), dev + ": seqs out of order", firsts)
    return len(stored)


def test(started):
    work = h.Workdir("mqtt-batch")
    devices = [{"unit": u, "driver": "level/ultrasonic-generic",
                "values": {"decimals": 2, "level": 0.3, "distance": 2.2, "temperature": 18.5}}
               for u in UNITS.values()]
    sim, broker, sub = h.stack(started, work, h.scenario(work, devices), PREFIX + "/#",
                               broker=dict(persistence=True), subscriber=dict(client_id="o-and-m", clean=False))
    bus = {"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": sim.tcp_port, "timeout_ms": 300,
           "devices": [{"id": d, "unit": u, "driver": "level/ultrasonic-generic", "poll_ms": 100,
                        "params": {"pipe_d_m": 3.0}, "report_max_s": 0} for d, u in UNITS.items()]}
    cfg = h.base_config(work, [bus], mqtt=broker.mqtt(payload="v2", batch_ms=1500, keepalive_s=5))
    db = cfg["store"]["path"]
    d = h.Daemon(work, cfg)
    started.append(d)

    # Live: several devices and several polls in each message.
    h.wait_until("four v2 messages", lambda: len(batches(sub)) >= 4, 30)
    check(not sub.received("/readings") or all(t.endswith("/v2/readings") for t, _, _ in sub.received("/readings")),
          "no v1 readings topic in v2", [t for t, _, _ in sub.received("/readings")][:3])
    multi = [m for _, m in batches(sub) if len(m["devices"]) > 1 and len(readings(m)) > len(m["devices"])]
    check(multi, "a message with several devices and several polls of one", [m for _, m in batches(sub)][:2])

    # An alert raised while its reading waits in the batch is not held behind it.
    sim.cmd("set 1 level 1.3")
    alert_at, alert = h.wait_until("high level raised", lambda: next(
        ((i, m) for i, (t, m, _) in enumerate(sub.received())
         if t == PREFIX + "/alerts" and m["device"] == "pit-1" and m["event"] == "raised"), None), 20)
    check(alert["v"] == 1, "alerts keep their v1 body", alert)

    def trigger():
        """The seq of pit-1's reading taken when the alert was raised (its ts is the alert's)."""
        return next((r["seq"] for _, m in batches(sub) for dev, r in readings(m)
                     if dev == "pit-1" and r["ts"] == alert["ts"]), None)

    seq = h.wait_until("the reading that raised it", trigger, 10)
    carried = arrivals(sub)[0][seq]
    check(carried[1] > alert_at, "the alert (message %d) arrived after the batch holding its reading seq %d "
          "(message %d)" % (alert_at, seq, carried[1]))

    # The broker away: the backlog grows; back: it drains in few large messages.
    broker.stop()
    h.wait_until("the daemon to see the broker gone", lambda: "connection to 127.0.0.1" in d.output())
    unsent = lambda: h.scalar(db, "SELECT count(*) FROM outbox WHERE sent = 0 AND kind = 1") or 0
    h.wait_until("a backlog of 200 readings", lambda: unsent() >= 200, 30)
    before = len(batches(sub))
    backlog_to = h.scalar(db, "SELECT max(seq) FROM outbox")
    backlog_rows = h.scalar(db, "SELECT count(*) FROM outbox WHERE sent = 0 AND kind = 1 AND seq <= ?",
                            (backlog_to,))
    backlog_from = h.scalar(db, "SELECT min(seq) FROM outbox WHERE sent = 0 AND kind = 1")
    broker.start()
    h.wait_until("the backlog drained", lambda: h.scalar(db, "SELECT count(*) FROM outbox WHERE sent = 0 "
                                                             "AND seq <= ?", (backlog_to,)) == 0, 60)
    h.wait_until("the backlog at the subscriber", lambda: all(
        s in arrivals(sub)[0] for (s,) in h.query(db, "SELECT seq FROM outbox WHERE kind = 1 AND seq BETWEEN ? AND ?",
                                                  (backlog_from, backlog_to))), 30)
    carrying = {arrivals(sub)[0][s][1] for (s,) in h.query(
        db, "SELECT seq FROM outbox WHERE kind = 1 AND seq BETWEEN ? AND ?", (backlog_from, backlog_to))}
    check(len(carrying) < backlog_rows / 10, "%d backlog readings came in %d messages" % (backlog_rows, len(carrying)))

    if d.stop() != 0:
        raise h.TestFailure("daemon exited %s on SIGTERM:\n%s" % (d.proc.returncode, d.output()))
    check(unsent() == 0, "rows unsent after a clean stop with the broker up", unsent())
    total = h.scalar(db, "SELECT count(*) FROM outbox WHERE kind = 1")
    h.wait_until("every stored reading at the subscriber", lambda: len(arrivals(sub)[0]) >= total, 30)
    n = check_stream(sub, db)
    seen, received = arrivals(sub)
    messages = len(batches(sub))
    check(messages < n / 5, "%d readings in %d messages" % (n, messages))
    print("%d readings in %d messages (%d after the outage began; backlog of %d in %d), %d duplicates" %
          (n, messages, messages - before, backlog_rows, len(carrying), received - len(seen)))


sys.exit(h.run(test))
