"""Daily reports end to end: the real daemon runs across a local midnight (Asia/Shanghai) on a
wall clock the test sets (libfaketime; its monotonic clock, the simulator and the broker keep real
time). It is stopped and started again late in the day; the report on reports/daily/<device> for that day
must still count everything: an elevator's runs counter goes 100 -> 105 before the restart and
105 -> 112 after it, so the day's runs are 12 (7 if the restart had lost the day); a manhole's
peak level 0.80 m was read before the restart, 0.50 m after.

No step races the clock: each run does its work half an hour or more before midnight, and
midnight comes when the test moves the clock to two seconds before it. Each report is retained on
its device's topic, so a dashboard that subscribes afterwards gets it."""

import sys

import harness as h

PREFIX = "caretaker/hongmei/gw-test"
# UTC times the clock is set to: 23:00, 23:30 and 23:59:58 in Shanghai (UTC+8).
FIRST_START = "2026-11-23 15:00:00"
SECOND_START = "2026-11-23 15:30:00"
BEFORE_MIDNIGHT = "2026-11-23 15:59:58"
MIDNIGHT_MS = 1795449600000  # 2026-11-24 00:00 in Shanghai
DAY = "2026-11-23"


# The readings as a consumer receives them (h.ReadingMirror): those the broker acknowledged in
# time are never written to the store.
def count_readings(db, device):
    return h.scalar(db, "SELECT count(*) FROM polls WHERE device = ?", (device,)) or 0


def read(db, device, point, value):
    return h.scalar(db, "SELECT count(*) FROM reading_values WHERE device = ? AND point = ? AND value = ?",
                    (device, point, value))


def test(started):
    work = h.Workdir("reports-daily")
    lift = {"mode": 0, "moving": False, "dir_up": False, "door_zone": True, "door_open": False, "door_closed": True,
            "occupied": False, "safety_circuit": True, "door_lock": True, "mains_power": True, "floor": 1,
            "speed": 0.0, "runs": 100, "running_hours": 10, "door_cycles": 200}
    scen = h.scenario(work, [{"unit": 1, "driver": "elevator/generic", "values": lift},
                             {"unit": 2, "driver": "level/ultrasonic-generic", "values": {"decimals": 2, "level": 0.30}}])
    sim, broker, sub = h.stack(started, work, scen, PREFIX + "/reports/daily/+")
    # The report counts polls, checked against the stored readings: every poll stored in full
    # (report_max_s 0).
    bus = {"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": sim.tcp_port, "timeout_ms": 300,
           "devices": [{"id": "lift-1", "unit": 1, "driver": "elevator/generic", "poll_ms": 200, "report_max_s": 0},
                       {"id": "manhole-1", "unit": 2, "driver": "level/ultrasonic-generic", "poll_ms": 200,
                        "params": {"pipe_d_m": 2.0, "high_m": 2.0}, "report_max_s": 0}]}
    cfg = h.base_config(work, [bus], mqtt=broker.mqtt())
    received = h.ReadingMirror(work, broker.port, PREFIX)
    started.append(received)
    db = received.path

    clock = h.SetClock(work, FIRST_START)
    first = h.Daemon(work, cfg, name="before", env=clock.env())
    started.append(first)
    h.wait_until("the first run reading both devices",
                 lambda: count_readings(db, "lift-1") >= 5 and count_readings(db, "manhole-1") >= 5)
    sim.cmd("set 1 runs 105")
    sim.cmd("set 2 level 0.80")
    h.wait_until("readings of runs 105 and level 0.80 stored",
                 lambda: read(db, "lift-1", "runs", 105) and read(db, "manhole-1", "level", 0.8))
    if first.stop() != 0:
        raise h.TestFailure("first run exited %s:\n%s" % (first.proc.returncode, open(first.log_path).read()))
    started.remove(first)
    if sub.received():
        raise h.TestFailure("a report before midnight: %r" % sub.received())

    sim.cmd("set 2 level 0.50")
    clock.set(SECOND_START)
    second = h.Daemon(work, cfg, name="after", env=clock.env())
    started.append(second)
    n = count_readings(db, "lift-1")
    h.wait_until("the second run reading", lambda: count_readings(db, "lift-1") >= n + 5)
    sim.cmd("set 1 runs 112")
    h.wait_until("runs 112 stored", lambda: read(db, "lift-1", "runs", 112))
    last = h.scalar(db, "SELECT max(ts) FROM polls")
    if last >= MIDNIGHT_MS or sub.received():
        raise h.TestFailure("midnight came before the test moved the clock: last reading at %d, reports %r" %
                            (last, sub.received()))
    clock.set(BEFORE_MIDNIGHT)
    reports = h.wait_until("the day's reports after midnight", lambda: len(sub.received()) >= 2 and sub.received(), 30)
    by_device = {m["device"]: m for _, m, _ in reports}
    lift_report, level_report = by_device.get("lift-1"), by_device.get("manhole-1")
    if not lift_report or not level_report:
        raise h.TestFailure("reports %r" % reports)
    for r in (lift_report, level_report):
        if r["day"] != DAY or r["timezone"] != "Asia/Shanghai" or r["report"] != "daily" or \
                r["to_ts"] - r["from_ts"] != 86400000:
            raise h.TestFailure("report head %r" % r)
    if lift_report["runs"] != 12:
        raise h.TestFailure("runs %r across the restart (expected 100 -> 105 -> 112: 12)" % lift_report["runs"])
    if level_report["peak_level"] != 0.8:
        raise h.TestFailure("peak level %r (0.80 was read before the restart)" % level_report["peak_level"])
    for topic, r, _ in reports:
        if topic != "%s/reports/daily/%s" % (PREFIX, r["device"]):
            raise h.TestFailure("report of %s on %s" % (r["device"], topic))
    late = h.Subscriber(broker.port, PREFIX + "/reports/daily/+", name="late subscriber")
    started.append(late)
    kept = h.wait_until("both reports retained for a late subscriber", lambda: len(late.received()) >= 2 and late.received())
    if sorted((m["device"], m["seq"], retain) for _, m, retain in kept) != \
            sorted((m["device"], m["seq"], True) for _, m, _ in reports):
        raise h.TestFailure("retained reports %r, published %r" % (kept, reports))
    if not second.running():
        raise h.TestFailure("the daemon stopped:\n" + second.output())
    if second.stop() != 0:
        raise h.TestFailure("second run exited %s" % second.proc.returncode)
    print("report of %s: runs %d, peak level %.2f m, %d + %d readings" %
          (DAY, lift_report["runs"], level_report["peak_level"], lift_report["readings"], level_report["readings"]))


sys.exit(h.run(test))
