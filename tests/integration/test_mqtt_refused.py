"""A broker that refuses a topic (its ACL denies the gateway's readings) answers an MQTT 5
PUBACK with a failure reason: that is not a delivery. The rows stay unsent in the store, the
refusal is counted and logged, and once the broker allows the topic every one of them arrives."""

import sys

import harness as h

PREFIX = "caretaker/hongmei/gw-test"


def unsent_readings(db):
    return h.scalar(db, "SELECT count(*) FROM outbox WHERE kind = 1 AND sent = 0") or 0


def test(started):
    work = h.Workdir("refused")
    scen = h.scenario(work, [{"unit": 1, "driver": "level/ultrasonic-generic", "values": {"decimals": 2, "level": 0.5}}])
    acl = work.file("acl")
    with open(acl, "w") as f:
        # Anonymous clients (lines before any "user"): everything but the readings.
        f.write("topic readwrite %s/status\ntopic readwrite %s/metrics\ntopic readwrite %s/devices/+/state\n"
                "topic readwrite %s/cmd/#\n" % (PREFIX, PREFIX, PREFIX, PREFIX))
    sim, broker, _ = h.stack(started, work, scen, broker=dict(extra="acl_file %s" % acl))
    # Readings are the traffic the broker refuses: every poll published in full (report_max_s 0).
    bus = {"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": sim.tcp_port, "timeout_ms": 500,
           "devices": [{"id": "manhole-1", "unit": 1, "driver": "level/ultrasonic-generic", "poll_ms": 100,
                        "report_max_s": 0}]}
    cfg = h.base_config(work, [bus], mqtt=broker.mqtt(protocol="5"))
    db = cfg["store"]["path"]
    d = h.Daemon(work, cfg)
    started.append(d)

    h.wait_until("the broker's refusal logged", lambda: "the broker refused message seq" in d.output(), 30)
    h.wait_until("20 readings stored", lambda: (h.scalar(db, "SELECT count(*) FROM outbox WHERE kind = 1") or 0) >= 20)
    sent = h.scalar(db, "SELECT count(*) FROM outbox WHERE kind = 1 AND sent = 1")
    if sent:
        raise h.TestFailure("%d readings the broker refused were marked sent" % sent)
    refused_seqs = [r[0] for r in h.query(db, "SELECT seq FROM outbox WHERE kind = 1 ORDER BY seq")]

    # The broker now allows the readings: every refused row must arrive.
    broker.stop()
    with open(acl, "w") as f:
        f.write("topic readwrite #\n")
    broker.start()
    sub = h.Subscriber(broker.port, PREFIX + "/devices/+/readings", client_id="o-and-m", clean=False)
    started.append(sub)

    def arrived():
        return {p["seq"] for _, p, _ in sub.received("/readings")}

    h.wait_until("every refused reading delivered once the broker allows it",
                 lambda: set(refused_seqs) <= arrived(), 120)
    if "refused so far" not in d.output():
        raise h.TestFailure("the refusal count is not logged:\n" + d.output())


sys.exit(h.run(test))
