"""Maintenance visits and TSG T5002's 15-day interval, end to end on a wall clock the test sets
(libfaketime): lift-1's car goes into inspection mode, the contractor announces who is there
(cmd/visit), the clock moves 31 minutes on and the car leaves inspection: a visit of 31 min by
that person is stored and published. lift-2 is never visited: 15 days after its first
registration it gets maintenance_overdue (major, under the elevator contract) while lift-1, visited
half an hour later, has none yet; the contractor acknowledges it (cmd/ack); on lift-1's own day 16 it gets one too, and a new visit of 31
minutes clears it. A restart keeps both alerts as they are. A visit shorter than 30 minutes does not clear it.

No step races the clock: every deadline is reached by moving the clock past it."""

import calendar
import json
import sys
import time

import harness as h

PREFIX = "caretaker/hongmei/gw-test"
START = "2026-11-02 02:00:00"  # UTC
DAY_S = 86400


def utc(ts_s):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts_s))


def alerts(sub, device, event):
    return [m for _, m, _ in sub.received("/alerts")
            if m["device"] == device and m["rule"] == "maintenance_overdue" and m["event"] == event]


def visits(sub, device):
    return [m for _, m, _ in sub.received("/events") if m.get("event") == "visit" and m["device"] == device]


def test(started):
    work = h.Workdir("maintenance-visits")
    sim, broker, sub, bus = h.two_lifts(started, work, PREFIX + "/#")
    cfg = h.base_config(work, [bus], mqtt=broker.mqtt(),
                        contracts=[{"id": "elevator-om", "contractor": "某电梯维保公司", "covers": ["elevator"],
                                    "respond_minutes": {"major": 240}}],
                        commands={"commanders": {"lift-co": {"role": "contractor", "contracts": ["elevator-om"]}}})
    db = cfg["store"]["path"]
    clock = h.SetClock(work, START)
    d = h.Daemon(work, cfg, env=clock.env())
    started.append(d)
    h.wait_until("both lifts read", lambda: sub.received("/devices/lift-1/readings") and
                 sub.received("/devices/lift-2/readings"))
    registered = h.scalar(db, "SELECT ts FROM device_since WHERE device = 'lift-2'")
    start_s = calendar.timegm(time.strptime(START, "%Y-%m-%d %H:%M:%S"))
    if not registered or abs(registered / 1000 - start_s) > 60:
        raise h.TestFailure("lift-2 registered at %r (expected the start, %s)" % (registered, START))

    def visit(device, unit, minutes, announce=None):
        """Inspection mode on, the clock moved `minutes` on, off; returns the visit's event."""
        n = len(visits(sub, device))
        sim.cmd("set %d mode 1" % unit)
        h.wait_until("%s's visit begun" % device, lambda: len(visits(sub, device)) > n)
        if announce:
            sub.publish(PREFIX + "/cmd/visit/lift-co", json.dumps(announce).encode())
            h.wait_until("the reply to cmd/visit", lambda: sub.received("/reply/lift-co"))
            reply = sub.received("/reply/lift-co")[-1][1]
            if reply["ok"] is not True:
                raise h.TestFailure("cmd/visit refused: %r" % reply)
        begun = visits(sub, device)[-1]["start_ts"]
        clock.set(utc(begun // 1000 + minutes * 60 + 2))  # whole seconds: past the minutes asked
        sim.cmd("set %d mode 0" % unit)
        ended = h.wait_until("%s's visit ended" % device, lambda: [
            v for v in visits(sub, device) if v["start_ts"] == begun and v["end_ts"] is not None])
        return ended[0]

    first = visit("lift-1", 1, 31, {"device": "lift-1", "kind": "maintenance", "by": "王师傅", "note": "半月保养"})
    if first["by"] != "lift-co" or first["name"] != "王师傅" or first["note"] != "半月保养" or \
            first["kind"] != "maintenance" or not 31 <= first["minutes"] < 32:
        raise h.TestFailure("the visit event %r" % first)
    stored = h.query(db, "SELECT kind, by, name, end_ts - start_ts FROM visits WHERE device = 'lift-1'")
    if len(stored) != 1 or stored[0][:3] != ("maintenance", "lift-co", "王师傅") or stored[0][3] < 31 * 60000:
        raise h.TestFailure("visits stored %r" % stored)
    visited = first["end_ts"] // 1000

    # lift-2's 15 days from its registration pass first: day 16 of lift-2, not yet of lift-1.
    clock.set(utc(registered // 1000 + 15 * DAY_S + 60))
    raised = h.wait_until("maintenance_overdue of lift-2", lambda: alerts(sub, "lift-2", "raised"), 30)[0]
    if raised["severity"] != "major" or raised["contract"] != "elevator-om":
        raise h.TestFailure("maintenance_overdue of lift-2: %r" % raised)
    if alerts(sub, "lift-1", "raised"):
        raise h.TestFailure("lift-1, visited at %s, overdue at %s" % (utc(visited), utc(registered // 1000 + 15 * DAY_S)))
    # The contractor acknowledges it like any alert of its contract.
    sub.publish(PREFIX + "/cmd/ack/lift-co", json.dumps({"alert_id": raised["id"], "id": "k-1"}).encode())
    acked = h.wait_until("maintenance_overdue of lift-2 acknowledged", lambda: alerts(sub, "lift-2", "acknowledged"))
    if acked[0]["acked_by"] != "lift-co" or acked[0]["id"] != raised["id"]:
        raise h.TestFailure("acknowledged %r" % acked)

    # lift-1's own day 16.
    clock.set(utc(visited + 15 * DAY_S + 60))
    h.wait_until("maintenance_overdue of lift-1", lambda: alerts(sub, "lift-1", "raised"), 30)
    active = h.wait_until("alerts/active holding both", lambda: [
        m for _, m, _ in sub.received("/alerts/active")
        if sorted(a["device"] for a in m["alerts"] if a["rule"] == "maintenance_overdue") == ["lift-1", "lift-2"]])
    if not active:
        raise h.TestFailure("alerts/active %r" % sub.received("/alerts/active"))

    # A restart keeps both alerts active, raises nothing again and clears nothing.
    if d.stop() != 0:
        raise h.TestFailure("daemon exited %s:\n%s" % (d.proc.returncode, d.output()))
    started.remove(d)
    n_lists = len(sub.received("/alerts/active"))
    d = h.Daemon(work, cfg, name="restarted", env=clock.env())
    started.append(d)
    after = h.wait_until("alerts/active after the restart", lambda: sub.received("/alerts/active")[n_lists:])[-1][1]
    if sorted(a["device"] for a in after["alerts"] if a["rule"] == "maintenance_overdue") != ["lift-1", "lift-2"]:
        raise h.TestFailure("alerts/active after the restart: %r" % after)
    if len(alerts(sub, "lift-1", "raised")) != 1 or alerts(sub, "lift-2", "cleared"):
        raise h.TestFailure("the restart raised or cleared: %r" % [m for _, m, _ in sub.received("/alerts")])

    # A visit too short does not clear it; a long enough one does.
    visit("lift-1", 1, 10)
    if alerts(sub, "lift-1", "cleared"):
        raise h.TestFailure("a 10-minute visit cleared maintenance_overdue")
    visit("lift-1", 1, 31)
    h.wait_until("maintenance_overdue of lift-1 cleared", lambda: alerts(sub, "lift-1", "cleared"))
    if alerts(sub, "lift-2", "cleared"):
        raise h.TestFailure("lift-2's alert cleared by lift-1's visit")
    if not d.running():
        raise h.TestFailure("the daemon stopped:\n" + d.output())
    if d.stop() != 0:
        raise h.TestFailure("daemon exited %s" % d.proc.returncode)
    print("visits of lift-1: %d; overdue raised on day 16 for both lifts, cleared by a 31-min visit" %
          len([v for v in visits(sub, "lift-1") if v["end_ts"]]))


sys.exit(h.run(test))
