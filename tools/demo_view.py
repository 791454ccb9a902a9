"""demo_view: subscribes to everything Caretaker publishes and prints it in plain words, one line
per message, until interrupted: readings, device state, alerts with their contractor and
deadline, events."""

import json
import sys
import time

import paho.mqtt.client as mqtt

SEVERITY = {"critical": "CRITICAL", "major": "MAJOR", "minor": "minor", "info": "info"}


def clock(ms):
    """Time of day; with the date when it is not today (a minor alert's deadline is a day off)."""
    if not ms:
        return "--:--:--"
    t = time.localtime(ms / 1000)
    today = time.localtime()[:3] == t[:3]
    return time.strftime("%H:%M:%S" if today else "%m-%d %H:%M:%S", t)


SHOWN = {}  # device -> (values, time shown): a reading is shown when it changes, or every 10 s


def v1_readings(p):
    """The readings of a contract v2 message, each in its v1 form (values by point name)."""
    for group in p.get("devices", []):
        for r in group.get("readings", []):
            values = {k: v for k, v in zip(group.get("points", []), r.get("values", [])) if v is not None}
            yield dict(r, device=group.get("device", ""), values=values)


def describe(topic, p, where):
    if topic.endswith("/v2/readings"):
        return "\n".join(filter(None, (describe("/readings", r, where) for r in v1_readings(p)))) or None
    kind = topic.split("/")[-1]
    dev = p.get("device", "")
    place = "%s (%s)" % (dev, where[dev]) if where.get(dev) else dev
    if kind == "readings":
        values, last = SHOWN.get(dev, (None, 0))
        if p.get("values") == values and time.monotonic() - last < 10:
            return None
        SHOWN[dev] = (p.get("values"), time.monotonic())
        vals = ", ".join("%s %g" % kv for kv in list(p.get("values", {}).items())[:7])
        bad = p.get("offline") or p.get("invalid")
        return "%s  %s: %s%s" % (clock(p.get("ts")), place, vals, "  (no value: %s)" % ", ".join(bad) if bad else "")
    if kind == "state":
        return "%s  %s is %s" % (clock(p.get("ts")), place, p.get("state", "?").upper())
    if topic.endswith("/alerts"):
        msg = p.get("message", {})
        text = msg.get("zh", "") + " / " + msg.get("en", "") if isinstance(msg, dict) else str(msg)
        line = "%s  ALERT %s %s  %s: %s" % (clock(p.get("ts")), p.get("event", "?").upper(),
                                          SEVERITY.get(p.get("severity"), p.get("severity", "")), place, text)
        if p.get("contractor") and p.get("event") in ("raised", "escalated"):
            line += "  -> %s, respond by %s" % (p["contractor"], clock(p.get("respond_by_ts")))
        if p.get("acked_by"):
            line += "  (acknowledged by %s)" % p["acked_by"]
        return line
    if kind == "active":
        alerts = p.get("alerts", p if isinstance(p, list) else [])
        return "          active alerts now: %d" % len(alerts)
    if kind == "events":
        return "%s  EVENT %s  %s" % (clock(p.get("ts")), p.get("event"), place)
    if kind == "daily":
        return "%s  DAILY REPORT %s: %s" % (clock(p.get("ts")), place, json.dumps(p, ensure_ascii=False)[:200])
    if kind == "status":
        return "          gateway %s is %s" % (p.get("gateway"), p.get("state"))
    return None


def main(port, prefix, config_path):
    where = {}
    with open(config_path) as f:
        for bus in json.load(f).get("buses", []):
            for d in bus.get("devices", []):
                where[d["id"]] = d.get("location", "")

    def on_message(client, userdata, m):
        try:
            line = describe(m.topic, json.loads(m.payload), where)
        except ValueError:
            return
        if line:
            print(line, flush=True)

    client = mqtt.Client(client_id="caretaker-demo-view")
    client.on_message = on_message
    client.on_connect = lambda c, u, f, rc: c.subscribe(prefix + "/#", qos=1)
    while True:
        try:
            client.connect("127.0.0.1", port)
            break
        except OSError:
            time.sleep(0.2)
    client.loop_forever()


if __name__ == "__main__":
    try:
        main(int(sys.argv[1]), sys.argv[2], sys.argv[3])
    except KeyboardInterrupt:
        pass
