"""Owns the check of the shipped profiles against the alert catalogue (docs/alerts.md): every
tests/sim/scenarios/alert-*.json played at once through the simulator, the daemon and mosquitto.

The scenarios are merged into one simulator scenario (units renumbered 1..N, steps rewritten to
the new units) and one daemon polls all of them, so the whole catalogue runs in about a minute.
For each scenario the rule and severity expected by the catalogue are written below by hand
(EXPECTED), not read from the profiles, and the event on <prefix>/alerts must carry them, the
contract covering the device, its contractor and respond_by_ts = raised_ts + that contract's
response time for the severity. Anything else raised must be listed in ALSO, with why the
scenario's device is in that state too: any other alert is a false alarm and fails the test.
Then every device is put back as it started (RESTORE_EXTRA for conditions that undoing the
steps does not end) and every condition alert raised must clear, with the id it was raised with.

The simulator holds the scenarios (--hold) until the daemon has read every device, then plays
them: no step can come before the daemon knows the device, however slow its start.

The scenarios of the models written from their manuals (alert-mfe600e-*, alert-magflux-*,
alert-vegapuls-*, alert-nice3000-*) raise each model's own rules from its own registers: an
alarm register, a status bit, an NE 107 status, the NICE3000+'s fault state with its load, its
rated speed, its door limit.

Scenarios that need hours or days are shortened with device params (SHORTEN), never by waiting.
One step is also moved: alert-totalizer-anomaly sets the totalizer back at 700 s only to let the
600 s totalizer_window_s be watched in full first; with the window shortened to 10 s the same
step is played at 15 s (STEP_AT).

NOT_ASSERTED lists scenarios that cannot be asserted in bounded time, with the reason:
- alert-sudden-drop: its baseline is the same clock hour of each of the last days (hour_avg),
  which takes at least a day of history; test_rules plays it with simulated time instead.
"""

import glob
import json
import os
import re
import sys

import harness as h

PREFIX = "caretaker/hongmei/gw-test"

# Scenario -> [(rule, severity, event)], by hand from docs/alerts.md. Event rules (mode events)
# are "occurred"; condition rules "raised".
R, O = "raised", "occurred"
EXPECTED = {
    "alert-comm-lost": [("comm_lost", "minor", R)],
    "alert-controller-fault": [("controller_fault", "minor", R)],
    "alert-cover-battery-low": [("cover_battery_low", "minor", R)],
    "alert-cover-open": [("cover_open", "major", R)],
    "alert-door-failure": [("door_failure", "minor", R)],
    "alert-door-lock-open": [("door_lock_open", "major", R)],
    "alert-door-open-long": [("door_open_long", "minor", R)],
    "alert-door-open-moving": [("door_open_moving", "critical", R)],
    "alert-door-reopening": [("door_reopening", "minor", R)],
    "alert-dry-weather-flow": [("dry_weather_flow", "minor", R)],
    "alert-empty-pipe": [("empty_pipe", "minor", R)],
    "alert-flow-flat-line": [("flat_line", "minor", R)],
    "alert-flow-instrument-fault": [("instrument_fault", "minor", R)],
    "alert-flow-out-of-range": [("flow_out_of_range", "minor", R)],
    "alert-high-level": [("high_level", "major", R)],
    "alert-inspection": [("inspection_start", "info", O), ("inspection_end", "info", O)],
    "alert-level-flat-line": [("flat_line", "minor", R)],
    "alert-level-instrument-fault": [("instrument_fault", "minor", R)],
    "alert-magflux-coil-error": [("instrument_fault", "minor", R)],
    "alert-mfe600e-electrode": [("instrument_fault", "minor", R)],
    "alert-missing-data": [("missing_data_minor", "minor", R), ("missing_data_major", "major", R),
                           ("missing_data_critical", "critical", R)],
    "alert-mode-change": [("mode_change", "info", O)],
    "alert-nice3000-door-open-long": [("door_open_long", "minor", R)],
    "alert-nice3000-overspeed": [("overspeed", "critical", R)],
    "alert-nice3000-trapped": [("trapped_passenger", "critical", R), ("controller_fault", "minor", R)],
    "alert-out-of-service": [("out_of_service", "info", R)],
    "alert-overflow-imminent": [("overflow_imminent", "critical", R)],
    "alert-overflow-risk": [("overflow_risk", "major", R)],
    "alert-overspeed": [("overspeed", "critical", R)],
    "alert-overtravel-bottom": [("overtravel_bottom", "critical", R)],
    "alert-overtravel-top": [("overtravel_top", "critical", R)],
    "alert-power-failure-occupied": [("power_failure_occupied", "critical", R)],
    "alert-power-failure": [("power_failure", "major", R)],
    "alert-poor-signal": [("poor_signal", "minor", R)],
    "alert-pump-fault": [("pump_fault", "major", R)],
    "alert-pump-no-start": [("pump_no_start", "major", R)],
    "alert-safety-circuit-open": [("safety_circuit_open", "major", R)],
    "alert-stop-outside-zone": [("stop_outside_zone", "major", R)],
    "alert-surcharge": [("surcharge", "major", R)],
    "alert-totalizer-anomaly": [("totalizer_anomaly", "minor", R)],
    "alert-trapped-passenger": [("trapped_passenger", "critical", R)],
    "alert-unintended-movement": [("unintended_movement", "critical", R)],
    "alert-vegapuls-failure": [("instrument_fault", "minor", R)],
}
NOT_ASSERTED = {"alert-sudden-drop"}  # reasons in the docstring

# What a scenario's condition raises besides its own rule, each true of the device as the
# scenario leaves it (or, for a flat line, as the test leaves it: a value set once stays flat).
# Anything raised that neither EXPECTED nor this lists is a false alarm and fails the test.
ALSO = {
    "alert-door-open-moving": [("door_lock_open", R)],         # the scenario opens the lock to open the door
    "alert-flow-flat-line": [("flat_line", R)],                # flat again at the value it is put back to
    "alert-level-flat-line": [("flat_line", R),                # the same
                              ("surcharge", R)],               # 0.80 m in the profile's 0.4 m pipe
    "alert-high-level": [("surcharge", R)],                    # above the pipe's top too
    "alert-inspection": [("mode_change", O)],                  # into inspection mode and out of it
    "alert-nice3000-trapped": [("mode_change", O)],            # into the controller's fault state and out
    "alert-out-of-service": [("mode_change", O)],              # out of service is a mode
    "alert-overflow-imminent": [("high_level", R), ("overflow_risk", R), ("surcharge", R)],  # on its way up
    "alert-overflow-risk": [("high_level", R), ("surcharge", R)],
    "alert-power-failure-occupied": [("power_failure", R),     # the mains are lost
                                     ("trapped_passenger", R)],  # someone inside a car that cannot move
    "alert-trapped-passenger": [("controller_fault", R),       # the scenario sets fault code 6
                                ("stop_outside_zone", R)],     # it stopped between floors
    "alert-unintended-movement": [("door_open_moving", R)],    # it moves with the door open
}

# Scenarios whose condition goes away again: (rule that must clear). The totalizer goes back once
# and then stands still, so a window later the anomaly is over.
CLEARS = {"alert-totalizer-anomaly": ["totalizer_anomaly"]}

# Params that bring hours-long windows and delays down to seconds; each stays what the catalogue
# describes, only shorter.
SHORTEN = {
    "alert-comm-lost": {"comm_lost_s": 1},
    "alert-door-failure": {"door_fail_s": 2},
    "alert-door-lock-open": {"door_lock_open_s": 2},
    "alert-door-open-long": {"door_open_long_s": 2},
    "alert-nice3000-door-open-long": {"door_open_long_s": 2},
    "alert-nice3000-trapped": {"trapped_s": 2},
    "alert-cover-open": {"cover_open_s": 2},
    # a cycle every 10 s: two within 20 s is "repeated reopening" at this scale
    "alert-door-reopening": {"reopen_window_s": 20, "reopen_count": 2},
    "alert-dry-weather-flow": {"storm_pipe": 1, "rain": 0, "dry_flow_s": 2},
    "alert-flow-flat-line": {"flat_window_s": 5},
    "alert-level-flat-line": {"flat_window_s": 5},
    "alert-missing-data": {"missing_minor_s": 2, "missing_major_s": 4, "missing_critical_s": 6},
    "alert-overtravel-bottom": {"overtravel_s": 2},
    "alert-overtravel-top": {"overtravel_s": 2},
    "alert-stop-outside-zone": {"stop_outside_zone_s": 2},
    "alert-totalizer-anomaly": {"totalizer_window_s": 10},
    "alert-trapped-passenger": {"trapped_s": 2},
    "alert-poor-signal": {"poor_signal_s": 2},
    "alert-pump-no-start": {"no_start_s": 2},
}
STEP_AT = {("alert-totalizer-anomaly", 700): 15}

# After every expected alert is raised, each scenario's device is put back as it started (its
# steps undone: the values of its file, a silent unit answering again) and every condition alert
# it raised must clear. Where undoing the steps is not what ends the condition, this says what
# does: a flat line moves, a storm pipe runs dry, an idle car runs once, a door stops cycling.
RESTORE_EXTRA = {
    "alert-flow-flat-line": ["set {u} flow 14.5"],
    "alert-level-flat-line": ["set {u} level 0.3"],  # below the pipe's top: no surcharge
    "alert-dry-weather-flow": ["set {u} flow 0"],
    "alert-out-of-service": ["set {u} moving 1"],
    "alert-overtravel-top": ["set {u} door_zone 1"],
    "alert-overtravel-bottom": ["set {u} door_zone 1"],
    "alert-door-reopening": ["set {u} door_cycles 99999"],
    "alert-nice3000-trapped": ["set {u} load 0"],  # the passenger let out
}

# The simulator holds the scenarios until the daemon reads every device; then every step and
# ramp starts this much later than in its file, so edge rules and windows have their "before".
LEAD_S = 3

# Contracts by hand: kinds, the longer kind sewage.flow before sewage, and a device id whose
# respond_seconds overrides its minutes for critical only.
CONTRACTS = [
    {"id": "elevator-om", "contractor": "某电梯维保公司", "covers": ["elevator"],
     "respond_minutes": {"critical": 30, "major": 240, "minor": 1440, "info": 2880}},
    {"id": "sewage-om", "contractor": "排水运维公司", "covers": ["sewage"],
     "respond_minutes": {"critical": 120, "major": 360, "minor": 2160, "info": 4320}},
    {"id": "flow-om", "contractor": "流量计服务商", "covers": ["sewage.flow"],
     "respond_minutes": {"critical": 60, "major": 180, "minor": 720, "info": 1440}},
    {"id": "pilot-fast", "contractor": "试点快速响应组", "covers": ["overspeed"],
     "respond_minutes": {"critical": 15, "major": 60, "minor": 600, "info": 1000},
     "respond_seconds": {"critical": 600}},
]
RESPOND_S = {
    "elevator-om": {"critical": 1800, "major": 14400, "minor": 86400, "info": 172800},
    "sewage-om": {"critical": 7200, "major": 21600, "minor": 129600, "info": 259200},
    "flow-om": {"critical": 3600, "major": 10800, "minor": 43200, "info": 86400},
    "pilot-fast": {"critical": 600, "major": 3600, "minor": 36000, "info": 60000},
}


def contract_of(device, driver):
    if device == "overspeed":
        return "pilot-fast"
    return {"elevator": "elevator-om", "level": "sewage-om", "pump": "sewage-om", "cover": "sewage-om",
            "flow": "flow-om"}[driver.split("/")[0]]


def check(cond, what, *shown):
    if not cond:
        raise h.TestFailure(what + (": " + " ".join(json.dumps(x, ensure_ascii=False) for x in shown) if shown else ""))


def renumber(cmd, unit):
    """The step's command aimed at the merged unit; commands without a unit are refused so a new
    kind of step is noticed here rather than sent to the wrong device."""
    words = cmd.split()
    check(words[0] in ("set", "raw", "behave", "hole") and len(words) > 2, "step command this test can renumber", cmd)
    return " ".join([words[0], str(unit)] + words[2:])


def merge(names):
    """One simulator scenario holding every alert scenario; returns (devices, steps, who) where who
    maps scenario name -> (unit, driver)."""
    devices, steps, who = [], [], {}
    for unit, name in enumerate(names, 1):
        with open(os.path.join(h.SCENARIOS, name + ".json")) as f:
            sc = json.load(f)
        check(len(sc["devices"]) == 1, "one device per alert scenario", name)
        dev = dict(sc["devices"][0], unit=unit)
        if "ramps" in dev:
            dev["ramps"] = {p: dict(r, at_s=r.get("at_s", 0) + LEAD_S) for p, r in dev["ramps"].items()}
        devices.append(dev)
        who[name] = (unit, dev["driver"])
        for st in sc.get("steps", []):
            at = STEP_AT.get((name, st["at_s"]), st["at_s"])
            steps.append({"at_s": at + LEAD_S, "cmd": renumber(st["cmd"], unit)})
    steps.sort(key=lambda s: s["at_s"])  # stable: ties keep file order
    return devices, steps, who


def device_id(name):
    return name[len("alert-"):]


def test(started):
    names = sorted(os.path.basename(p)[:-5] for p in glob.glob(os.path.join(h.SCENARIOS, "alert-*.json")))
    unknown = set(names) - set(EXPECTED) - NOT_ASSERTED
    check(not unknown, "every alert scenario has its expectation from docs/alerts.md here", sorted(unknown))
    check(set(EXPECTED) | NOT_ASSERTED <= set(names), "every expectation has its scenario",
          sorted((set(EXPECTED) | NOT_ASSERTED) - set(names)))

    work = h.Workdir("alert-catalogue")
    devices, steps, who = merge(names)
    # Only the alert events: the readings of 30-odd devices at 5 Hz would be parsed over and over.
    sim, broker, sub = h.stack(started, work, h.scenario(work, devices, steps), PREFIX + "/alerts",
                               sim_extra=["--hold"], subscriber=dict(name="alerts subscriber"))
    reads = h.Subscriber(broker.port, PREFIX + "/devices/+/readings", name="readings subscriber")
    started.append(reads)

    def bus(bid, members, **extra):
        return dict({"id": bid, "type": "tcp", "host": "127.0.0.1", "port": sim.tcp_port, "timeout_ms": 500,
                     "devices": [{"id": device_id(n), "unit": who[n][0], "driver": who[n][1], "poll_ms": 200,
                                  "location": "场景 %s" % n, "params": SHORTEN.get(n, {})} for n in members]},
                    **extra)

    # The meter that falls silent gets a bus of its own, so its timeouts delay nobody else.
    others = [n for n in names if n != "alert-comm-lost"]
    buses = [bus("bus-silent", ["alert-comm-lost"], timeout_ms=200, retries=0, offline_after=2)]
    buses += [bus("bus-%d" % (i // 8 + 1), others[i:i + 8]) for i in range(0, len(others), 8)]
    cfg = h.base_config(work, buses, mqtt=broker.mqtt(), contracts=CONTRACTS)
    d = h.Daemon(work, cfg)
    started.append(d)

    h.wait_until("readings of every device", lambda: {m["device"] for _, m, _ in reads.received()} >=
                 {device_id(n) for n in names}, 20, 0.2)
    reads.stop()
    sim.cmd("play")

    def first(device, rule, kind):
        for _, m, _ in sub.received():
            if m.get("device") == device and m.get("rule") == rule and m.get("event") == kind:
                return m
        return None

    wanted = [(n, rule, sev, kind) for n in names if n in EXPECTED for rule, sev, kind in EXPECTED[n]]
    missing = []

    def all_seen():
        missing[:] = ["%s %s %s" % (device_id(n), rule, kind) for n, rule, sev, kind in wanted
                      if not first(device_id(n), rule, kind)]
        return not missing

    # The longest scenario (inspection) ends 40 s after its lead; the rest is margin for ASan.
    try:
        h.wait_until("every expected alert", all_seen, LEAD_S + 40 + 45, 0.2)
    except h.TestFailure:
        raise h.TestFailure("not seen in time: " + ", ".join(missing))

    for n, rule, sev, kind in wanted:
        dev = device_id(n)
        m = first(dev, rule, kind)
        contract = contract_of(dev, who[n][1])
        check(m["severity"] == sev, "%s: %s has the catalogue's severity %s" % (n, rule, sev), m)
        check(m["contract"] == contract and
              m["contractor"] == next(c["contractor"] for c in CONTRACTS if c["id"] == contract),
              "%s: %s under contract %s" % (n, rule, contract), m)
        check(m["respond_by_ts"] == m["raised_ts"] + RESPOND_S[contract][sev] * 1000,
              "%s: respond_by_ts = raised_ts + %d s" % (n, RESPOND_S[contract][sev]), m)
        check(m["id"].startswith("%s:%s:" % (dev, rule)), "%s: alert id" % n, m)
        # Chinese for a Chinese reader, code texts included; unit symbols (m³/h, mm) and codes
        # in capitals (E30) are not words of another language.
        english = [w for w in re.findall(r"[a-z]{2,}", m["message"]["zh"]) if w != "mm"]
        check(not english and m["message"]["en"], "%s: %s: message.zh without English, and an English one" %
              (n, rule), m["message"])

    # The NICE3000+'s E30 in its own words, in each language (codes.fault_code of the profile).
    e30 = first("nice3000-trapped", "controller_fault", R)["message"]
    check(e30 == {"zh": "控制器故障码 30：E30 电梯位置异常", "en": "Controller fault 30: E30 elevator position abnormal"},
          "NICE3000+ fault code text by language", e30)

    # The inspection visit ends after it began.
    start, end = first("inspection", "inspection_start", O), first("inspection", "inspection_end", O)
    check(end["ts"] > start["ts"], "inspection ended after it started", start, end)

    # Every raise, expected or a side effect (a car at the top floor is also stopped outside the
    # zone, ...), is under the contract covering its device.
    drivers = {device_id(n): who[n][1] for n in names}
    for _, m, _ in sub.received():
        if m.get("event") in (R, O):
            check_expected(m, names)
            c = contract_of(m["device"], drivers[m["device"]])
            check(m["contract"] == c and m["respond_by_ts"] == m["raised_ts"] + RESPOND_S[c][m["severity"]] * 1000,
                  "contract and deadline of every raise", m)

    for n, rules in CLEARS.items():
        for rule in rules:
            raised = first(device_id(n), rule, R)
            c = h.wait_until("%s: %s cleared" % (n, rule), lambda: first(device_id(n), rule, "cleared"), 30, 0.2)
            check(c["id"] == raised["id"] and c["cleared_ts"] >= raised["raised_ts"], "%s: cleared with its id" % n,
                  raised, c)

    # Everything put back: every condition alert clears, with the id it was raised with.
    def restore(n):
        unit = who[n][0]
        with open(os.path.join(h.SCENARIOS, n + ".json")) as f:
            dev = json.load(f)["devices"][0]
        cmds = []
        with open(os.path.join(h.SCENARIOS, n + ".json")) as f:
            file_steps = json.load(f).get("steps", [])
        for st in file_steps:
            words = st["cmd"].split()
            if words[0] == "set":  # a point the file leaves out starts at 0
                v = dev.get("values", {}).get(words[2], 0)
                cmds.append("set %d %s %s" % (unit, words[2], int(v) if isinstance(v, bool) else v))
            elif words[0] == "behave":
                cmds.append("behave %d ok" % unit)
        for p in dev.get("ramps", {}):
            cmds.append("set %d %s %s" % (unit, p, dev["values"].get(p, dev["ramps"][p].get("from", 0))))
        cmds += [c.format(u=unit) for c in RESTORE_EXTRA.get(n, [])]
        return cmds

    to_clear = [(n, rule) for n, rule, sev, kind in wanted if kind == R and n not in CLEARS]
    for n in sorted({n for n, _ in to_clear}):
        for cmd in restore(n):
            sim.cmd(cmd)
    not_cleared = []

    def all_cleared():
        not_cleared[:] = ["%s %s" % (device_id(n), rule) for n, rule in to_clear
                          if not first(device_id(n), rule, "cleared")]
        return not not_cleared

    try:
        h.wait_until("every condition alert cleared once its device is put back", all_cleared, 60, 0.2)
    except h.TestFailure:
        raise h.TestFailure("not cleared: " + ", ".join(not_cleared))
    for n, rule in to_clear:
        raised, cleared = first(device_id(n), rule, R), first(device_id(n), rule, "cleared")
        check(cleared["id"] == raised["id"] and cleared["cleared_ts"] >= raised["raised_ts"],
              "%s: %s cleared with its id" % (n, rule), raised, cleared)

    for _, m, _ in sub.received():
        if m.get("event") in (R, O):
            check_expected(m, names)
    check(d.stop() == 0, "daemon stopped cleanly")


def check_expected(m, names):
    """A raise or an event the tables above do not list for its device is a false alarm."""
    allowed = {(device_id(n), rule, kind) for n in names
               for rule, _, kind in EXPECTED.get(n, [])} | \
              {(device_id(n), rule, kind) for n in names for rule, kind in ALSO.get(n, [])}
    check((m["device"], m["rule"], m["event"]) in allowed, "an alert neither EXPECTED nor ALSO lists", m)


sys.exit(h.run(test))
