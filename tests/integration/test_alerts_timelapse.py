"""Alerts that need hours or days of history, end to end: the daemon runs under libfaketime with
its wall clock 3600 times faster than real (one real second is an hour; its monotonic clock, the
simulator and the broker keep real time), polling every 100 ms (six minutes of its time).

- fm-drop: 12 m3/h for two days, then 3: sudden_drop against the same hour of the last two days
  (baseline_days 2), raised once the drop has held 30 minutes; not before.
- fm-rain: 12 m3/h for two days; then it rains (rain-1, a rain gauge bound as its input rain)
  and the flow rises to 30: rain_ingress; not while it is dry.
- mh-up: its level rising 0.1 m an hour while the flow downstream (fm-trend, its input
  downstream_flow) falls: suspected_blockage_trend.
Each raise carries the sewage contract and its deadline in the daemon's own time."""

import json
import sys

import harness as h

PREFIX = "caretaker/hongmei/gw-test"
SPEED = 3600
START_MS = 1794787200000  # 2026-11-16 00:00 UTC, where the daemon's clock starts
# Two days of steady flow and three hours more, in the daemon's time (its readings' ts), before
# the drop and the rain: a stalled test machine slows the daemon's days, never shortens them.
BASELINE_END_MS = START_MS + (2 * 24 + 3) * 3600 * 1000


def test(started):
    work = h.Workdir("alerts-timelapse")
    scen = h.scenario(work, [
        {"unit": 1, "driver": "flow/electromagnetic-generic", "values": {"flow": 12.0}},
        {"unit": 2, "driver": "flow/electromagnetic-generic", "values": {"flow": 12.0}},
        {"unit": 3, "driver": "rain/gauge-generic", "values": {"intensity": 0.0}},
        {"unit": 4, "driver": "level/ultrasonic-generic", "values": {"decimals": 2, "level": 0.5},
         "ramps": {"level": {"from": 0.5, "to": 2.5, "over_s": 20, "at_s": 3}}},
        {"unit": 5, "driver": "flow/electromagnetic-generic", "values": {"flow": 20.0},
         "ramps": {"flow": {"from": 20.0, "to": 5.0, "over_s": 20, "at_s": 3}}},
    ])
    sim, broker, sub = h.stack(started, work, scen, PREFIX + "/alerts")
    quiet = {"high_m": 5.0, "pipe_d_m": 5.0}  # no level alerts in the way of the trend
    base = {"baseline_days": 2}
    devices = [
        {"id": "fm-drop", "unit": 1, "driver": "flow/electromagnetic-generic", "params": base},
        {"id": "fm-rain", "unit": 2, "driver": "flow/electromagnetic-generic", "params": base,
         "inputs": {"rain": "rain-1.intensity"}},
        {"id": "rain-1", "unit": 3, "driver": "rain/gauge-generic"},
        {"id": "mh-up", "unit": 4, "driver": "level/ultrasonic-generic", "params": quiet,
         "inputs": {"downstream_flow": "fm-trend.flow"}},
        {"id": "fm-trend", "unit": 5, "driver": "flow/electromagnetic-generic"},
    ]
    for dv in devices:
        dv["poll_ms"] = 100
    bus = {"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": sim.tcp_port, "timeout_ms": 300,
           "devices": devices}
    contracts = [{"id": "sewage-om", "contractor": "排水运维公司", "covers": ["sewage"],
                  "respond_minutes": {"critical": 120, "major": 360, "minor": 2160, "info": 4320}}]
    cfg = h.base_config(work, [bus], mqtt=broker.mqtt(), contracts=contracts)
    db = cfg["store"]["path"]
    received = h.ReadingMirror(work, broker.port, PREFIX)  # delivered readings are not written
    started.append(received)
    d = h.Daemon(work, cfg, env=h.faked_clock("@2026-11-16 00:00:00 x%d" % SPEED))
    started.append(d)

    def raised(device, rule):
        return [m for _, m, _ in sub.received()
                if m.get("device") == device and m.get("rule") == rule and m.get("event") == "raised"]

    ev = h.wait_until("suspected_blockage_trend on mh-up", lambda: raised("mh-up", "suspected_blockage_trend"), 30)[0]
    check_deadline(ev, "major", 360)

    # Two days of steady flow, then the drop and the rain
    h.wait_until("two days and three hours of the daemon's time",
                 lambda: (h.scalar(received.path, "SELECT max(ts) FROM polls") or 0) >= BASELINE_END_MS,
                 2 * (BASELINE_END_MS - START_MS) / 1000 / SPEED, 0.2)
    # The alerts of those readings are committed within store.commit_ms; the subscriber may lag
    stored = h.query(db, "SELECT device, rule FROM alerts WHERE (device, rule) IN "
                         "(VALUES ('fm-drop', 'sudden_drop'), ('fm-rain', 'rain_ingress'))")
    if stored or raised("fm-drop", "sudden_drop") or raised("fm-rain", "rain_ingress"):
        raise h.TestFailure("raised on steady flow: %r %r" % (stored, sub.received()))
    sim.cmd("set 1 flow 3")
    sim.cmd("set 3 intensity 5")
    sim.cmd("set 2 flow 30")
    ev = h.wait_until("sudden_drop on fm-drop", lambda: raised("fm-drop", "sudden_drop"), 30)[0]
    check_deadline(ev, "minor", 2160)
    if ev["value"] != 3:
        raise h.TestFailure("sudden drop event %r" % ev)
    ev = h.wait_until("rain_ingress on fm-rain", lambda: raised("fm-rain", "rain_ingress"), 30)[0]
    check_deadline(ev, "minor", 2160)
    if raised("fm-drop", "rain_ingress"):
        raise h.TestFailure("rain_ingress on fm-drop, whose rain input is not bound")
    if d.stop() != 0:
        raise h.TestFailure("daemon exited %s" % d.proc.returncode)


def check_deadline(ev, severity, minutes):
    if ev["severity"] != severity or ev["contract"] != "sewage-om" or \
            ev["respond_by_ts"] != ev["raised_ts"] + minutes * 60000:
        raise h.TestFailure("event %s" % json.dumps(ev, ensure_ascii=False))


sys.exit(h.run(test))
