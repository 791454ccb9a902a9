"""The MQTT contract as written (docs/mqtt.md) against what the daemon really publishes: every
message of a run that produces each payload kind — status online and offline, device states,
readings, a point_missing event, alert events and the active list, daily reports across a local
midnight (faked wall clock), metrics, a command reply, the work-order stages of an alert (ack,
on_site, resolved) and an escalation with its copy on the party's topic, a visit event and a
monthly report (asked for by cmd/report), and then contract v2's batched readings from a second
run with mqtt.payload "v2" — must satisfy the JSON Schema of its
section, and carry no member that schema does not declare. A member added to a payload without
its documentation, or a schema that no longer fits, fails here."""

import json
import os
import re
import sys

import harness as h

PREFIX = "caretaker/hongmei/gw-test"
# 23:59:45 in Shanghai: local midnight comes 15 s after the start.
START = "@2026-11-23 15:59:45"

# Topic (after the prefix) -> the docs/mqtt.md section holding its schema.
SECTIONS = [
    (r"status", "status"),
    (r"devices/[^/]+/state", "device state"),
    (r"devices/[^/]+/readings", "reading"),
    (r"v2/readings", "readings (v2)"),
    (r"events", "event"),
    (r"alerts", "alert event"),
    (r"alerts/active", "active alerts"),
    (r"escalations/[^/]+", "alert event"),
    (r"reports/daily/[^/]+", "daily report"),
    (r"reports/monthly/[^/]+", "monthly report"),
    (r"metrics", "metrics"),
    (r"(cmd/)?repl(y|ies)(/.*)?", "reply"),
]


def doc_schemas():
    """Section title -> its schema blocks (JSON blocks with `properties` or `$id`) of mqtt.md;
    the named ones (`$id`) by id as well, with those of contracts.md (the work-order members)."""
    text = open(os.path.join(h.SRC, "docs", "mqtt.md"), encoding="utf-8").read()
    by_section, by_id = {}, {}
    for block in re.findall(r"```json\n(.*?)```", open(os.path.join(h.SRC, "docs", "contracts.md"),
                                                         encoding="utf-8").read(), re.S):
        try:
            s = json.loads(block)
        except ValueError:
            continue
        if "$id" in s:
            by_id[s["$id"]] = s
    for m in re.finditer(r"^#{2,3} (.+?)\n(.*?)(?=^#{2,3} |\Z)", text, re.S | re.M):
        for block in re.findall(r"```json\n(.*?)```", m.group(2), re.S):
            try:
                s = json.loads(block)
            except ValueError:
                continue  # examples of several lines, or with "…"
            if "$id" in s:
                by_id[s["$id"]] = s
            elif "properties" in s or "allOf" in s:
                by_section.setdefault(m.group(1).strip(), []).append(s)
    return by_section, by_id


def declared(schema, by_id):
    """Members an object schema (with its allOf references) declares."""
    names = set(schema.get("properties", {}))
    for part in schema.get("allOf", []):
        names |= declared(by_id[part["$ref"]] if "$ref" in part else part, by_id)
    return names


def undeclared(value, schema, by_id, where):
    """Members of value (and of its objects inside) that the schema does not declare."""
    out = []
    if not isinstance(value, dict):
        return out
    names = declared(schema, by_id)
    props = {}
    for s in [schema] + [by_id[p["$ref"]] if "$ref" in p else p for p in schema.get("allOf", [])]:
        props.update(s.get("properties", {}))
    for k, v in value.items():
        if k not in names:
            out.append("%s.%s" % (where, k))
            continue
        out += undeclared_inside(v, props.get(k, {}), by_id, where + "." + k)
    return out


def undeclared_inside(v, sub, by_id, where):
    """Undeclared members of the objects in v, a member whose schema is sub: an object with
    properties, an array's items, or the values of an object keyed by name (additionalProperties)."""
    out = []
    if isinstance(v, dict) and ("properties" in sub or "allOf" in sub):
        out += undeclared(v, sub, by_id, where)
    elif isinstance(v, dict) and isinstance(sub.get("additionalProperties"), dict):
        for k, item in v.items():
            out += undeclared_inside(item, sub["additionalProperties"], by_id, "%s.%s" % (where, k))
    if isinstance(v, list) and isinstance(sub.get("items"), dict):
        for i, item in enumerate(v):
            out += undeclared_inside(item, sub["items"], by_id, "%s[%d]" % (where, i))
    return out


def test(started):
    from jsonschema import Draft202012Validator, RefResolver

    by_section, by_id = doc_schemas()
    for _, section in SECTIONS:
        if section not in by_section:
            raise h.TestFailure("docs/mqtt.md has no schema under \"### %s\"" % section)

    work = h.Workdir("schemas")
    level = {"decimals": 2, "level": 0.40}
    lift = {"mode": 0, "moving": False, "dir_up": False, "door_zone": True, "door_open": False, "door_closed": True,
            "occupied": False, "safety_circuit": True, "door_lock": True, "mains_power": True, "floor": 1,
            "speed": 0.0, "runs": 100, "running_hours": 10, "door_cycles": 200}
    scen = h.scenario(work, [{"unit": 1, "driver": "level/ultrasonic-generic", "values": level,
                              "holes": [{"table": "holding", "address": 5, "count": 1}]},
                             {"unit": 2, "driver": "elevator/generic", "values": lift}])
    sim, broker, sub = h.stack(started, work, scen, PREFIX + "/#")
    bus = {"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": sim.tcp_port, "timeout_ms": 300,
           "offline_after": 2,
           "devices": [{"id": "manhole-1", "unit": 1, "driver": "level/ultrasonic-generic", "poll_ms": 200,
                        "location": "3号楼北侧窨井"},
                       {"id": "lift-1", "unit": 2, "driver": "elevator/generic", "poll_ms": 200,
                        "asset": {"registration_code": "31103101002019120001", "lat": 31.2304, "lon": 121.4737}}]}
    cfg = h.base_config(work, [bus], mqtt=broker.mqtt(metrics_s=1),
                        contracts=[{"id": "drain-om", "contractor": "某排水维保公司", "covers": ["sewage"],
                                    "deadlines": {"major": {"ack_s": 1, "arrive_s": 2, "resolve_s": 86400}},
                                    "escalation": [{"level": 1, "name": "值班主管", "identity": "drain-duty"}]}],
                        commands={"commanders": {"ops": {"role": "admin"}}})
    d = h.Daemon(work, cfg, env=h.faked_clock(START))
    started.append(d)

    def kinds():
        return {sec for topic, _, _ in sub.received() for pat, sec in SECTIONS
                if re.fullmatch(pat, topic[len(PREFIX) + 1:])}

    h.wait_until("readings, device states and the point_missing event",
                 lambda: {"reading", "device state", "event", "metrics", "status"} <= kinds(), 30)
    sim.cmd("set 1 level 1.50")  # above high_m 1.2: high_level (major), covered by drain-om
    h.wait_until("an alert event and the active list", lambda: {"alert event", "active alerts"} <= kinds(), 30)
    # the ack due 1 s after the raise: escalated, with its copy for the party; then the stages
    h.wait_until("the escalation on the party's topic", lambda: sub.received("/escalations/drain-duty"), 30)
    alert_id = next(m["id"] for _, m, _ in sub.received("/alerts") if m.get("event") == "raised")
    for verb in ("ack", "on_site", "resolve"):
        sub.publish("%s/cmd/%s/ops" % (PREFIX, verb), json.dumps({"alert_id": alert_id, "by": "王工", "note": verb}))
    h.wait_until("the stage events", lambda: {"acknowledged", "on_site", "resolved"} <= {
        m.get("event") for _, m, _ in sub.received("/alerts")}, 20)
    sim.cmd("behave 2 silent")
    h.wait_until("the daily reports of the day that ended at the faked midnight",
                 lambda: len([t for t, _, _ in sub.received() if "/reports/daily/" in t]) >= 2, 60)
    h.wait_until("lift-1 published offline",
                 lambda: any(p.get("state") == "offline" for _, p, _ in sub.received("/devices/lift-1/state")), 30)
    sub.publish(PREFIX + "/cmd/nonsense/ops", b"{}")
    h.wait_until("a reply to the refused command", lambda: "reply" in kinds(), 20)
    sub.publish(PREFIX + "/cmd/visit/ops",
                json.dumps({"device": "manhole-1", "kind": "patrol", "by": "张师傅", "note": "巡检"}).encode())
    sub.publish(PREFIX + "/cmd/report/ops", json.dumps({"month": "2026-10", "contract": "drain-om"}).encode())
    h.wait_until("a visit event and a monthly report",
                 lambda: "monthly report" in kinds() and any(p.get("event") == "visit" for _, p, _ in sub.received("/events")), 20)
    if d.stop() != 0:
        raise h.TestFailure("the daemon exited %s:\n%s" % (d.proc.returncode, d.output()))
    started.remove(d)
    h.wait_until("status offline after the clean stop",
                 lambda: any(p.get("state") == "offline" for _, p, _ in sub.received("/status")), 10)

    # Contract v2: the same site batching its readings, on a store of its own.
    cfg["mqtt"].update(payload="v2", batch_ms=300)
    cfg["store"]["path"] = work.file("caretaker-v2.db")
    d = h.Daemon(work, cfg, name="caretaker-v2")
    started.append(d)
    h.wait_until("two v2 readings messages", lambda: len(sub.received("/v2/readings")) >= 2, 30)
    if d.stop() != 0:
        raise h.TestFailure("the v2 daemon exited %s:\n%s" % (d.proc.returncode, d.output()))
    started.remove(d)

    store = dict(by_id)
    problems, seen = [], {}
    for topic, payload, _ in sub.received():
        rest = topic[len(PREFIX) + 1:]
        if rest.startswith("cmd/"):
            continue  # the test's own command
        section = next((sec for pat, sec in SECTIONS if re.fullmatch(pat, rest)), None)
        if section is None:
            problems.append("%s: a topic docs/mqtt.md has no section for" % topic)
            continue
        seen[section] = seen.get(section, 0) + 1
        for schema in by_section[section]:
            v = Draft202012Validator(schema, resolver=RefResolver("", schema, store=store))
            for e in v.iter_errors(payload):
                problems.append("%s (%s): %s at %s" % (topic, section, e.message, list(e.absolute_path)))
            for name in undeclared(payload, schema, by_id, section):
                problems.append("%s: member %s is not in the schema of \"### %s\"" % (topic, name, section))
    missing = [sec for _, sec in SECTIONS if sec not in seen]
    if missing:
        raise h.TestFailure("no message of %s was published in the run" % missing)
    if problems:
        raise h.TestFailure("%d payload(s) do not match docs/mqtt.md:\n  %s"
                            % (len(problems), "\n  ".join(sorted(set(problems))[:40])))
    print("checked %s" % ", ".join("%d %s" % (n, s) for s, n in sorted(seen.items())))


sys.exit(h.run(test))
