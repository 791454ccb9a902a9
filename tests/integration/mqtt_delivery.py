"""mqtt_delivery: one run of the daemon publishing readings at a given MQTT protocol and QoS while
the broker (with persistence) is stopped and started again, seen by a persistent subscriber of
the same protocol; returns what the store and the subscriber hold, for the QoS tests to judge."""

import json
import threading

import harness as h

PREFIX = "caretaker/hongmei/gw-test"


class PersistentSubscriber:
    """paho-mqtt with a session the broker keeps while it is away: clean session false (3.1.1)
    or clean start false with a session expiry (5). Subscribes at `qos`; keeps every message."""

    def __init__(self, port, topic, protocol, qos, client_id):
        import paho.mqtt.client as mqtt
        from paho.mqtt.properties import Properties
        from paho.mqtt.packettypes import PacketTypes
        self.topic, self.qos = topic, qos
        self.lock = threading.Lock()
        self.messages = []  # (topic, payload bytes)
        self.subscribed = threading.Event()
        self.connects = 0
        props = None
        if protocol == "5":
            self.client = mqtt.Client(client_id=client_id, protocol=mqtt.MQTTv5)
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 600
            self.client.on_connect = lambda c, u, f, rc, p=None: self._on_connect(c, rc == 0)
            self.client.on_disconnect = lambda c, u, rc, p=None: self.subscribed.clear()
        else:
            self.client = mqtt.Client(client_id=client_id, clean_session=False, protocol=mqtt.MQTTv311)
            self.client.on_connect = lambda c, u, f, rc: self._on_connect(c, rc == 0)
            self.client.on_disconnect = lambda c, u, rc: self.subscribed.clear()
        self.client.on_subscribe = lambda c, u, mid, granted, p=None: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        if protocol == "5":
            self.client.connect("127.0.0.1", port, keepalive=30, clean_start=False, properties=props)
        else:
            self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()
        h.wait_until("the persistent subscriber subscribed", self.subscribed.is_set, 10)

    def _on_connect(self, client, ok):
        if ok:
            self.connects += 1
            # Subscribing again on a kept session only confirms it; the queue stays.
            client.subscribe(self.topic, qos=self.qos)

    def _on_message(self, client, userdata, msg):
        with self.lock:
            self.messages.append((msg.topic, msg.payload))

    def readings(self):
        """Parsed reading payloads received so far, in arrival order."""
        with self.lock:
            msgs = list(self.messages)
        return [json.loads(p.decode("utf-8")) for t, p in msgs if t.endswith("/readings")]

    def stop(self):
        self.client.loop_stop()
        self.client.disconnect()


def scenario(work):
    return h.scenario(work, [
        {"unit": 1, "driver": "level/ultrasonic-generic", "values": {"decimals": 3, "level": 1.234},
         "waves": {"level": {"base": 1.2, "amplitude": 0.3, "period_s": 3}}},
        {"unit": 2, "driver": "flow/electromagnetic-generic", "values": {"flow": 12.5}},
    ])


def run(started, protocol, qos, name, inflight=20, backlog_rows=60, broker_extra=""):
    """Readings flow, the broker goes away while polling goes on, and comes back. Returns a dict:
    stored (the seqs of every reading the daemon handed out: with no crash, every seq up to its
    last is a reading or a row of another kind in the store; readings the broker acknowledged in
    time were never written), written (the readings the store holds: those of the outage),
    got (payloads in arrival order), at_loss (the highest seq delivered when the daemon saw the
    broker gone), backlog (seqs unsent when the broker came back), log (the daemon's output)."""
    work = h.Workdir(name)
    sim, broker, _ = h.stack(started, work, scenario(work),
                             broker=dict(persistence=True, extra="queue_qos0_messages true\n" + broker_extra))
    sub = PersistentSubscriber(broker.port, PREFIX + "/devices/+/readings", protocol, qos,
                               "o-and-m-%s-%d" % (protocol.replace(".", ""), qos))
    started.append(sub)
    bus = {"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": sim.tcp_port, "timeout_ms": 500,
           "devices": [
               {"id": "manhole-3", "unit": 1, "driver": "level/ultrasonic-generic", "poll_ms": 50},
               {"id": "flow-main", "unit": 2, "driver": "flow/electromagnetic-generic", "poll_ms": 50},
           ]}
    cfg = h.base_config(work, [bus], mqtt=broker.mqtt(qos=qos, protocol=protocol, keepalive_s=5, inflight=inflight))
    db = cfg["store"]["path"]
    d = h.Daemon(work, cfg)
    started.append(d)
    if "(MQTT %s)" % protocol not in h.wait_until("the daemon connected", lambda: "mqtt: connected" in d.output()
                                                  and d.output()):
        raise h.TestFailure("the daemon did not connect with MQTT %s:\n%s" % (protocol, d.output()))

    h.wait_until("20 readings live", lambda: len(sub.readings()) >= 20)
    broker.stop()
    h.wait_until("the daemon to see the broker gone", lambda: "connection to 127.0.0.1" in d.output())
    at_loss = max(m["seq"] for m in sub.readings())
    unsent = lambda: h.scalar(db, "SELECT count(*) FROM outbox WHERE sent = 0") or 0
    h.wait_until("a backlog of %d rows" % backlog_rows, lambda: unsent() >= backlog_rows, 60)
    backlog = {s for (s,) in h.query(db, "SELECT seq FROM outbox WHERE sent = 0 AND kind = 1")}
    backlog_to = h.scalar(db, "SELECT max(seq) FROM outbox")
    broker.start()
    h.wait_until("the backlog drained", lambda: h.scalar(db, "SELECT count(*) FROM outbox WHERE sent = 0 "
                                                             "AND seq <= ?", (backlog_to,)) == 0, 60)
    h.wait_until("live readings after the backlog",
                 lambda: len([1 for m in sub.readings() if m["seq"] > backlog_to]) >= 20)
    code = d.stop()
    log = open(d.log_path).read()
    if code != 0:
        raise h.TestFailure("daemon exited %s on SIGTERM:\n%s" % (code, log))
    if unsent() != 0:
        raise h.TestFailure("%d rows unsent after a clean stop with the broker up" % unsent())
    written = {s for (s,) in h.query(db, "SELECT seq FROM outbox WHERE kind = 1")}
    others = {s for (s,) in h.query(db, "SELECT seq FROM outbox WHERE kind <> 1")}
    top = h.scalar(db, "SELECT value FROM meta WHERE key = 'last_seq'")
    stored = set(range(1, top + 1)) - others
    last = max(stored)
    # The last stored reading reaching the subscriber marks the end of the stream (per
    # publisher, the broker forwards in order); wait for it, not for a count that may be short.
    h.wait_until("the last stored reading (seq %d) at the subscriber" % last,
                 lambda: any(m["seq"] == last for m in sub.readings()), 30)
    sub.stop()
    broker.stop()
    return {"stored": stored, "written": written, "got": sub.readings(), "at_loss": at_loss, "backlog": backlog,
            "log": log, "broker_log": broker.log_path, "work": work}


def check_payloads(r):
    """Every message is a reading of a stored seq, with the contract's head; a seq that came twice
    came with the same data. Returns the set of seqs received and the number of duplicates."""
    first, dups = {}, 0
    for m in r["got"]:
        if m.get("v") != 1 or m.get("gateway") != "gw-test" or m["seq"] not in r["stored"]:
            raise h.TestFailure("unexpected reading %r" % m)
        if m["seq"] in first:
            dups += 1
            if m != first[m["seq"]]:
                raise h.TestFailure("seq %d published twice with different data:\n%r\n%r" % (m["seq"], first[m["seq"]], m))
        else:
            first[m["seq"]] = m
    return set(first), dups


def check_order(r):
    """Per device, first arrivals ascend (the backlog is replayed oldest first)."""
    seen, order = set(), {}
    for m in r["got"]:
        if m["seq"] not in seen:
            seen.add(m["seq"])
            order.setdefault(m["device"], []).append(m["seq"])
    for dev, seqs in order.items():
        for a, b in zip(seqs, seqs[1:]):
            if b < a:
                raise h.TestFailure("%s: seq %d arrived after %d" % (dev, b, a))


def missing(r, seen):
    return sorted(r["stored"] - seen)
