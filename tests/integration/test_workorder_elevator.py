"""Work orders of trapped passengers end to end (simulator, daemon, mosquitto), on a wall clock the
test moves (SetClock), under the contract terms of docs/contracts.md: ack 5 min, arrival 30 min,
resolved 120 min, escalation to 维保公司值班主管 (lift-co-duty), then 物业/社区 (estate-office), then
the district bureau (a topic), every 10 min while a stage is overdue.

- lift-ok (its own contract, pilot-co): ack, on site, resolved, each in time; the passenger gets
  out, the alert closes with outcome resolved, every stage met, the four rescue times
  (接警 raised, 出动 ack, 抵达 on site, 解救 resolved) in the stored record.
- lift-late (elevator-om, lift-co): acked in time, nobody on site by 30 min: escalated to level 1
  (on_site missed, lift-co-duty), the party's topic gets it; the daemon restarts mid-way and the
  record comes back with its stages and deadlines; 10 min later level 2 (estate-office); arrival
  late (met false), resolved, closed.
- refusals: a contractor not covering the device, an unknown alert id, a stage going back."""

import json
import sys
import time

import harness as h

PREFIX = "caretaker/hongmei/gw-test"
START = "2026-03-10 02:00:00"  # 10:00 in Shanghai: no daily report, no night-time rule in the way
RUNNING = {"mode": 0, "moving": True, "dir_up": True, "door_zone": False, "door_open": False,
           "door_closed": True, "occupied": True, "safety_circuit": True, "door_lock": True,
           "mains_power": True, "floor": 3, "speed": 1.0, "runs": 100, "running_hours": 10,
           "door_cycles": 200}
UNITS = {"lift-ok": 1, "lift-late": 2}
DEADLINES = {"critical": {"ack_min": 5, "arrive_min": 30, "resolve_min": 120}}
CHAIN = [{"level": 1, "name": "维保公司值班主管", "identity": "lift-co-duty"},
         {"level": 2, "name": "物业/社区", "identity": "estate-office"},
         {"level": 3, "name": "区住建局 / 特种设备监管", "topic": "district-housing"}]
MIN = 60000


def events(sub, device=None, kind=None):
    return [m for _, m, _ in sub.received("/alerts")
            if m.get("rule") == "trapped_passenger" and (device is None or m.get("device") == device) and
            (kind is None or m.get("event") == kind)]


def check(cond, what, *shown):
    if not cond:
        raise h.TestFailure(what + (": " + " ".join(json.dumps(x, ensure_ascii=False) for x in shown) if shown else ""))


def utc(ms):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms / 1000))


def stored(db, alert_id):
    rows = h.query(db, "SELECT json FROM alerts WHERE id = ?", (alert_id,))
    return json.loads(rows[0][0]) if rows else None


def test(started):
    work = h.Workdir("workorder-elevator")
    devices = [{"unit": u, "driver": "elevator/generic", "values": RUNNING} for u in UNITS.values()]
    sim, broker, sub = h.stack(started, work, h.scenario(work, devices), PREFIX + "/#")
    quiet = {"trapped_s": 2, "stop_outside_zone_s": 86400}
    buses = [{"id": "bus-" + d, "type": "tcp", "host": "127.0.0.1", "port": sim.tcp_port, "timeout_ms": 500,
              "devices": [{"id": d, "unit": u, "driver": "elevator/generic", "poll_ms": 200,
                           "location": "%d幢1单元" % u, "params": quiet}]} for d, u in UNITS.items()]
    contracts = [
        {"id": "elevator-om", "contractor": "某电梯维保公司", "covers": ["elevator"], "deadlines": DEADLINES,
         "escalation": CHAIN},
        {"id": "pilot", "contractor": "试点维保组", "covers": ["lift-ok"], "deadlines": DEADLINES,
         "escalation": CHAIN[:1]},
    ]
    commands = {"commanders": {"lift-co": {"role": "contractor", "contracts": ["elevator-om"]},
                               "pilot-co": {"role": "contractor", "contracts": ["pilot"]}}}
    cfg = h.base_config(work, buses, mqtt=broker.mqtt(), contracts=contracts,
                        alerts={"escalate_every_s": 600}, commands=commands)
    db = cfg["store"]["path"]
    clock = h.SetClock(work, START)
    d = h.Daemon(work, cfg, env=clock.env())
    started.append(d)
    h.wait_until("readings of both cars", lambda: all(
        any(m["device"] == dev for _, m, _ in sub.received("/readings")) for dev in UNITS), 20)

    def stage(verb, identity, alert_id, name=None, note=None):
        n = len(sub.received("/reply/" + identity))
        body = {"alert_id": alert_id}
        if name:
            body["by"] = name
        if note:
            body["note"] = note
        sub.publish("%s/cmd/%s/%s" % (PREFIX, verb, identity), json.dumps(body, ensure_ascii=False))
        return h.wait_until("reply to %s" % verb, lambda: sub.received("/reply/" + identity)[n:])[0][1]

    # Both cars stop between floors with someone inside: 接警.
    for u in UNITS.values():
        sim.cmd("set %d moving 0" % u)
        sim.cmd("set %d speed 0" % u)
    ok = h.wait_until("lift-ok trapped", lambda: events(sub, "lift-ok", "raised"))[0]
    late = h.wait_until("lift-late trapped", lambda: events(sub, "lift-late", "raised"))[0]
    r0 = ok["raised_ts"]
    due = ok["stages"]
    check(due["ack"]["due_ts"] == r0 + 5 * MIN and due["on_site"]["due_ts"] == r0 + 30 * MIN and
          due["resolve"]["due_ts"] == r0 + 120 * MIN and ok["respond_by_ts"] == r0 + 5 * MIN,
          "every stage's due time in the raised event", ok)
    check(all(s["met"] is None and s["ts"] is None for s in due.values()) and ok["outcome"] is None and
          ok["escalated_to"] == [], "nothing done yet", ok)

    # (a) lift-ok: 出动, 抵达, 解救 in time, by its own contractor.
    r = stage("ack", "pilot-co", ok["id"], "王师傅", "已派单")
    check(r["ok"] and r["result"] == "acknowledged \"%s\"" % ok["id"], "ack reply", r)
    r = stage("on_site", "pilot-co", ok["id"], "王师傅", "到场")
    check(r["ok"] and r["result"] == "on site \"%s\"" % ok["id"], "on_site reply", r)
    r = stage("on_site", "pilot-co", ok["id"], "王师傅")
    check(r["ok"] and r["result"] == "already on site \"%s\"" % ok["id"], "the same stage again: already", r)
    r = stage("resolve", "pilot-co", ok["id"], "王师傅", "已解救乘客\n门机复位")
    check(r["ok"] and r["result"] == "resolved \"%s\"" % ok["id"], "resolve reply", r)
    h.wait_until("the resolved event", lambda: events(sub, "lift-ok", "resolved"))
    kinds = [e["event"] for e in events(sub, "lift-ok")]
    check(kinds == ["raised", "acknowledged", "on_site", "resolved"], "one event per stage, none for the repeat",
          kinds)
    res = events(sub, "lift-ok", "resolved")[0]
    check(res["note"] == "已解救乘客\n门机复位" and res["stages"]["resolve"]["by"] == "pilot-co" and
          res["stages"]["resolve"]["name"] == "王师傅" and res["stages"]["on_site"]["note"] == "到场",
          "who, when and the note in the event", res)
    sim.cmd("set 1 occupied 0")
    closed = h.wait_until("lift-ok closed", lambda: events(sub, "lift-ok", "cleared"), 30)[0]
    check(closed["outcome"] == "resolved" and all(s["met"] is True for s in closed["stages"].values()),
          "closed resolved, every stage met", closed)
    rec = h.wait_until("lift-ok's record closed in the store",
                       lambda: (lambda a: a if a and a["cleared_ts"] else None)(stored(db, ok["id"])))
    times = [rec["raised_ts"]] + [rec["stages"][s]["ts"] for s in ("ack", "on_site", "resolve")]
    check(all(isinstance(t, int) for t in times) and times == sorted(times) and rec["outcome"] == "resolved",
          "接警, 出动, 抵达, 解救 in the stored record, in order", rec)

    # (d) refusals, each with its reason; nothing changes.
    n_late = len(events(sub, "lift-late"))
    r = stage("on_site", "pilot-co", late["id"])
    check(not r["ok"] and "under contract \"elevator-om\"" in r["error"], "a contractor not covering the car", r)
    r = stage("resolve", "lift-co", "lift-late:trapped_passenger:1")
    check(not r["ok"] and r["error"].startswith("unknown alert"), "unknown alert id", r)
    r = stage("resolve", "lift-co", ok["id"])
    check(not r["ok"] and r["error"].startswith("unknown alert"), "a closed alert", r)

    # (b) lift-late: acked in time, nobody on site by 30 min.
    r = stage("ack", "lift-co", late["id"], "李工")
    check(r["ok"], "ack of lift-late", r)
    rl = late["raised_ts"]
    clock.set(utc(rl + 30 * MIN + 2000))
    e1 = h.wait_until("escalated at the arrival deadline", lambda: events(sub, "lift-late", "escalated"), 20)[0]
    check(e1["escalation"] == 1 and e1["escalated"] == {"stage": "on_site", "level": 1, "name": "维保公司值班主管",
                                                        "identity": "lift-co-duty"}, "level 1 for on_site", e1)
    check(e1["stages"]["ack"]["met"] is True and e1["stages"]["on_site"]["met"] is False and
          e1["stages"]["resolve"]["met"] is None, "met per stage at the escalation", e1)
    party = h.wait_until("the party's topic", lambda: sub.received("/escalations/lift-co-duty"))
    check(len(party) == 1 and party[0][1]["seq"] == e1["seq"] and party[0][1]["id"] == late["id"] and
          party[0][1]["event"] == "escalated", "the same escalation on escalations/lift-co-duty", party)

    # (e) restart in the middle: the work order comes back as it was.
    before = h.wait_until("lift-late's record with level 1",
                          lambda: (lambda a: a if a and a["escalation"] == 1 else None)(stored(db, late["id"])))
    check(d.stop() == 0, "daemon stopped cleanly")
    n_active = len(sub.received("/alerts/active"))
    d2 = h.Daemon(work, cfg, name="caretaker-2", env=clock.env())
    started.append(d2)
    h.wait_until("the alert put back", lambda: "1 active alerts put back" in d2.output())
    act = h.wait_until("alerts/active after the restart", lambda: [
        a for _, m, _ in sub.received("/alerts/active")[n_active:] for a in m["alerts"] if a["id"] == late["id"]])
    after = act[-1]
    for k in ("stages", "escalation", "escalated_to", "next_escalation_ts", "escalation_stage", "respond_by_ts"):
        check(after[k] == before[k], "%s kept across the restart" % k, before[k], after[k])
    check(after["next_escalation_ts"] == rl + 40 * MIN, "next escalation 10 min after the first", after)

    clock.set(utc(rl + 40 * MIN + 2000))
    e2 = h.wait_until("level 2", lambda: [e for e in events(sub, "lift-late", "escalated") if e["escalation"] == 2])[0]
    check(e2["escalated"] == {"stage": "on_site", "level": 2, "name": "物业/社区", "identity": "estate-office"},
          "level 2 names the estate office", e2)
    check([x["level"] for x in e2["escalated_to"]] == [1, 2] and e2["escalated_to"][0]["ts"] == e1["ts"],
          "both parties in the record", e2)
    h.wait_until("the estate office's topic", lambda: sub.received("/escalations/estate-office"))
    check(len(events(sub, "lift-late", "escalated")) == 2 and len(sub.received("/escalations/lift-co-duty")) == 1,
          "no escalation twice across the restart", events(sub, "lift-late", "escalated"))

    # Arrival, late; a stage going back is refused; resolved; the car moves: closed.
    r = stage("on_site", "lift-co", late["id"], "李工", "到场")
    check(r["ok"], "late on_site accepted", r)
    on = h.wait_until("the on_site event", lambda: events(sub, "lift-late", "on_site"))[0]
    check(on["stages"]["on_site"]["met"] is False and on["stages"]["on_site"]["by"] == "lift-co" and
          on["next_escalation_ts"] == rl + 120 * MIN, "arrival recorded late; the next due is the resolve", on)
    r = stage("ack", "lift-co", late["id"])
    check(not r["ok"] and "stages do not go back" in r["error"] and "already on site" in r["error"],
          "ack after on_site refused", r)
    r = stage("resolve", "lift-co", late["id"], "李工", "已解救")
    check(r["ok"], "resolve", r)
    sim.cmd("set 2 moving 1")
    sim.cmd("set 2 speed 1.0")
    c2 = h.wait_until("lift-late closed", lambda: events(sub, "lift-late", "cleared"), 30)[0]
    check(c2["outcome"] == "resolved" and c2["stages"]["resolve"]["met"] is True and
          c2["stages"]["on_site"]["met"] is False and c2["escalation"] == 2, "closed with the late arrival kept", c2)
    kinds = [e["event"] for e in events(sub, "lift-late")][n_late:]
    check(kinds == ["acknowledged", "escalated", "escalated", "on_site", "resolved", "cleared"],
          "the refusals changed nothing", kinds)
    check(d2.stop() == 0, "second daemon stopped cleanly")


sys.exit(h.run(test))
