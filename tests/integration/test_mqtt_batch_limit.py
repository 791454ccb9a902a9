"""A broker that takes small packets (mosquitto max_packet_size 4096, announced to an MQTT 5
client in its CONNACK): v2 batches close at that size rather than at their time, none is
larger than the broker takes, none is refused, and every reading arrives."""

import sys

import harness as h

PREFIX = "caretaker/hongmei/gw-test"
MAX_PACKET = 4096
FRAMING = 16  # what the gateway keeps for the PUBLISH header, topic length, packet id, properties


def test(started):
    work = h.Workdir("mqtt-batch-limit")
    devices = [{"unit": u, "driver": "level/ultrasonic-generic",
                "values": {"decimals": 2, "level": 0.3, "distance": 2.2, "temperature": 18.5}} for u in (1, 2, 3)]
    sim, broker, sub = h.stack(started, work, h.scenario(work, devices), PREFIX + "/v2/readings",
                               broker=dict(extra="max_packet_size %d" % MAX_PACKET))
    bus = {"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": sim.tcp_port, "timeout_ms": 300,
           "devices": [{"id": "pit-%d" % u, "unit": u, "driver": "level/ultrasonic-generic", "poll_ms": 50,
                        "report_max_s": 0}
                       for u in (1, 2, 3)]}
    # A window far longer than the test: only the size can close a batch.
    cfg = h.base_config(work, [bus], mqtt=broker.mqtt(payload="v2", batch_ms=60000))
    db = cfg["store"]["path"]
    d = h.Daemon(work, cfg)
    started.append(d)

    h.wait_until("four v2 messages", lambda: len(sub.received()) >= 4, 40)
    topic_len = len(PREFIX + "/v2/readings")
    with sub.lock:
        sizes = [len(payload) for _, payload, _ in sub.messages]
    limit = MAX_PACKET - topic_len - FRAMING
    if max(sizes) > limit:
        raise h.TestFailure("a body of %d bytes, past the %d the broker's packet size leaves" % (max(sizes), limit))
    if min(sizes[:3]) < limit * 3 // 4:
        raise h.TestFailure("batches closed well below the size (%r of %d): by something else" % (sizes[:3], limit))
    seqs = sorted(r["seq"] for _, m, _ in sub.received() for g in m["devices"] for r in g["readings"])
    stored = [s for (s,) in h.query(db, "SELECT seq FROM outbox WHERE kind = 1 AND seq <= ? ORDER BY seq",
                                    (seqs[-1],))]
    missing = sorted(set(stored) - set(seqs))
    if missing:
        raise h.TestFailure("%d readings up to seq %d never arrived, first %r" % (len(missing), seqs[-1], missing[:5]))
    if "larger than the broker accepts" in d.output() or "refused" in d.output():
        raise h.TestFailure("a batch was refused:\n" + d.output()[-2000:])
    print("%d messages of %d to %d bytes (limit %d), %d readings" % (len(sizes), min(sizes), max(sizes), limit,
                                                                    len(seqs)))


sys.exit(h.run(test))
