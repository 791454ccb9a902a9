"""Rules across devices, end to end (simulator, daemon, mosquitto): manhole-up's level profile
reads the level of manhole-down through the input downstream_level bound in the config. Water
standing 0.1 m or more deeper upstream raises suspected_blockage on manhole-up (major, the
sewage contract, its deadline), and it clears when the difference falls back. manhole-down,
whose inputs are not bound, never raises it; nor does manhole-up while the levels are even.
Then the downstream meter falls silent: its level is unknown, so manhole-up's alert neither
clears nor is raised again from a stale value. Beside them a pump reads the flow meter on its
rising main (input outlet_flow): running with no flow raises pump_no_flow, which clears once
the flow comes."""

import json
import sys

import harness as h

PREFIX = "caretaker/hongmei/gw-test"


def blockage_events(sub, kind=None):
    return [m for _, m, _ in sub.received("/alerts")
            if m.get("rule") == "suspected_blockage" and (kind is None or m.get("event") == kind)]


def test(started):
    work = h.Workdir("alerts-inputs")
    scen = h.scenario(work, [{"unit": 1, "driver": "level/ultrasonic-generic", "values": {"decimals": 2, "level": 0.30}},
                             {"unit": 2, "driver": "level/ultrasonic-generic", "values": {"decimals": 2, "level": 0.25}},
                             {"unit": 3, "driver": "pump/controller-generic",
                              "values": {"running": True, "auto_mode": True, "pit_level": 1.2, "current": 35.0}},
                             {"unit": 4, "driver": "flow/electromagnetic-generic", "values": {"flow": 0.0}}])
    sim, broker, sub = h.stack(started, work, scen, PREFIX + "/#")
    fast = {"blockage_for_s": 1, "pipe_d_m": 2.0}  # a wide pipe: no surcharge alerts in the way
    # The manholes' readings count polls below: every poll published in full (report_max_s 0).
    bus = {"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": sim.tcp_port, "timeout_ms": 300,
           "devices": [
               {"id": "manhole-up", "unit": 1, "driver": "level/ultrasonic-generic", "poll_ms": 100, "params": fast,
                "report_max_s": 0, "inputs": {"downstream_level": "manhole-down.level"}},
               {"id": "manhole-down", "unit": 2, "driver": "level/ultrasonic-generic", "poll_ms": 100, "params": fast,
                "report_max_s": 0},
               {"id": "pump-1", "unit": 3, "driver": "pump/controller-generic", "poll_ms": 100,
                "params": {"no_flow_s": 1}, "inputs": {"outlet_flow": "main-flow.flow"}},
               {"id": "main-flow", "unit": 4, "driver": "flow/electromagnetic-generic", "poll_ms": 100},
           ]}
    contracts = [{"id": "sewage-om", "contractor": "排水运维公司", "covers": ["sewage"],
                  "respond_minutes": {"critical": 120, "major": 360, "minor": 2160, "info": 4320}}]
    cfg = h.base_config(work, [bus], mqtt=broker.mqtt(), contracts=contracts)
    db = cfg["store"]["path"]
    received = h.ReadingMirror(work, broker.port, PREFIX)  # delivered readings are not written
    started.append(received)
    d = h.Daemon(work, cfg)
    started.append(d)

    # The pump runs against no flow from the start
    def pump(kind):
        return [m for _, m, _ in sub.received("/alerts") if m.get("rule") == "pump_no_flow" and m.get("event") == kind]

    ev = h.wait_until("pump_no_flow raised", lambda: pump("raised"))[0]
    if ev["device"] != "pump-1" or ev["severity"] != "major" or ev["contract"] != "sewage-om" or \
            ev["point"] != "running":
        raise h.TestFailure("pump event %s" % json.dumps(ev, ensure_ascii=False))
    sim.cmd("set 4 flow 60")
    h.wait_until("pump_no_flow cleared once the flow comes", lambda: pump("cleared"))

    # Both read for a while with the levels even (0.05 m apart): nothing raised
    h.wait_until("20 readings of each manhole",
                 lambda: all(len(sub.received("/devices/%s/readings" % m)) >= 20 for m in ("manhole-up", "manhole-down")))
    if blockage_events(sub):
        raise h.TestFailure("blockage raised with the levels even: %r" % blockage_events(sub))

    # Water backs up in manhole-up: 0.55 m above manhole-down
    sim.cmd("set 1 level 0.80")
    raised = h.wait_until("suspected_blockage raised", lambda: blockage_events(sub, "raised"))
    ev = raised[0]
    if ev["device"] != "manhole-up" or ev["severity"] != "major" or ev["contract"] != "sewage-om" or \
            ev["respond_by_ts"] != ev["raised_ts"] + 360 * 60000 or ev["point"] != "level" or ev["value"] != 0.8:
        raise h.TestFailure("blockage event %s" % json.dumps(ev, ensure_ascii=False))
    if len(raised) != 1:
        raise h.TestFailure("raised %d times" % len(raised))

    # The downstream meter falls silent: unknown, so the alert stays as it is
    sim.cmd("behave 2 silent")
    h.wait_until("manhole-down offline", lambda: any(m.get("state") == "offline"
                                                      for _, m, _ in sub.received("/devices/manhole-down/state")), 30)
    sim.cmd("set 1 level 0.26")
    n_up = h.scalar(received.path, "SELECT count(*) FROM polls WHERE device = 'manhole-up'")
    h.wait_until("manhole-up read 10 more times",
                 lambda: h.scalar(received.path, "SELECT count(*) FROM polls WHERE device = 'manhole-up'")
                 >= n_up + 10)
    if blockage_events(sub, "cleared"):
        raise h.TestFailure("cleared on an unknown downstream level")

    # It answers again: 0.26 against 0.25 is below 0.1 - 0.05, cleared
    sim.cmd("behave 2 ok")
    h.wait_until("suspected_blockage cleared", lambda: blockage_events(sub, "cleared"), 30)
    if any(m.get("device") == "manhole-down" for m in blockage_events(sub)):
        raise h.TestFailure("manhole-down, with no input bound, raised a blockage")
    if len(blockage_events(sub, "raised")) != 1:
        raise h.TestFailure("raised again: %r" % blockage_events(sub, "raised"))
    if d.stop() != 0:
        raise h.TestFailure("daemon exited %s" % d.proc.returncode)


sys.exit(h.run(test))
