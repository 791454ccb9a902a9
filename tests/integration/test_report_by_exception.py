"""Report by exception end to end (simulator, daemon, mosquitto): a manhole's level meter polled
every 200 ms, its level with the profile's deadband of 0.005 m, a full snapshot at least every 2 s.

- The first reading is a full snapshot (`full` true, `snapshot_ts` its own `ts`), every point in it.
- The level moves by 0.003 m, inside the deadband: no reading carries it but a full snapshot, yet
  the rules see it — the high-level alert (high_m 1.002 m) is raised with the value 1.003.
- The level moves by more than the deadband: a reading with that point alone, `full` false, whose
  `snapshot_ts` is the `ts` of the last full snapshot before it.
- A full snapshot follows within report_max_s, with every point again.
- Polls outnumber readings: that is the saving."""

import json
import sys

import harness as h

PREFIX = "caretaker/hongmei/gw-test"
POINTS = {"level", "decimals", "distance", "status", "echo_lost", "blind_zone", "over_range", "sensor_fault",
          "temperature"}
REPORT_MAX_S = 2


def check(cond, what, *shown):
    if not cond:
        raise h.TestFailure(what + (": " + " ".join(json.dumps(x, ensure_ascii=False) for x in shown) if shown else ""))


def points_of(m):
    return set(m["values"]) | set(m.get("invalid", [])) | set(m.get("offline", []))


def test(started):
    work = h.Workdir("report-by-exception")
    devices = [{"unit": 1, "driver": "level/ultrasonic-generic",
                "values": {"decimals": 3, "level": 1.0, "distance": 1.5, "temperature": 18.5}}]
    sim, broker, sub = h.stack(started, work, h.scenario(work, devices), PREFIX + "/#")
    # A wide pipe keeps the surcharge rule out of the way; high_m sits inside the deadband above 1.0 m.
    params = {"pipe_d_m": 3.0, "high_m": 1.002, "hysteresis_m": 0.001}
    buses = [{"id": "bus-1", "type": "tcp", "host": "127.0.0.1", "port": sim.tcp_port, "timeout_ms": 500,
              "devices": [{"id": "manhole-1", "unit": 1, "driver": "level/ultrasonic-generic", "poll_ms": 200,
                           "report_max_s": REPORT_MAX_S, "params": params}]}]
    cfg = h.base_config(work, buses, mqtt=broker.mqtt(metrics_s=1))
    db = cfg["store"]["path"]
    d = h.Daemon(work, cfg)
    started.append(d)

    def readings():
        return [m for _, m, _ in sub.received("/readings")]

    first = h.wait_until("the first reading", readings)[0]
    check(first["full"] is True and first["snapshot_ts"] == first["ts"] and points_of(first) == POINTS,
          "the first reading is a full snapshot of every point", first)
    check(first["values"]["level"] == 1.0, "level 1.0 m", first)

    # Inside the deadband: judged, not sent.
    sim.cmd("set 1 level 1.003")
    raised = h.wait_until("high level raised on a move inside the deadband", lambda: [
        m for _, m, _ in sub.received("/alerts") if m.get("rule") == "high_level" and m.get("event") == "raised"])[0]
    check(raised["value"] == 1.003, "the rules saw 1.003 m", raised)
    partial = [m for m in readings() if not m["full"]]
    check(not partial, "a move inside the deadband sent nothing but full snapshots", partial)

    # Beyond it: that point alone.
    sim.cmd("set 1 level 1.012")
    moved = h.wait_until("a partial reading with the level", lambda: [
        m for m in readings() if not m["full"] and "level" in m["values"]])[0]
    check(points_of(moved) == {"level"} and moved["values"]["level"] == 1.012,
          "only the point that moved, with its value", moved)
    before = [m for m in readings() if m["full"] and m["seq"] < moved["seq"]]
    check(before and moved["snapshot_ts"] == before[-1]["ts"] and moved["snapshot_ts"] < moved["ts"],
          "snapshot_ts is the ts of the last full snapshot before it", moved, before[-1:])

    # The heartbeat: every point again, within report_max_s (waited for, with room to spare).
    beat = h.wait_until("a full snapshot after the partial reading", lambda: [
        m for m in readings() if m["full"] and m["seq"] > moved["seq"]], REPORT_MAX_S * 5 + 5)[0]
    check(points_of(beat) == POINTS and beat["values"]["level"] == 1.012 and beat["snapshot_ts"] == beat["ts"],
          "the heartbeat holds every point", beat)

    # Fewer readings than polls: of the polls a metrics message counts, the readings up to its time.
    metrics = h.wait_until("metrics counting 20 polls or more", lambda: [
        m for _, m, _ in sub.received("/metrics") if m["devices"]["manhole-1"]["polls_ok"] >= 20])[0]
    polls = metrics["devices"]["manhole-1"]["polls_ok"]
    rows = len({m["seq"] for m in readings() if m["ts"] <= metrics["ts"]})
    check(0 < rows and rows * 2 <= polls, "at most one reading for two polls", rows, polls)
    check(d.stop() == 0, "daemon exited cleanly")
    print("%d readings for %d polls" % (rows, polls))


sys.exit(h.run(test))
