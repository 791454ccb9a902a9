"""Daily reports made of the figures the profiles declare, end to end: a pump controller, a rain
gauge and a NICE3000+ lift controller served by the simulator, the real daemon on a wall clock the
test sets (libfaketime) across a local midnight in Asia/Shanghai, and the reports on
reports/daily/<device> through mosquitto.

What each profile reports is by hand here, from docs/mqtt.md:
- the pump (pump/controller-generic): `starts`, the delta of its start counter (40 -> 41 -> 43: 3),
  and `running_hours`, the time its run flag read 1. That time is worked out here from the
  readings the daemon stored (each reading's state held to the next one, at most 60 s at this poll
  rate), so it is checked against the record, not against a clock;
- the rain gauge (rain/gauge-generic): `rainfall`, the delta of its rainfall counter
  (100.0 -> 112.5 mm: 12.5), and `peak_intensity` 8.4 mm/h, the highest intensity stored;
- the NICE3000+ (elevator/monarch-nice3000plus): `runs`, its starts from standstill (speed
  0 -> 0.5 -> 0 -> 0.8 -> 0: 2), and `door_cycles`, the times its door reached the open limit (1).

Every change is made, then waited for in the store, half an hour or more before midnight; midnight
comes when the test moves the clock to two seconds before it."""

import sys

import harness as h

PREFIX = "caretaker/hongmei/gw-test"
START = "2026-11-23 15:00:00"            # 23:00 in Shanghai (UTC+8)
BEFORE_MIDNIGHT = "2026-11-23 15:59:58"
MIDNIGHT_MS = 1795449600000              # 2026-11-24 00:00 in Shanghai
DAY = "2026-11-23"
POLL_MS = 200
HOLD_MS = max(3 * POLL_MS, 60000)        # how long a state read holds (docs/mqtt.md)

PUMP = {"running": False, "auto_mode": True, "pit_level": 0.5, "current": 0.0, "run_hours": 1200, "starts": 40}
RAIN = {"intensity": 0.0, "rainfall": 100.0}
LIFT = {"speed": 0.0, "rated_speed": 1.75, "floor": 3, "load": 0, "door_closed": True, "door_open": False,
        "mode": 7, "car_state": 4, "direction": 3, "fault_code": 0, "bus_voltage": 540}


def check(cond, what, *shown):
    if not cond:
        raise h.TestFailure(what + (": %r" % (shown,) if shown else ""))


def stored(db, device, point, value):
    return h.scalar(db, "SELECT count(*) FROM reading_values WHERE device = ? AND point = ? AND value = ? "
                        "AND quality = 0", (device, point, value))


def running_hours_from_store(db):
    """The pump's time with its run flag on, from the stored readings, as the reporter counts it."""
    rows = h.query(db, "SELECT ts, value FROM reading_values WHERE device = 'pump-1' AND point = 'running' "
                       "AND quality = 0 ORDER BY seq")
    ms = 0
    for (ts0, v0), (ts1, _) in zip(rows, rows[1:]):
        if v0:
            ms += min(ts1 - ts0, HOLD_MS)
    return ms / 3600000.0


def test(started):
    work = h.Workdir("reports-profiles")
    scen = h.scenario(work, [{"unit": 1, "driver": "pump/controller-generic", "values": PUMP},
                             {"unit": 2, "driver": "rain/gauge-generic", "values": RAIN},
                             {"unit": 3, "driver": "elevator/monarch-nice3000plus", "values": LIFT}])
    sim = h.Sim(work, scen, tcp=True)
    started.append(sim)
    broker = h.Broker(work)
    started.append(broker)
    sub = h.Subscriber(broker.port, PREFIX + "/reports/daily/+")
    started.append(sub)
    bus = {"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": sim.tcp_port, "timeout_ms": 300,
           "devices": [{"id": "pump-1", "unit": 1, "driver": "pump/controller-generic", "poll_ms": POLL_MS},
                       {"id": "rain-1", "unit": 2, "driver": "rain/gauge-generic", "poll_ms": POLL_MS},
                       {"id": "lift-1", "unit": 3, "driver": "elevator/monarch-nice3000plus", "poll_ms": POLL_MS}]}
    # The expected figures are worked out from the stored readings: every poll stored in full.
    for dev in bus["devices"]:
        dev["report_max_s"] = 0
    cfg = h.base_config(work, [bus], mqtt={"host": "127.0.0.1", "port": broker.port})
    # The readings as a consumer receives them: those the broker acknowledged in time are never
    # written to the store
    received = h.ReadingMirror(work, broker.port, PREFIX)
    started.append(received)
    db = received.path
    clock = h.SetClock(work, START)
    d = h.Daemon(work, cfg, env=clock.env())
    started.append(d)
    h.wait_until("the first readings of all three",
                 lambda: stored(db, "pump-1", "starts", 40) and stored(db, "rain-1", "rainfall", 100.0) and
                 stored(db, "lift-1", "speed", 0))

    def step(cmd, device, point, value, polls=1):
        sim.cmd(cmd)
        h.wait_until("%s stored %d times" % (cmd, polls), lambda: (stored(db, device, point, value) or 0) >= polls)

    # The pump starts (counter 41), runs for a few polls, stops; later a second start is counted
    # by the controller while its run is too short to be seen (43).
    step("set 1 running 1", "pump-1", "running", 1)
    step("set 1 starts 41", "pump-1", "starts", 41)
    h.wait_until("the pump seen running for five polls", lambda: stored(db, "pump-1", "running", 1) >= 5)
    step("set 1 running 0", "pump-1", "running", 0, polls=stored(db, "pump-1", "running", 0) + 1)
    step("set 1 starts 43", "pump-1", "starts", 43)
    # A shower: intensity up to 8.4 mm/h and back, 12.5 mm in the gauge.
    step("set 2 intensity 8.4", "rain-1", "intensity", 8.4)
    step("set 2 rainfall 112.5", "rain-1", "rainfall", 112.5)
    step("set 2 intensity 0", "rain-1", "intensity", 0, polls=stored(db, "rain-1", "intensity", 0) + 1)
    # Two runs of the lift and one door opening between them.
    step("set 3 speed 0.5", "lift-1", "speed", 0.5)
    step("set 3 speed 0", "lift-1", "speed", 0, polls=stored(db, "lift-1", "speed", 0) + 1)
    sim.cmd("set 3 door_closed 0")
    step("set 3 door_open 1", "lift-1", "door_open", 1)
    sim.cmd("set 3 door_open 0")
    step("set 3 door_closed 1", "lift-1", "door_closed", 1, polls=stored(db, "lift-1", "door_closed", 1) + 1)
    step("set 3 speed 0.8", "lift-1", "speed", 0.8)
    step("set 3 speed 0", "lift-1", "speed", 0, polls=stored(db, "lift-1", "speed", 0) + 1)

    last = h.scalar(db, "SELECT max(ts) FROM polls")
    check(last < MIDNIGHT_MS and not sub.received(), "midnight came before the test moved the clock", last)
    clock.set(BEFORE_MIDNIGHT)
    reports = h.wait_until("the day's three reports after midnight",
                           lambda: len(sub.received()) >= 3 and sub.received(), 30)
    by_device = {m["device"]: m for _, m, _ in reports}
    pump, rain, lift = by_device.get("pump-1"), by_device.get("rain-1"), by_device.get("lift-1")
    check(pump and rain and lift, "a report of each device", reports)
    for r in (pump, rain, lift):
        check(r["day"] == DAY and r["report"] == "daily", "report head", r)

    expected_hours = running_hours_from_store(db)
    check(expected_hours > 0, "the stored readings show the pump running")
    check(pump["starts"] == 3, "pump starts 40 -> 41 -> 43: 3", pump)
    check(abs(pump["running_hours"] - expected_hours) < 1e-9,
          "pump running hours as the stored run flag gives them (%.9f)" % expected_hours, pump)
    check(pump["units"].get("running_hours") == "h" and "run_hours" not in pump, "pump units and members", pump)
    check(rain["rainfall"] == 12.5, "rainfall 100.0 -> 112.5 mm: 12.5", rain)
    peak = h.scalar(db, "SELECT max(value) FROM reading_values WHERE device = 'rain-1' AND point = 'intensity'")
    check(rain["peak_intensity"] == peak and abs(peak - 8.4) < 1e-9 and rain["peak_intensity_ts"],
          "peak intensity 8.4 mm/h with its time", rain)
    check(rain["units"] == {"rainfall": "mm", "peak_intensity": "mm/h"}, "rain units", rain)
    check(lift["runs"] == 2 and lift["door_cycles"] == 1, "lift runs 2 and one door cycle", lift)
    check(d.running(), "the daemon still runs", d.output())
    check(d.stop() == 0, "daemon stopped cleanly")
    print("report of %s: pump %d starts, %.6f h running; rain %.1f mm, peak %.1f mm/h; lift %d runs" %
          (DAY, pump["starts"], pump["running_hours"], rain["rainfall"], rain["peak_intensity"], lift["runs"]))


sys.exit(h.run(test))
