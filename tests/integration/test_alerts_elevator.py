"""Elevator alerts end to end (simulator, daemon, mosquitto), four cars in one daemon, each on a
bus of its own so they run in parallel:

- lift-trap: trapped passenger — critical, the elevator contract, respond_by_ts = raised + 30 min;
  acknowledged by cmd/ack/<identity> of its contractor (reply, event with who, the display name
  and the note), cleared; alerts/active follows.
- lift-fast: overspeed under a contract with a 2 s deadline and re-escalation every 2 s — escalated
  to level 1 then 2 while not acknowledged, no escalation after the ack, cleared.
- lift-door: door open while moving — critical, left active for the restart.
- lift-insp: stopped with someone inside in inspection mode — no trapped-passenger alert while
  suppressed; raised once inspection ends.
Then a restart with active alerts: none is raised again, alerts/active (retained) still lists them."""

import json
import sys

import harness as h

PREFIX = "caretaker/hongmei/gw-test"
RUNNING = {"mode": 0, "moving": True, "dir_up": True, "door_zone": False, "door_open": False,
           "door_closed": True, "occupied": True, "safety_circuit": True, "door_lock": True,
           "mains_power": True, "floor": 3, "speed": 1.0, "runs": 100, "running_hours": 10,
           "door_cycles": 200}
UNITS = {"lift-trap": 1, "lift-fast": 2, "lift-door": 3, "lift-insp": 4}


def events(sub, device=None, rule=None, kind=None):
    out = []
    for _, m, _ in sub.received("/alerts"):
        if (device is None or m.get("device") == device) and (rule is None or m.get("rule") == rule) and \
                (kind is None or m.get("event") == kind):
            out.append(m)
    return out


def active(sub):
    """The latest retained alerts/active list, as {(device, rule): alert}."""
    got = sub.received("/alerts/active")
    if not got:
        return None
    return {(a["device"], a["rule"]): a for a in got[-1][1]["alerts"]}


def check(cond, what, *shown):
    if not cond:
        raise h.TestFailure(what + (": " + " ".join(json.dumps(x, ensure_ascii=False) for x in shown) if shown else ""))


def test(started):
    work = h.Workdir("alerts-elevator")
    devices = [{"unit": u, "driver": "elevator/generic", "values": dict(RUNNING, mode=1 if d == "lift-insp" else 0)}
               for d, u in UNITS.items()]
    sim, broker, sub = h.stack(started, work, h.scenario(work, devices), PREFIX + "/#")
    quiet = {"trapped_s": 2, "stop_outside_zone_s": 600}
    # Readings count polls and carry every point below: every poll published in full (report_max_s 0).
    buses = [{"id": "bus-" + d, "type": "tcp", "host": "127.0.0.1", "port": sim.tcp_port, "timeout_ms": 500,
              "devices": [{"id": d, "unit": u, "driver": "elevator/generic", "poll_ms": 200,
                           "location": "%d幢1单元" % u, "params": quiet, "report_max_s": 0}]}
             for d, u in UNITS.items()]
    contracts = [
        {"id": "elevator-om", "contractor": "某电梯维保公司", "covers": ["elevator"],
         "respond_minutes": {"critical": 30, "major": 240}},
        {"id": "fast-response", "contractor": "快速响应组", "covers": ["lift-fast"],
         "respond_seconds": {"critical": 2}},
    ]
    commands = {"commanders": {"li": {"role": "contractor", "contracts": ["fast-response"]},
                               "wang": {"role": "contractor", "contracts": ["elevator-om"]}}}
    cfg = h.base_config(work, buses, mqtt=broker.mqtt(), contracts=contracts,
                        alerts={"escalate_every_s": 2}, commands=commands)
    d = h.Daemon(work, cfg)
    started.append(d)
    h.wait_until("readings of every car", lambda: all(
        any(m["device"] == dev for _, m, _ in sub.received("/readings")) for dev in UNITS), 20)
    h.wait_until("an empty alerts/active", lambda: active(sub) == {})

    # Stop two cars outside the door zone with someone inside; overspeed; door opened while moving.
    for dev in ("lift-trap", "lift-insp"):
        sim.cmd("set %d moving 0" % UNITS[dev])
        sim.cmd("set %d speed 0" % UNITS[dev])
    sim.cmd("set 2 speed 1.5")
    sim.cmd("set 3 door_open 1")

    # Trapped passenger: critical, the elevator contract, 30 minutes to respond.
    trap = h.wait_until("trapped passenger raised", lambda: events(sub, "lift-trap", "trapped_passenger", "raised"))
    check(len(trap) == 1, "one raise", trap)
    t = trap[0]
    check(t["severity"] == "critical" and t["contract"] == "elevator-om" and t["contractor"] == "某电梯维保公司",
          "severity and contract", t)
    check(t["respond_by_ts"] == t["raised_ts"] + 30 * 60000, "respond_by_ts = raised + 30 min", t)
    # Its own readings say when the car stopped: the last one still moving is the floor
    moving = max(m["ts"] for _, m, _ in sub.received("/devices/lift-trap/readings") if m["values"].get("moving"))
    check(t["raised_ts"] >= moving + 2000, "raised only after trapped_s (2 s) without a reading of the car moving",
          t, moving)
    check(t["location"] == "1幢1单元" and t["message"]["zh"] and t["message"]["en"], "location and message", t)
    check(t["id"].startswith("lift-trap:trapped_passenger:") and t["gateway"] == "gw-test" and t["seq"] > 0,
          "id, gateway and seq", t)
    h.wait_until("alerts/active lists the trapped passenger",
                 lambda: (active(sub) or {}).get(("lift-trap", "trapped_passenger"), {}).get("id") == t["id"])

    # Door open while moving: critical, in two samples.
    door = h.wait_until("door open while moving raised",
                        lambda: events(sub, "lift-door", "door_open_moving", "raised"))
    check(door[0]["severity"] == "critical" and door[0]["respond_by_ts"] == door[0]["raised_ts"] + 1800000,
          "door open while moving", door[0])

    # Overspeed under the 2 s contract: escalated to level 1, then 2, every 2 s until acknowledged.
    fast = h.wait_until("overspeed raised", lambda: events(sub, "lift-fast", "overspeed", "raised"))[0]
    check(fast["severity"] == "critical" and fast["contract"] == "fast-response" and
          fast["respond_by_ts"] == fast["raised_ts"] + 2000, "overspeed deadline", fast)
    esc = h.wait_until("two escalations", lambda: [e for e in events(sub, "lift-fast", "overspeed", "escalated")
                                                   if e["escalation"] >= 2])
    levels = [e["escalation"] for e in events(sub, "lift-fast", "overspeed", "escalated")]
    check(levels[:2] == [1, 2], "escalation levels 1, 2", levels)
    first = events(sub, "lift-fast", "overspeed", "escalated")[0]
    check(first["ts"] >= fast["respond_by_ts"] and all(e["id"] == fast["id"] for e in esc), "escalated after the "
          "deadline, same id", first, fast)

    def ack(alert_id, identity, name, note, rid):
        n = len(sub.received("/reply/" + identity))
        body = {"alert_id": alert_id, "id": rid}
        if name:
            body["by"] = name
        if note:
            body["note"] = note
        sub.publish(PREFIX + "/cmd/ack/" + identity, json.dumps(body))
        return h.wait_until("reply to the ack", lambda: sub.received("/reply/" + identity)[n:])[0][1]

    r = ack(fast["id"], "li", None, "on the phone", "q-1")
    check(r["ok"] is True and r["id"] == "q-1", "ack reply", r)
    acked = h.wait_until("acknowledged event", lambda: events(sub, "lift-fast", "overspeed", "acknowledged"))[0]
    check(acked["acked_by"] == "li" and acked["note"] == "on the phone" and acked["acked"] is True and
          "acked_name" not in acked, "ack event", acked)
    n_esc = len(events(sub, "lift-fast", "overspeed", "escalated"))
    h.wait_until("alerts/active shows it acknowledged",
                 lambda: (active(sub) or {}).get(("lift-fast", "overspeed"), {}).get("acked") is True)
    r = ack(fast["id"], "li", None, "", "q-2")
    check(r["ok"] is True and "already acknowledged" in r["result"], "second ack", r)

    # Suppressed: lift-insp has been stopped with someone inside as long as lift-trap, in inspection.
    check(not events(sub, "lift-insp", "trapped_passenger"), "no trapped passenger in inspection mode",
          events(sub, "lift-insp"))

    # The trapped passenger is acknowledged, then leaves: cleared (clear_for_s 5 s).
    r = ack(t["id"], "wang", "王师傅", "到场", "q-3")
    check(r["ok"] is True, "ack of the trapped passenger", r)
    acked = h.wait_until("acknowledged event", lambda: events(sub, "lift-trap", "trapped_passenger", "acknowledged"))[0]
    check(acked["acked_by"] == "wang" and acked["acked_name"] == "王师傅", "the identity acknowledges; by is a name",
          acked)
    sim.cmd("set 1 occupied 0")
    # Inspection ends: the car is still stopped with someone inside, so it is raised now.
    sim.cmd("set 4 mode 0")
    sim.cmd("set 2 speed 1.0")
    cleared = h.wait_until("trapped passenger cleared",
                           lambda: events(sub, "lift-trap", "trapped_passenger", "cleared"), 30)[0]
    check(cleared["id"] == t["id"] and cleared["acked_by"] == "wang" and cleared["cleared_ts"], "cleared", cleared)
    h.wait_until("overspeed cleared", lambda: events(sub, "lift-fast", "overspeed", "cleared"), 30)
    check(len(events(sub, "lift-fast", "overspeed", "escalated")) == n_esc, "no escalation after the ack",
          events(sub, "lift-fast", "overspeed", "escalated"))
    insp = h.wait_until("trapped passenger once inspection ended",
                        lambda: events(sub, "lift-insp", "trapped_passenger", "raised"))[0]
    check(insp["severity"] == "critical", "raised after inspection", insp)
    h.wait_until("alerts/active without the cleared ones", lambda: (lambda a: a is not None and
                 ("lift-trap", "trapped_passenger") not in a and ("lift-fast", "overspeed") not in a and
                 ("lift-door", "door_open_moving") in a and ("lift-insp", "trapped_passenger") in a)(active(sub)))

    # Restart with two alerts active: they come back without being raised again.
    before = {(e["device"], e["rule"]) for e in events(sub, kind="raised")}
    raised_before = len(events(sub, kind="raised"))
    check(d.stop() == 0, "daemon stopped cleanly")
    last_before = max(m["ts"] for _, m, _ in sub.received("/devices/lift-door/readings"))
    rows = h.query(cfg["store"]["path"], "SELECT device, rule, state, severity, contract FROM alerts "
                                         "WHERE cleared_ts IS NULL ORDER BY device")
    check(("lift-door", "door_open_moving", "raised", "critical", "elevator-om") in rows and
          ("lift-insp", "trapped_passenger", "raised", "critical", "elevator-om") in rows, "alerts table", rows)
    late = h.Subscriber(broker.port, PREFIX + "/alerts/active", name="late subscriber")
    started.append(late)
    d2 = h.Daemon(work, cfg, name="caretaker-2")
    started.append(d2)
    h.wait_until("active alerts put back", lambda: "2 active alerts put back" in d2.output())
    h.wait_until("5 readings of the second run", lambda: sum(
        1 for _, m, _ in sub.received("/devices/lift-door/readings") if m["ts"] > last_before) >= 5, 20)
    # a retained list from after the restart, still with both
    h.wait_until("alerts/active republished after the restart", lambda: len(late.received()) >= 2)
    a = {(x["device"], x["rule"]) for x in late.received()[-1][1]["alerts"]}
    check({("lift-door", "door_open_moving"), ("lift-insp", "trapped_passenger")} <= a, "active after restart", a)
    check(len(events(sub, kind="raised")) == raised_before, "nothing raised again after the restart",
          events(sub, kind="raised")[raised_before:], sorted(before))
    check(d2.stop() == 0, "second daemon stopped cleanly")


sys.exit(h.run(test))
