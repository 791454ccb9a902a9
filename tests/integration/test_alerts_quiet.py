"""A quiet day raises nothing: one device of every shipped profile (drivers/*/*.json) serving the
values of a device in good order — levels and flows that move as real ones do, counters that
count, no fault bit set — polled through a whole day of the daemon's time, and not one alert or
event may be raised. A false alarm from any rule of any profile fails it.

The daemon's wall clock runs 3600 times faster than real under libfaketime (as in
test_alerts_timelapse), so the rules over hours (flat lines over 2 h, an idle lift over 8 daytime
hours, the totalizer's window) are judged many times over; the day is counted by the daemon's own
readings, not by real seconds. At that pace a poll a tenth of a second late looks like six
minutes without data, so the missing-data and lost-contact delays are set to half a day here:
those rules are asserted in real time by the catalogue (alert-missing-data, alert-comm-lost)."""

import glob
import os
import sys

import harness as h

PREFIX = "caretaker/hongmei/gw-test"
SPEED = 3600
START_MS = 1794787200000  # 2026-11-16 00:00 UTC (08:00 in Shanghai), where the daemon's clock starts
DAY_END_MS = START_MS + 25 * 3600 * 1000  # a whole day and an hour, by the daemon's readings

# Each wave's period is 5 real seconds, five hours of the daemon's: it never stands still for the
# two hours of a flat-line window.
WAVE_S = 5
LEVEL = {"waves": {"level": {"base": 0.25, "amplitude": 0.05, "period_s": WAVE_S}}}  # below the 0.4 m pipe
FLOW = {"waves": {"flow": {"base": 12.0, "amplitude": 4.0, "period_s": WAVE_S}}}
# Normal values by profile, by hand from each profile's points (a point left out serves 0: no
# fault bit, no alarm word). A profile added under drivers/ must be given its normal day here.
NORMAL = {
    # at a floor in the door zone, door closed and locked, empty; it runs an hour in real time
    "elevator/generic": {"values": {"mode": 0, "door_zone": True, "door_closed": True, "safety_circuit": True,
                                    "door_lock": True, "mains_power": True, "floor": 1, "runs": 100,
                                    "door_cycles": 200, "running_hours": 10},
                         "counters": {"runs": {"every_s": 1}, "door_cycles": {"step": 2, "every_s": 1}}},
    # normal mode, running below its rated speed with the door closed, empty
    "elevator/monarch-nice3000plus": {"values": {"mode": 7, "car_state": 5, "direction": 1, "floor": 3,
                                                 "rated_speed": 1.75, "door_closed": True, "bus_voltage": 540},
                                      "waves": {"speed": {"base": 0.6, "amplitude": 0.4, "period_s": WAVE_S}}},
    "flow/electromagnetic-generic": dict(FLOW, values={"forward_int": 1000}),
    "flow/microsensor-mfe600e": dict(FLOW, values={"forward_int_low": 1000}),
    "flow/ultrasonic-generic": dict(FLOW, values={"positive_int": 1000, "signal_quality": 90}),
    "flow/xylem-magflux": dict(FLOW, values={"forward_total": 1000}),
    "level/radar-float": dict(LEVEL, values={}),
    "level/ultrasonic-generic": dict(LEVEL, values={"decimals": 2}),
    "level/vega-vegapuls-c21": dict(LEVEL, values={}),
    # in automatic mode, idle, the pit well below its start level
    "pump/controller-generic": {"values": {"auto_mode": True},
                                "waves": {"pit_level": {"base": 0.8, "amplitude": 0.3, "period_s": WAVE_S}}},
    "rain/gauge-generic": {"values": {"intensity": 0.0}},
    # seated and closed, the battery well charged
    "cover/sensor-generic": {"values": {"tilt": 0.5, "battery": 85}},
}
SLOW_TO_SEE = {"missing_minor_s": 12 * 3600, "missing_major_s": 18 * 3600, "missing_critical_s": 24 * 3600,
               "comm_lost_s": 12 * 3600}


def profiles():
    return sorted(os.path.relpath(p, h.DRIVERS)[:-5] for p in glob.glob(os.path.join(h.DRIVERS, "*", "*.json")))


def declared_params(driver):
    import json
    with open(os.path.join(h.DRIVERS, driver + ".json")) as f:
        return json.load(f).get("params", {})


def test(started):
    drivers = profiles()
    unknown = sorted(set(drivers) - set(NORMAL))
    if unknown:
        raise h.TestFailure("give these profiles their normal values in NORMAL: %s" % ", ".join(unknown))
    work = h.Workdir("alerts-quiet")
    scen = h.scenario(work, [dict(NORMAL[drv], unit=u, driver=drv) for u, drv in enumerate(drivers, 1)])
    sim, broker, sub = h.stack(started, work, scen, PREFIX + "/alerts")
    devices = []
    for u, drv in enumerate(drivers, 1):
        params = {p: v for p, v in SLOW_TO_SEE.items() if p in declared_params(drv)}
        devices.append({"id": drv.replace("/", "-"), "unit": u, "driver": drv, "poll_ms": 100, "params": params})
    buses = [{"id": "bus-%d" % (i + 1), "type": "tcp", "host": "127.0.0.1", "port": sim.tcp_port, "timeout_ms": 500,
              "devices": devices[i::2]} for i in range(2)]
    cfg = h.base_config(work, buses, mqtt=broker.mqtt())
    db = cfg["store"]["path"]
    received = h.ReadingMirror(work, broker.port, PREFIX)  # delivered readings are not written
    started.append(received)
    d = h.Daemon(work, cfg, env=h.faked_clock("@2026-11-16 00:00:00 x%d" % SPEED))
    started.append(d)

    def day_read():
        """Every device read past the day's end (its latest reading's ts, the daemon's clock)."""
        rows = h.query(received.path, "SELECT device, max(ts) FROM polls GROUP BY device")
        return len(rows) == len(devices) and min(ts for _, ts in rows) >= DAY_END_MS

    h.wait_until("a day of the daemon's time read from every device", day_read,
                 2 * (DAY_END_MS - START_MS) / 1000 / SPEED, 0.2)
    # A clean stop commits every alert those readings raised; the subscriber may lag behind them
    if d.stop() != 0:
        raise h.TestFailure("daemon exited %s" % d.proc.returncode)
    stored = h.query(db, "SELECT device, rule, state FROM alerts")
    events = h.query(db, "SELECT body FROM outbox WHERE kind = 4")
    if stored or events or sub.received():
        raise h.TestFailure("raised on a quiet day: %r %r %r" % (stored, events[:5], sub.received()[:5]))
    readings = h.scalar(received.path, "SELECT count(*) FROM polls")
    print("%d profiles, %d readings over a day of the daemon's time, no alert" % (len(drivers), readings))


sys.exit(h.run(test))
