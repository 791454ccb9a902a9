"""Report by exception across a clock sync of a small step (simulator, daemon, mosquitto; the wall
clock moved by libfaketime, the kernel's NTP state by tests/integration/adjtimex_shim.c): a box
whose clock is 40 s behind when it starts, unsynchronized, until NTP steps it.

A consumer corrects the readings flagged `"clock": "unsynced"` by the step of the
`clock_synchronized` event, and rebuilds a device's series from a full snapshot and the partial
readings whose `snapshot_ts` is that snapshot's `ts`. So no partial reading after the sync may
name a snapshot taken before it (by its held time, which the consumer no longer has): the first
reading after the sync is a full snapshot, although the step (40 s) is shorter than report_max_s
(300 s)."""

import json
import sys

import harness as h

PREFIX = "caretaker/hongmei/gw-test"
BOOT = "2026-12-05 01:59:20"
SYNCED = "2026-12-05 02:00:00"


def check(cond, what, *shown):
    if not cond:
        raise h.TestFailure(what + (": " + " ".join(json.dumps(x, ensure_ascii=False) for x in shown) if shown else ""))


def test(started):
    work = h.Workdir("clock-sync-partial")
    devices = [{"unit": 1, "driver": "level/ultrasonic-generic",
                "values": {"decimals": 3, "level": 1.0, "distance": 1.5, "temperature": 18.5}}]
    sim, broker, sub = h.stack(started, work, h.scenario(work, devices), PREFIX + "/#")
    params = {"pipe_d_m": 3.0, "high_m": 2.5, "hysteresis_m": 0.001}
    buses = [{"id": "bus-1", "type": "tcp", "host": "127.0.0.1", "port": sim.tcp_port, "timeout_ms": 500,
              "devices": [{"id": "manhole-1", "unit": 1, "driver": "level/ultrasonic-generic", "poll_ms": 200,
                           "report_max_s": 300, "params": params}]}]
    cfg = h.base_config(work, buses, mqtt=broker.mqtt())
    clock = h.SetClock(work, BOOT)
    sync = h.ClockSync(work, False)
    d = h.Daemon(work, cfg, env=sync.env(clock.env()))
    started.append(d)

    def readings():
        return [m for _, m, _ in sub.received("/devices/manhole-1/readings")]

    def events(name):
        return [m for _, m, _ in sub.received("/events") if m.get("event") == name]

    # Before the sync: a full snapshot, then a partial naming it, both flagged.
    first = h.wait_until("the first reading", readings, 20)[0]
    check(first["full"] and first.get("clock") == "unsynced", "a full snapshot, flagged", first)
    sim.cmd("set 1 level 1.1")
    h.wait_until("a reading of 1.1 m", lambda: [m for m in readings() if m["values"].get("level") == 1.1], 20)
    sim.cmd("set 1 level 1.15")
    h.wait_until("a partial reading before the sync", lambda: [m for m in readings() if not m["full"]], 20)

    clock.set(SYNCED)
    sync.set(True)
    synced = h.wait_until("a clock_synchronized event", lambda: events("clock_synchronized"), 20)[0]
    check(0 < synced["step_ms"] < 300000, "a step shorter than report_max_s", synced)

    # A change after the sync: the reading that carries it must not name a held snapshot.
    sim.cmd("set 1 level 1.2")
    after = h.wait_until("a reading after the sync", lambda: [m for m in readings() if "clock" not in m], 20)
    check(after[0]["full"] and after[0]["snapshot_ts"] == after[0]["ts"],
          "the first reading after the sync is a full snapshot", after[0], synced)
    held = [m["ts"] for m in readings() if m.get("clock") == "unsynced"]
    named = [m for m in after if m["snapshot_ts"] in held]
    check(not named, "no reading after the sync names a snapshot of held time", named)
    check(d.stop() == 0, "clean stop", d.proc.returncode)


if __name__ == "__main__":
    sys.exit(h.run(test))
