"""A box without a battery-backed clock starts in 1970 and learns the time from NTP later
(simulator, daemon, mosquitto; the wall clock moved by libfaketime, the kernel's NTP state by
tests/integration/adjtimex_shim.c):

- while unsynchronized, a trapped passenger is raised with a 20 s response deadline; the events of
  that span say `clock_unsynchronized`, its readings carry `"clock": "unsynced"`;
- the wall clock then steps to 2026 and the kernel reports it synchronized: one
  `clock_synchronized` event gives the step; the alert's raise time and deadline are corrected by
  it (not escalated at once for a deadline 56 years past); it escalates only after its corrected
  deadline; readings are no longer flagged;
- no daily report is published for a day of 1970: the day counted before the sync is the corrected
  day;
- the day counts the monthly report is made of count the polls before the sync in the corrected
  day, and keep no day of 1970;
- the install's first month is not reported: the month before the corrected time is not owed;
- a power failure raised and cleared before the sync is kept with corrected times, as the
  monthly report reads it."""

import json
import sys

import harness as h

PREFIX = "caretaker/hongmei/gw-test"
RUNNING = {"mode": 0, "moving": True, "dir_up": True, "door_zone": False, "door_open": False,
           "door_closed": True, "occupied": True, "safety_circuit": True, "door_lock": True,
           "mains_power": True, "floor": 3, "speed": 1.0, "runs": 100, "running_hours": 10,
           "door_cycles": 200}
BOOT = "1970-01-01 08:00:00"
SYNCED = "2026-12-05 02:00:00"
YEAR_2000_MS = 946684800000


def check(cond, what, *shown):
    if not cond:
        raise h.TestFailure(what + (": " + " ".join(json.dumps(x, ensure_ascii=False) for x in shown) if shown else ""))


def events(sub, name):
    return [m for _, m, _ in sub.received("/events") if m.get("event") == name]


def rule_events(sub, rule, kind):
    return [m for _, m, _ in sub.received("/alerts") if m.get("rule") == rule and m["event"] == kind]


def alert_events(sub, kind):
    return rule_events(sub, "trapped_passenger", kind)


def test(started):
    work = h.Workdir("clock-sync")
    sim, broker, sub = h.stack(started, work, h.scenario(work, [{"unit": 1, "driver": "elevator/generic",
                                                                 "values": RUNNING}]), PREFIX + "/#")
    buses = [{"id": "bus-lift", "type": "tcp", "host": "127.0.0.1", "port": sim.tcp_port, "timeout_ms": 500,
              "devices": [{"id": "lift-1", "unit": 1, "driver": "elevator/generic", "poll_ms": 200, "report_max_s": 0,
                           "params": {"trapped_s": 2, "stop_outside_zone_s": 600}}]}]
    contracts = [{"id": "elevator-om", "contractor": "某电梯维保公司", "covers": ["elevator"],
                  "respond_seconds": {"critical": 20}}]
    cfg = h.base_config(work, buses, mqtt=broker.mqtt(), contracts=contracts, alerts={"escalate_every_s": 0})
    clock = h.SetClock(work, BOOT)
    sync = h.ClockSync(work, False)
    d = h.Daemon(work, cfg, env=sync.env(clock.env()))
    started.append(d)

    unsync = h.wait_until("a clock_unsynchronized event", lambda: events(sub, "clock_unsynchronized"), 20)[0]
    check(0 <= unsync["from_ts"] < YEAR_2000_MS, "the span begins at the box's 1970 time", unsync)
    early = h.wait_until("readings before the sync", lambda: sub.received("/devices/lift-1/readings"), 20)
    check(all(m.get("clock") == "unsynced" and m["ts"] < YEAR_2000_MS for _, m, _ in early),
          "readings taken before the sync are flagged", early[-1][1])

    # A power cut raised and cleared before the sync: its record is the monthly report's.
    sim.cmd("set 1 mains_power 0")
    h.wait_until("power failure raised in 1970", lambda: rule_events(sub, "power_failure", "raised"), 20)
    sim.cmd("set 1 mains_power 1")
    h.wait_until("power failure cleared in 1970", lambda: rule_events(sub, "power_failure", "cleared"), 30)

    sim.cmd("set 1 moving 0")
    sim.cmd("set 1 speed 0")
    raised = h.wait_until("trapped passenger raised in 1970", lambda: alert_events(sub, "raised"), 20)[0]
    check(raised["raised_ts"] < YEAR_2000_MS and raised["respond_by_ts"] == raised["raised_ts"] + 20000,
          "raised with the held time", raised)

    # NTP answers: the clock steps 56 years, then the kernel says it is synchronized.
    clock.set(SYNCED)
    sync.set(True)
    synced = h.wait_until("a clock_synchronized event", lambda: events(sub, "clock_synchronized"), 20)[0]
    check(synced["step_ms"] > 1700000000000 and synced["from_ts"] == unsync["from_ts"] + synced["step_ms"],
          "the step and the span corrected", synced, unsync)
    corrected_raise = raised["raised_ts"] + synced["step_ms"]

    def listed():
        got = sub.received("/alerts/active")
        alerts = got[-1][1]["alerts"] if got else []
        return [a for a in alerts if a["rule"] == "trapped_passenger" and a["raised_ts"] > YEAR_2000_MS]

    now_listed = h.wait_until("alerts/active lists the corrected alert", listed, 20)[0]
    check(now_listed["id"] == raised["id"] and now_listed["raised_ts"] == corrected_raise and
          now_listed["respond_by_ts"] == corrected_raise + 20000, "raise and deadline moved by the step",
          now_listed, raised, synced)

    esc = h.wait_until("escalated after its corrected deadline", lambda: alert_events(sub, "escalated"), 40)
    check(len(esc) == 1 and esc[0]["ts"] >= corrected_raise + 20000 and esc[0]["respond_by_ts"] == corrected_raise + 20000,
          "one escalation, at the corrected deadline, not at the step", esc, synced)
    late = h.wait_until("a reading after the sync", lambda: [m for _, m, _ in sub.received("/devices/lift-1/readings")
                                                            if m["ts"] > synced["to_ts"]], 20)
    check(all("clock" not in m for m in late), "readings after the sync are not flagged", late[0])

    reports = [m for t, m, _ in sub.received() if "/reports/daily/" in t]
    check(not [r for r in reports if r["day"].startswith("1970")], "no daily report of a 1970 day", reports)
    check(d.stop() == 0, "clean stop", d.proc.returncode)

    monthly = [m for t, m, _ in sub.received() if "/reports/monthly/" in t]
    check(not monthly, "no monthly report of a month before the install", monthly)
    # report_max_s 0: a reading per poll; one with a good value is a poll made
    polled = len({m["seq"] for _, m, _ in sub.received("/devices/lift-1/readings")
                  if any(v is not None for v in m["values"].values())})
    days = h.query(cfg["store"]["path"], "SELECT day_start, polls_ok FROM device_day WHERE device = 'lift-1'")
    check(days and all(day > YEAR_2000_MS for day, _ in days), "no day of 1970 kept", days)
    check(sum(ok for _, ok in days) >= polled, "every poll delivered is counted in a corrected day", days, polled)
    held = h.query(cfg["store"]["path"], "SELECT id, raised_ts, cleared_ts FROM alerts WHERE raised_ts < ?1"
                   " OR cleared_ts < ?1", (YEAR_2000_MS,))
    check(not held, "the alerts closed before the sync are kept with corrected times", held)


if __name__ == "__main__":
    sys.exit(h.run(test))
