"""The monthly report of a contract, end to end over November 2026 (Asia/Shanghai) on a wall clock
the test sets (libfaketime; the monotonic clock, the simulator and the broker keep real time), in
well under a minute: the clock jumps from day to day while the daemon runs, and the month holds
two broker outages, a reload, and three days the box was off (the daemon stopped on the 12th,
started again on the 15th). At the month's end the report on reports/monthly/<contract> must
equal the table this test works out from what it did:

  the box ran 27 of 30 days                      gateway_up and availability 0.9 for both lifts
  lift-1 is polled once an hour (poll_ms 1 h):   due 27 x 24 = 648 polls, 3 made (one at each
  one poll at the start, the reload, the restart  start of the pollers): completeness 3/648
  lift-1 never visited                           maintenance_overdue from the first check past its
                                                 15 days (the clock is set to the 20th): 11 days
  lift-2 visited on the 5th for 40 min,          1 visit, 40.0 min, by lift-co (cmd/visit);
  ended during the first broker outage           overdue from the 25th: 6 days
  lift-2 traps a passenger on the 1st,           trapped_passenger: raised, acknowledged, on site,
  acknowledged at once by lift-co, on site,      resolved as the alert events said (its four
  resolved, then cleared                         times); outcome resolved; every stage on time
  alerts: 2 maintenance_overdue (major), 1       ack stage: 1 on time, 2 late (the overdue alerts
  trapped_passenger (critical)                   were never acknowledged before their deadline);
                                                 on site and resolve: 2 open (both overdue alerts
                                                 still active at the month's end)

Then cmd/report for the same month answers ok and publishes the same report again (not retained).
Times of the month run on the faked clock; the few real seconds each step takes are far below
the report's rounding (1e-4 of a month is 4 minutes)."""

import calendar
import json
import sys
import time

import harness as h

PREFIX = "caretaker/hongmei/gw-test"
F_S = calendar.timegm((2026, 10, 31, 16, 0, 0))  # 2026-11-01 00:00 in Shanghai
DAY_S = 86400
TO_S = F_S + 30 * DAY_S


def at(day, hours=0, minutes=0, seconds=0):
    """UTC text of local November `day` (1-based) at that time."""
    return time.strftime("%Y-%m-%d %H:%M:%S",
                         time.gmtime(F_S + (day - 1) * DAY_S + hours * 3600 + minutes * 60 + seconds))


def test(started):
    work = h.Workdir("reports-monthly")
    sim, broker, sub, bus = h.two_lifts(started, work, PREFIX + "/#", poll_ms=(3600000, 200),
                                        params=({}, {"trapped_s": 1, "stop_outside_zone_s": 3600}))
    bus["devices"][1]["asset"] = {"registration_code": "31103101002019120002", "lat": 31.2304, "lon": 121.4737}
    contract = {"id": "elevator-om", "contractor": "某电梯维保公司", "covers": ["elevator"],
                "respond_minutes": {"critical": 30, "major": 240}}
    cfg = h.base_config(work, [bus], mqtt=broker.mqtt(), contracts=[contract],
                        commands={"commanders": {"ops": {"role": "admin"},
                                                 "lift-co": {"role": "contractor", "contracts": ["elevator-om"]}}})
    db = cfg["store"]["path"]
    # 5 s into November: the clock is set in whole seconds, and a start in October's last second
    # would make October this install's first month, reported at its end.
    clock = h.SetClock(work, at(1, seconds=5))
    daemon = h.Daemon(work, cfg, env=clock.env())
    started.append(daemon)

    def alert_events(rule, event):
        return [m for _, m, _ in sub.received("/alerts") if m["rule"] == rule and m["event"] == event]

    def command(verb, identity, payload):
        n = len(sub.received("/reply/" + identity))
        sub.publish("%s/cmd/%s/%s" % (PREFIX, verb, identity), json.dumps(payload).encode())
        reply = h.wait_until("the reply to cmd/%s" % verb, lambda: sub.received("/reply/" + identity)[n:])[0][1]
        if reply["ok"] is not True:
            raise h.TestFailure("cmd/%s %r refused: %r" % (verb, payload, reply))
        return reply

    def polls(device):
        """Polls of device that reached the subscriber (the store may not keep readings), by seq."""
        return len({m["seq"] for _, m, _ in sub.received("/devices/%s/readings" % device)})

    def back_on_broker():
        """The broker started again: the subscriber and the daemon both on it, every event sent."""
        h.wait_until("the subscriber back", sub.connected.is_set)
        n = len(sub.received("/readings"))
        h.wait_until("the daemon back on the broker", lambda: len(sub.received("/readings")) > n, 30)
        h.wait_until("every event sent", lambda: h.scalar(db, "SELECT count(*) FROM outbox WHERE sent = 0 AND kind != 1") == 0)

    # Day 1: a passenger trapped in lift-2, acknowledged by the contractor, freed.
    h.wait_until("both lifts read", lambda: polls("lift-1") and polls("lift-2"))
    sim.cmd("set 2 occupied 1")
    sim.cmd("set 2 door_zone 0")
    raised = h.wait_until("trapped_passenger raised", lambda: alert_events("trapped_passenger", "raised"))[0]
    command("ack", "lift-co", {"alert_id": raised["id"], "by": "李师傅"})
    acked = h.wait_until("acknowledged", lambda: alert_events("trapped_passenger", "acknowledged"))[0]
    command("on_site", "lift-co", {"alert_id": raised["id"], "by": "李师傅"})
    arrived = h.wait_until("on site", lambda: alert_events("trapped_passenger", "on_site"))[0]
    command("resolve", "lift-co", {"alert_id": raised["id"], "by": "李师傅", "note": "已解救"})
    freed = h.wait_until("resolved", lambda: alert_events("trapped_passenger", "resolved"))[0]
    sim.cmd("set 2 door_zone 1")
    sim.cmd("set 2 occupied 0")
    cleared = h.wait_until("cleared", lambda: alert_events("trapped_passenger", "cleared"))[0]

    # Day 5: lift-2 maintained for 40 minutes; the broker goes down while the visit is on.
    clock.set(at(5))
    sim.cmd("set 2 mode 1")
    h.wait_until("lift-2's visit begun", lambda: [m for _, m, _ in sub.received("/events") if m.get("event") == "visit"])
    command("visit", "lift-co", {"device": "lift-2", "kind": "maintenance", "by": "王师傅", "note": "半月保养"})
    broker.stop()  # outage 1
    clock.set(at(5, minutes=40, seconds=2))
    sim.cmd("set 2 mode 0")
    h.wait_until("the visit ended in the store", lambda: h.scalar(db, "SELECT count(*) FROM visits WHERE end_ts IS NOT NULL"))
    clock.set(at(8))
    broker.start()
    back_on_broker()

    # Day 10: a reload with a changed config.
    clock.set(at(10))
    cfg["buses"][0]["devices"][1]["location"] = "2幢东"
    with open(daemon.config_path, "w") as f:
        json.dump(cfg, f, ensure_ascii=False)
    command("reload", "ops", {})
    h.wait_until("lift-1 polled again after the reload", lambda: polls("lift-1") == 2)

    # Days 12-14: the box off.
    clock.set(at(12))
    h.wait_until("a reading of day 12", lambda: max(m["ts"] for _, m, _ in sub.received("/devices/lift-2/readings"))
                 >= (F_S + 11 * DAY_S) * 1000)
    if daemon.stop() != 0:
        raise h.TestFailure("the daemon exited %s:\n%s" % (daemon.proc.returncode, daemon.output()))
    started.remove(daemon)
    clock.set(at(15))
    daemon = h.Daemon(work, cfg, name="after-off", env=clock.env())
    started.append(daemon)
    h.wait_until("lift-1 polled after the restart", lambda: polls("lift-1") == 3)

    # Day 20: lift-1's 15 days are past. Then outage 2, over lift-2's day 16 (the 25th).
    clock.set(at(20))
    h.wait_until("maintenance_overdue of lift-1", lambda: [a for a in alert_events("maintenance_overdue", "raised")
                                                           if a["device"] == "lift-1"], 30)
    broker.stop()
    clock.set(at(25))
    h.wait_until("maintenance_overdue of lift-2 stored",
                 lambda: h.scalar(db, "SELECT count(*) FROM alerts WHERE rule = 'maintenance_overdue'") == 2, 30)
    broker.start()
    back_on_broker()

    # The month's end.
    if sub.received("/reports/monthly/elevator-om"):
        raise h.TestFailure("a monthly report before the month's end: %r" % sub.received("/reports/monthly/elevator-om"))
    clock.set(at(30, 23, 59, 58))
    report = h.wait_until("the monthly report", lambda: sub.received("/reports/monthly/elevator-om"), 30)[0][1]

    ack_s = round((acked["acked_ts"] - raised["raised_ts"]) / 1000, 3)
    on_site_s = round((arrived["ts"] - raised["raised_ts"]) / 1000, 3)
    resolve_s = round((freed["ts"] - raised["raised_ts"]) / 1000, 3)
    device_common = {"gateway_up": 0.9, "availability": 0.9}
    expected = {
        "report": "monthly", "month": "2026-11", "timezone": "Asia/Shanghai", "contract": "elevator-om",
        "contractor": "某电梯维保公司", "from_ts": F_S * 1000, "to_ts": TO_S * 1000,
        "alerts": {"total": 3, "by_rule": [{"rule": "maintenance_overdue", "severity": "major", "count": 2},
                                          {"rule": "trapped_passenger", "severity": "critical", "count": 1}]},
        "stages": {"ack": {"on_time": 1, "late": 2, "open": 0, "median_s": ack_s, "worst_s": ack_s},
                   "on_site": {"on_time": 1, "late": 0, "open": 2, "median_s": on_site_s, "worst_s": on_site_s},
                   "resolve": {"on_time": 1, "late": 0, "open": 2, "median_s": resolve_s, "worst_s": resolve_s}},
        "self_cleared": 0, "resolved": 1, "escalations": [],
        "trapped": [{"id": raised["id"], "device": "lift-2", "raised_ts": raised["raised_ts"],
                     "acknowledged_ts": acked["acked_ts"], "on_site_ts": arrived["ts"], "resolved_ts": freed["ts"]}],
    }
    problems = ["%s: %r (expected %r)" % (k, report.get(k), v) for k, v in expected.items() if report.get(k) != v]
    devices = {d["device"]: d for d in report.get("devices", [])}
    want = {
        "lift-1": dict(device_common, polls_due=648, polls_ok=3, completeness=round(3 / 648, 4), visits=0,
                       maintenance_visits=0, maintenance_visits_long=0, maintenance_minutes=0, overdue_days=11.0),
        "lift-2": dict(device_common, visits=1, maintenance_visits=1, maintenance_visits_long=1,
                       maintenance_minutes=40.0, overdue_days=6.0,
                       asset={"registration_code": "31103101002019120002", "lat": 31.2304, "lon": 121.4737}),
    }
    for dev, members in want.items():
        got = devices.get(dev, {})
        problems += ["%s.%s: %r (expected %r)" % (dev, k, got.get(k), v) for k, v in members.items() if got.get(k) != v]
    if not devices.get("lift-2", {}).get("polls_ok"):
        problems.append("lift-2: no poll made: %r" % devices.get("lift-2"))
    visits = report.get("visits", [])
    if len(visits) != 1 or (visits[0]["device"], visits[0]["by"], visits[0]["name"], visits[0]["note"],
                            visits[0]["minutes"]) != ("lift-2", "lift-co", "王师傅", "半月保养", 40.0):
        problems.append("visits %r" % visits)
    if problems:
        raise h.TestFailure("the monthly report differs from the month the test made:\n  %s\nreport: %s" %
                            ("\n  ".join(problems), json.dumps(report, ensure_ascii=False)))

    # The same month asked for later: the same report, not retained over the month-end one.
    clock.set(at(30, 23, 59, 58 + 3600))
    command("report", "lift-co", {"month": "2026-11", "contract": "elevator-om"})
    again = h.wait_until("the report asked for", lambda: sub.received("/reports/monthly/elevator-om")[1:], 30)[0]
    if again[2] or {k: v for k, v in again[1].items() if k != "ts"} != {k: v for k, v in report.items() if k != "ts"}:
        raise h.TestFailure("cmd/report gave %r\nthe month's end gave %r" % (again, report))
    late = h.Subscriber(broker.port, PREFIX + "/reports/monthly/+", name="late subscriber")
    started.append(late)
    kept = h.wait_until("the month-end report retained", lambda: late.received())
    if kept[0][1] != report or not kept[0][2]:
        raise h.TestFailure("retained %r" % kept)
    if daemon.stop() != 0:
        raise h.TestFailure("the daemon exited %s" % daemon.proc.returncode)
    print("November: lift-1 availability %.4f, completeness %.4f, overdue %.2f days; lift-2 visits %d, overdue %.2f "
          "days; ack median %.3f s" % (devices["lift-1"]["availability"], devices["lift-1"]["completeness"],
                                       devices["lift-1"]["overdue_days"], devices["lift-2"]["visits"],
                                       devices["lift-2"]["overdue_days"], ack_s))


sys.exit(h.run(test))
