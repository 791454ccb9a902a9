"""Drainage alerts end to end (simulator, daemon, mosquitto), three manholes on buses of their own:

- manhole-high: high level — major, the sewage contract, respond_by_ts = raised + 240 min; cleared
  below the hysteresis.
- manhole-over: overflow risk at both severities — major (freeboard < 0.5 m), then critical
  (< 0.2 m, 120 min to respond); both cleared when the level falls.
- manhole-mute: the meter falls silent — communication lost (minor, 1440 min to respond); cleared
  when it answers again.
alerts/active (retained) follows every step; every event is also in the store's alerts table."""

import json
import sys

import harness as h

PREFIX = "caretaker/hongmei/gw-test"
UNITS = {"manhole-high": 1, "manhole-over": 2, "manhole-mute": 3}


def events(sub, device=None, rule=None, kind=None):
    return [m for _, m, _ in sub.received("/alerts")
            if (device is None or m.get("device") == device) and (rule is None or m.get("rule") == rule) and
            (kind is None or m.get("event") == kind)]


def active(sub):
    got = sub.received("/alerts/active")
    return {(a["device"], a["rule"]): a for a in got[-1][1]["alerts"]} if got else None


def check(cond, what, *shown):
    if not cond:
        raise h.TestFailure(what + (": " + " ".join(json.dumps(x, ensure_ascii=False) for x in shown) if shown else ""))


def test(started):
    work = h.Workdir("alerts-drainage")
    devices = [{"unit": u, "driver": "level/ultrasonic-generic",
                "values": {"decimals": 2, "level": 0.3, "distance": 2.2, "temperature": 18.5}}
               for u in UNITS.values()]
    sim, broker, sub = h.stack(started, work, h.scenario(work, devices), PREFIX + "/#")
    # A wide pipe keeps the surcharge rule out of the way; the silent meter is lost after 1 s offline.
    params = {"pipe_d_m": 3.0, "comm_lost_s": 1}
    buses = [{"id": "bus-" + d, "type": "tcp", "host": "127.0.0.1", "port": sim.tcp_port, "timeout_ms": 200,
              "retries": 0, "offline_after": 2,
              "devices": [{"id": d, "unit": u, "driver": "level/ultrasonic-generic", "poll_ms": 200,
                           "location": "%d号楼北侧窨井" % u, "params": params}]} for d, u in UNITS.items()]
    contracts = [{"id": "sewage-om", "contractor": "排水运维公司", "covers": ["sewage"],
                  "respond_minutes": {"critical": 120, "major": 240, "minor": 1440}}]
    cfg = h.base_config(work, buses, mqtt=broker.mqtt(), contracts=contracts)
    d = h.Daemon(work, cfg)
    started.append(d)
    h.wait_until("readings of every manhole", lambda: all(
        any(m["device"] == dev for _, m, _ in sub.received("/readings")) for dev in UNITS), 20)
    h.wait_until("an empty alerts/active", lambda: active(sub) == {})

    sim.cmd("set 1 level 1.3")
    sim.cmd("set 2 level 2.1")
    sim.cmd("behave 3 silent")

    high = h.wait_until("high level raised", lambda: events(sub, "manhole-high", "high_level", "raised"))[0]
    check(high["severity"] == "major" and high["contract"] == "sewage-om" and high["contractor"] == "排水运维公司" and
          high["respond_by_ts"] == high["raised_ts"] + 240 * 60000, "high level", high)
    check(high["value"] == 1.3 and high["point"] == "level" and high["location"] == "1号楼北侧窨井", "value", high)

    risk = h.wait_until("overflow risk raised", lambda: events(sub, "manhole-over", "overflow_risk", "raised"))[0]
    check(risk["severity"] == "major" and risk["respond_by_ts"] == risk["raised_ts"] + 240 * 60000,
          "overflow risk (major)", risk)
    check(not events(sub, "manhole-over", "overflow_imminent"), "no critical at 0.4 m freeboard",
          events(sub, "manhole-over"))
    sim.cmd("set 2 level 2.4")
    imm = h.wait_until("overflow imminent raised",
                       lambda: events(sub, "manhole-over", "overflow_imminent", "raised"))[0]
    check(imm["severity"] == "critical" and imm["respond_by_ts"] == imm["raised_ts"] + 120 * 60000 and
          imm["value"] == 2.4, "overflow imminent (critical)", imm)

    lost = h.wait_until("communication lost raised", lambda: events(sub, "manhole-mute", "comm_lost", "raised"))[0]
    check(lost["severity"] == "minor" and lost["respond_by_ts"] == lost["raised_ts"] + 1440 * 60000 and
          lost["contract"] == "sewage-om", "communication lost", lost)
    h.wait_until("alerts/active with all four", lambda: {("manhole-high", "high_level"),
                 ("manhole-over", "overflow_risk"), ("manhole-over", "overflow_imminent"),
                 ("manhole-mute", "comm_lost")} <= set(active(sub) or {}))

    # Back to normal: each clears, and the list empties.
    sim.cmd("set 1 level 1.1")   # below high_m 1.2 - hysteresis 0.05
    sim.cmd("set 2 level 0.5")
    sim.cmd("behave 3 ok")
    for dev, rule in (("manhole-high", "high_level"), ("manhole-over", "overflow_risk"),
                      ("manhole-over", "overflow_imminent"), ("manhole-mute", "comm_lost")):
        c = h.wait_until("%s %s cleared" % (dev, rule), lambda: events(sub, dev, rule, "cleared"))[0]
        raised = events(sub, dev, rule, "raised")
        check(len(raised) == 1 and c["id"] == raised[0]["id"] and c["cleared_ts"] >= raised[0]["raised_ts"],
              "one raise, cleared with its id", raised, c)
    h.wait_until("an empty alerts/active again", lambda: active(sub) == {})
    check(d.stop() == 0, "daemon stopped cleanly")
    rows = h.query(cfg["store"]["path"], "SELECT device, rule, state, cleared_ts IS NOT NULL FROM alerts ORDER BY device")
    # the overflowing manhole was above high_m too
    check(len(rows) == 5 and all(r[2] == "cleared" and r[3] for r in rows) and
          ("manhole-over", "high_level", "cleared", 1) in rows, "alerts table: five cleared", rows)
    # the day's report counts are saved in the group commit, one row per device
    days = h.query(cfg["store"]["path"], "SELECT device, json FROM report_day ORDER BY device")
    check([r[0] for r in days] == sorted(UNITS) and all(json.loads(r[1])["readings"] > 0 for r in days) and
          json.loads(dict(days)["manhole-over"])["peaks"]["peak_level"]["value"] == 2.4, "report days", days)
    unsent = h.scalar(cfg["store"]["path"], "SELECT count(*) FROM outbox WHERE kind = 4 AND sent = 0")
    check(unsent == 0, "every alert event acknowledged by the broker", unsent)


sys.exit(h.run(test))
