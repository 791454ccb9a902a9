# listener: the consumer at the broker (paho-mqtt): counts what the gateway delivered, tells the
# backlog from live data by each message's time (each reading's, in a v2 batch), and keeps the
# arrival time of alert events.
import json
import threading
import time

import paho.mqtt.client as mqtt


def _readings_in(obj):
    """Values a readings message carries: members of every `values` object (and the points
    listed as invalid or offline) at any depth, so a message holding several polls counts each."""
    n = 0
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k == "values" and isinstance(v, (dict, list)):
                n += len(v)
            elif k in ("invalid", "offline") and isinstance(v, list):
                n += len(v)
            else:
                n += _readings_in(v)
    elif isinstance(obj, list):
        n += sum(_readings_in(x) for x in obj)
    return n


def _newest_ts(obj):
    ts = obj.get("ts") if isinstance(obj, dict) else None
    if isinstance(ts, (int, float)):
        return ts
    best = None
    for v in (obj.values() if isinstance(obj, dict) else obj if isinstance(obj, list) else ()):
        t = _newest_ts(v)
        if t is not None and (best is None or t > best):
            best = t
    return best


def _seqs_in(body):
    """(seq, ts) of every outbox row a message carries: the message itself (v1 readings, events,
    states, alerts), or each reading of a v2 readings batch (devices[].readings[]), whose seqs
    and times are its readings' own."""
    if not isinstance(body, dict):
        return []
    if body.get("v") == 2 and isinstance(body.get("devices"), list):
        return [(r.get("seq"), r.get("ts")) for d in body["devices"] if isinstance(d, dict)
                for r in d.get("readings", ()) if isinstance(r, dict) and r.get("seq")]
    seq = body.get("seq", 0)
    return [(seq, _newest_ts(body))] if seq else []


class Listener:
    def __init__(self, port, prefix):
        self.lock = threading.Lock()
        self.backlog_before_ms = None
        self.reset()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(client_id="", clean_session=True, protocol=mqtt.MQTTv311)
        self.client.on_connect = lambda c, u, f, rc: c.subscribe(prefix + "/#", qos=1)
        self.client.on_subscribe = lambda c, u, m, q: self.subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()
        if not self.subscribed.wait(10):
            raise RuntimeError("listener could not subscribe on port %d" % port)

    def reset(self):
        with self.lock:
            self.messages = self.payload_bytes = self.readings = self.reading_messages = 0
            self.old = self.old_bytes = 0
            self.old_seqs = set()
            self.last_old_arrival = self.first_old_arrival = None
            self.last_arrival = None
            self.alert_events = []

    def split_backlog(self, before_ms):
        """From now on, messages whose time is before before_ms are counted as the backlog."""
        with self.lock:
            self.backlog_before_ms = before_ms

    def _on_message(self, client, userdata, msg):
        now = time.time()
        try:
            body = json.loads(msg.payload.decode("utf-8"))
        except ValueError:
            body = {}
        with self.lock:
            self.messages += 1
            self.payload_bytes += len(msg.payload)
            self.last_arrival = now
            if msg.topic.endswith("/readings"):
                self.reading_messages += 1
                self.readings += _readings_in(body)
            if msg.topic.endswith("/alerts") and isinstance(body, dict):
                self.alert_events.append((now, body.get("device"), body.get("rule"), body.get("event"), body.get("ts")))
            if self.backlog_before_ms is None:
                return
            old = [seq for seq, ts in _seqs_in(body) if ts is not None and ts < self.backlog_before_ms]
            if old:
                self.old += 1
                self.old_bytes += len(msg.payload)
                self.old_seqs.update(old)
                self.last_old_arrival = now
                if self.first_old_arrival is None:
                    self.first_old_arrival = now

    def snapshot(self):
        with self.lock:
            return {"messages": self.messages, "payload_bytes": self.payload_bytes, "readings": self.readings,
                    "reading_messages": self.reading_messages, "old": self.old, "old_bytes": self.old_bytes,
                    "old_distinct": len(self.old_seqs),
                    "old_seq_span": (max(self.old_seqs) - min(self.old_seqs) + 1) if self.old_seqs else 0,
                    "first_old_arrival": self.first_old_arrival, "last_old_arrival": self.last_old_arrival,
                    "last_arrival": self.last_arrival}

    def alerts_since(self, t, device, rule, event):
        """Arrival time and the event's own ts of the first `event` of an alert of device
        arriving after wall time t."""
        with self.lock:
            for now, dev, r, ev, ts in self.alert_events:
                if now >= t and dev == device and r == rule and ev == event:
                    return now, ts
        return None

    def stop(self):
        self.client.loop_stop()
        self.client.disconnect()
