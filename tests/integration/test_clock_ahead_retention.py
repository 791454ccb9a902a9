"""Retention and an unsynchronized clock that is months ahead (simulator, daemon, mosquitto; the
wall clock moved by libfaketime, the kernel's NTP state by tests/integration/adjtimex_shim.c).

A first run, synchronized, keeps a day of counts for the monthly report (`device_day`). The box
starts again with its clock 200 days ahead and not synchronized (a clock chip gone wrong, no NTP
answer yet). Judged by that clock, the day would be older than the 100 days the store keeps
history for; but a clock that is not synchronized judges no retention: after the first expiry
pass is due (5 s after the start: waited for as 40 polls of 200 ms), the day is still there."""

import json
import sys

import harness as h

PREFIX = "caretaker/hongmei/gw-test"
FIRST = "2026-12-05 02:00:00"
AHEAD = "2027-06-23 02:00:00"
AHEAD_MS = 1813716000000 - 86400000  # a day before AHEAD: only the second run's readings are later


def check(cond, what, *shown):
    if not cond:
        raise h.TestFailure(what + (": " + " ".join(json.dumps(x, ensure_ascii=False) for x in shown) if shown else ""))


def test(started):
    work = h.Workdir("clock-ahead-retention")
    devices = [{"unit": 1, "driver": "level/ultrasonic-generic",
                "values": {"decimals": 3, "level": 1.0, "distance": 1.5, "temperature": 18.5}}]
    sim, broker, sub = h.stack(started, work, h.scenario(work, devices), PREFIX + "/#")
    buses = [{"id": "bus-1", "type": "tcp", "host": "127.0.0.1", "port": sim.tcp_port, "timeout_ms": 500,
              "devices": [{"id": "manhole-1", "unit": 1, "driver": "level/ultrasonic-generic", "poll_ms": 200,
                           "report_max_s": 0, "params": {"pipe_d_m": 3.0, "high_m": 2.5}}]}]
    cfg = h.base_config(work, buses, mqtt=broker.mqtt())
    db = cfg["store"]["path"]
    clock = h.SetClock(work, FIRST)
    sync = h.ClockSync(work, True)

    def readings(after_ms):
        return [m for _, m, _ in sub.received("/devices/manhole-1/readings") if m["ts"] > after_ms]

    d = h.Daemon(work, cfg, env=sync.env(clock.env()))
    started.append(d)
    h.wait_until("readings of the first run", lambda: readings(0), 20)
    check(d.stop() == 0, "clean stop", d.proc.returncode)
    days = h.query(db, "SELECT day_start FROM device_day WHERE device = 'manhole-1'")
    check(len(days) == 1, "the first run kept its day", days)

    clock.set(AHEAD)
    sync.set(False)
    again = h.Daemon(work, cfg, name="caretaker-ahead", env=sync.env(clock.env()))
    started.append(again)
    h.wait_until("40 polls of the run ahead", lambda: len(readings(AHEAD_MS)) >= 40, 30)
    kept = h.query(db, "SELECT day_start FROM device_day WHERE device = 'manhole-1' AND day_start = ?1", (days[0][0],))
    check(kept, "the first run's day is kept: a clock not synchronized judges no retention", days)
    check(again.stop() == 0, "clean stop", again.proc.returncode)


if __name__ == "__main__":
    sys.exit(h.run(test))
