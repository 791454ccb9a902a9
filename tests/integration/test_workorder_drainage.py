"""A drainage work order that closes by itself (simulator, daemon, mosquitto): an overflow risk
in a manhole under the sewage contract (ack 30 min, arrive 4 h, cleared 24 h, as city pledges
write them), acknowledged from the office, and the level falls before anyone is on site. It
closes with outcome self_cleared — ack met, the stages that never came due not judged — and
its record stays in the store's alerts table for the month's report. A second manhole's alert,
never touched, closes self_cleared too."""

import json
import sys

import harness as h

PREFIX = "caretaker/hongmei/gw-test"
UNITS = {"manhole-1": 1, "manhole-2": 2}
MIN = 60000


def events(sub, device, kind=None):
    return [m for _, m, _ in sub.received("/alerts")
            if m.get("device") == device and m.get("rule") == "overflow_risk" and
            (kind is None or m.get("event") == kind)]


def check(cond, what, *shown):
    if not cond:
        raise h.TestFailure(what + (": " + " ".join(json.dumps(x, ensure_ascii=False) for x in shown) if shown else ""))


def test(started):
    work = h.Workdir("workorder-drainage")
    devices = [{"unit": u, "driver": "level/ultrasonic-generic",
                "values": {"decimals": 2, "level": 0.3, "distance": 2.2, "temperature": 18.5}}
               for u in UNITS.values()]
    sim, broker, sub = h.stack(started, work, h.scenario(work, devices), PREFIX + "/#")
    params = {"pipe_d_m": 3.0}
    buses = [{"id": "bus-" + d, "type": "tcp", "host": "127.0.0.1", "port": sim.tcp_port, "timeout_ms": 300,
              "devices": [{"id": d, "unit": u, "driver": "level/ultrasonic-generic", "poll_ms": 200,
                           "location": "%d号楼北侧窨井" % u, "params": params}]} for d, u in UNITS.items()]
    contracts = [{"id": "sewage-om", "contractor": "排水运维公司", "covers": ["sewage"],
                  "deadlines": {"major": {"ack_min": 30, "arrive_min": 240, "resolve_min": 1440},
                                "critical": {"ack_min": 15, "arrive_min": 120, "resolve_min": 1440}},
                  "escalation": [{"level": 1, "name": "排水公司值班主管", "identity": "drain-duty"},
                                 {"level": 2, "name": "街道/社区", "identity": "street-office"}]}]
    commands = {"commanders": {"drain-co": {"role": "contractor", "contracts": ["sewage-om"]}}}
    cfg = h.base_config(work, buses, mqtt=broker.mqtt(), contracts=contracts, commands=commands)
    db = cfg["store"]["path"]
    d = h.Daemon(work, cfg)
    started.append(d)
    h.wait_until("readings of both manholes", lambda: all(
        any(m["device"] == dev for _, m, _ in sub.received("/readings")) for dev in UNITS), 20)

    sim.cmd("set 1 level 2.1")  # freeboard 0.4 m: overflow risk (major)
    sim.cmd("set 2 level 2.1")
    risk = h.wait_until("overflow risk raised", lambda: events(sub, "manhole-1", "raised"))[0]
    h.wait_until("the second manhole's", lambda: events(sub, "manhole-2", "raised"))
    r0 = risk["raised_ts"]
    check(risk["severity"] == "major" and risk["stages"]["ack"]["due_ts"] == r0 + 30 * MIN and
          risk["stages"]["on_site"]["due_ts"] == r0 + 240 * MIN and
          risk["stages"]["resolve"]["due_ts"] == r0 + 1440 * MIN, "4 h to arrive, 24 h to clear", risk)

    n = len(sub.received("/reply/drain-co"))
    sub.publish(PREFIX + "/cmd/ack/drain-co", json.dumps({"alert_id": risk["id"], "by": "调度张"}))
    reply = h.wait_until("reply to the ack", lambda: sub.received("/reply/drain-co")[n:])[0][1]
    check(reply["ok"], "ack from the office", reply)
    h.wait_until("acknowledged", lambda: events(sub, "manhole-1", "acknowledged"))

    # The water drains away before anyone is on site.
    sim.cmd("set 1 level 0.5")
    sim.cmd("set 2 level 0.5")
    closed = h.wait_until("closed", lambda: events(sub, "manhole-1", "cleared"), 30)[0]
    st = closed["stages"]
    check(closed["outcome"] == "self_cleared" and st["ack"]["met"] is True and st["ack"]["name"] == "调度张" and
          st["on_site"]["met"] is None and st["on_site"]["ts"] is None and st["resolve"]["met"] is None,
          "self_cleared; ack met; arrival and clearing never came due", closed)
    check(closed["escalation"] == 0 and closed["escalated_to"] == [] and closed["next_escalation_ts"] is None,
          "never escalated", closed)
    other = h.wait_until("the other closed", lambda: events(sub, "manhole-2", "cleared"), 30)[0]
    check(other["outcome"] == "self_cleared" and other["stages"]["ack"]["ts"] is None and
          other["stages"]["ack"]["met"] is None, "untouched: self_cleared, nothing judged", other)
    n = len(sub.received("/reply/drain-co"))
    sub.publish(PREFIX + "/cmd/on_site/drain-co", json.dumps({"alert_id": risk["id"]}))
    reply = h.wait_until("reply to on_site", lambda: sub.received("/reply/drain-co")[n:])[0][1]
    check(not reply["ok"] and reply["error"].startswith("unknown alert"), "no stage after it closed", reply)
    check(d.stop() == 0, "daemon stopped cleanly")

    # Kept for the month's report: cleared, with its whole record.
    rows = h.query(db, "SELECT state, json FROM alerts WHERE rule = 'overflow_risk' ORDER BY device")
    check(len(rows) == 2 and all(r[0] == "cleared" for r in rows), "both closed alerts in the alerts table", rows)
    rec = json.loads(rows[0][1])
    check(rec["id"] == risk["id"] and rec["outcome"] == "self_cleared" and rec["stages"] == closed["stages"],
          "the stored record is the closed one", rec)


sys.exit(h.run(test))
