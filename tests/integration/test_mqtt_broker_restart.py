"""The broker is stopped mid-stream while the daemon keeps polling, then started again: the
subscriber (a persistent session, so the broker keeps its messages while it is down too) ends
with every reading's seq, in order per device, and the store shows every row sent: the readings
polled while it was away were written, those acknowledged in time never were."""

import json
import sys

import harness as h

PREFIX = "caretaker/hongmei/gw-test"


def scenario(work):
    path = work.file("scenario.json")
    with open(path, "w") as f:
        json.dump({"devices": [
            {"unit": 1, "driver": "level/ultrasonic-generic", "values": {"decimals": 3, "level": 1.234}},
            {"unit": 2, "driver": "flow/electromagnetic-generic", "values": {"flow": 12.5}},
        ]}, f)
    return path


def handed_out(db):
    """(seq, None) of every reading handed out: every seq up to the last but the other rows'."""
    others = {s for (s,) in h.query(db, "SELECT seq FROM outbox WHERE kind <> 1")}
    top = h.scalar(db, "SELECT value FROM meta WHERE key = 'last_seq'")
    return [(s, None) for s in range(1, top + 1) if s not in others]


def check_stream(sub, db):
    """Every reading the daemon handed out reached the subscriber (after a clean stop, every seq up
    to the last is a reading or a row of another kind in the store; readings acknowledged in time
    were never written); per device, first arrivals ascend."""
    stored = handed_out(db)
    got = sub.received("/readings")
    seen, order = set(), {}
    for topic, m, _ in got:
        if m["gateway"] != "gw-test" or m["v"] != 1:
            raise h.TestFailure("unexpected payload %r" % m)
        if not topic.endswith("/devices/%s/readings" % m["device"]):
            raise h.TestFailure("seq %d of %s on topic %s" % (m["seq"], m["device"], topic))
        if m["seq"] in seen:
            continue  # a duplicate of a message in flight at the outage: dropped by (gateway, seq)
        seen.add(m["seq"])
        order.setdefault(m["device"], []).append(m["seq"])
    missing = [s for s, _ in stored if s not in seen]
    if missing:
        raise h.TestFailure("%d of %d stored readings never arrived, first %r" % (len(missing), len(stored),
                                                                                  missing[:10]))
    for dev, seqs in order.items():
        if seqs != sorted(seqs):
            bad = next(i for i in range(1, len(seqs)) if seqs[i] < seqs[i - 1])
            raise h.TestFailure("%s: seq %d arrived after %d" % (dev, seqs[bad], seqs[bad - 1]))
    return len(stored), len(got) - len(seen)


def test(started):
    work = h.Workdir("mqtt-restart")
    sim, broker, sub = h.stack(started, work, scenario(work), PREFIX + "/devices/#", broker=dict(persistence=True),
                               subscriber=dict(client_id="o-and-m", clean=False))
    # Readings are the traffic under test: every poll published in full (report_max_s 0).
    bus = {"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": sim.tcp_port, "timeout_ms": 500,
           "devices": [
               {"id": "manhole-3", "unit": 1, "driver": "level/ultrasonic-generic", "poll_ms": 50, "report_max_s": 0},
               {"id": "flow-main", "unit": 2, "driver": "flow/electromagnetic-generic", "poll_ms": 50,
                "report_max_s": 0},
           ]}
    cfg = h.base_config(work, [bus], mqtt=broker.mqtt(qos=1, keepalive_s=5, inflight=20))
    db = cfg["store"]["path"]
    d = h.Daemon(work, cfg)
    started.append(d)

    h.wait_until("20 readings live", lambda: len(sub.received("/readings")) >= 20)

    # The broker goes away: polling goes on, the backlog grows in the store
    broker.stop()
    h.wait_until("the daemon to see the broker gone", lambda: "connection to 127.0.0.1" in d.output())
    unsent = lambda: h.scalar(db, "SELECT count(*) FROM outbox WHERE sent = 0") or 0
    h.wait_until("a backlog of 60 rows", lambda: unsent() >= 60)
    backlog_from = h.scalar(db, "SELECT min(seq) FROM outbox WHERE sent = 0")

    # Back again: the backlog is replayed oldest first while live readings continue
    backlog_to = h.scalar(db, "SELECT max(seq) FROM outbox")
    broker.start()
    h.wait_until("the backlog drained", lambda: h.scalar(db, "SELECT count(*) FROM outbox WHERE sent = 0 "
                                                             "AND seq <= ?", (backlog_to,)) == 0, 60)
    h.wait_until("live readings after the backlog",
                 lambda: len([1 for _, m, _ in sub.received("/readings") if m["seq"] > backlog_to]) >= 20)
    if d.stop() != 0:
        raise h.TestFailure("daemon exited %s on SIGTERM:\n%s" % (d.proc.returncode, open(d.log_path).read()))
    if unsent() != 0:
        raise h.TestFailure("%d rows unsent after a clean stop with the broker up" % unsent())
    handed = {s for s, _ in handed_out(db)}
    h.wait_until("every reading handed out at the subscriber",
                 lambda: handed <= {m["seq"] for _, m, _ in sub.received("/readings")}, 30)
    n, dups = check_stream(sub, db)
    print("%d readings, %d duplicates, backlog replayed from seq %d" % (n, dups, backlog_from))

    # The retained state of each device is there for a late subscriber
    late = h.Subscriber(broker.port, PREFIX + "/devices/+/state", name="late subscriber")
    started.append(late)
    h.wait_until("retained device states", lambda: len(late.received()) >= 2)
    states = {m["device"]: m for _, m, retained in late.received() if retained}
    if set(states) != {"manhole-3", "flow-main"} or any(s["state"] != "online" for s in states.values()):
        raise h.TestFailure("retained states: %r" % states)


sys.exit(h.run(test))
