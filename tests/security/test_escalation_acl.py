"""Each escalation party reads its own escalations and no one else's: a mosquitto run on
config/mosquitto/acl.example and caretaker.conf.example as written, the gateway logged in as its
own user, a trapped passenger under a contract whose stages are due 1, 2 and 3 s after the raise
and whose chain names two users (lift-co-duty, estate-office) and one topic (district-housing,
read by the district's bridge user). Every party subscribes to all of escalations/#; the
broker's pattern lets each one receive only the escalation addressed to it."""

import json
import sys

import harness as h
from acl_broker import GATEWAY_USER, broker_settings, gateway_password, passwords

PREFIX = "caretaker/hongmei/gw-01"
RUNNING = {"mode": 0, "moving": True, "dir_up": True, "door_zone": False, "door_open": False,
           "door_closed": True, "occupied": True, "safety_circuit": True, "door_lock": True,
           "mains_power": True, "floor": 3, "speed": 1.0, "runs": 100, "running_hours": 10,
           "door_cycles": 200}
PARTIES = {"lift-co-duty": 1, "estate-office": 2, "district-housing": 3}


def check(cond, what, *shown):
    if not cond:
        raise h.TestFailure(what + (": " + " ".join(json.dumps(x, ensure_ascii=False) for x in shown) if shown else ""))


def test(started):
    # The two party users are named by the ACL only through its pattern.
    work = h.Workdir("escalation-acl")
    passwd, pw = passwords(work, more=("lift-co-duty", "estate-office"))
    devices = [{"unit": 1, "driver": "elevator/generic", "values": RUNNING}]
    sim, broker, _ = h.stack(started, work, h.scenario(work, devices),
                             broker=dict(extra=broker_settings(work, passwd)))
    readers = {}
    for user in ("lift-co-duty", "estate-office", "district-bridge", "dashboard"):
        readers[user] = h.Subscriber(broker.port, PREFIX + "/escalations/#", name=user, username=user,
                                     password=pw[user])
        started.append(readers[user])

    gw_pw = gateway_password(work, pw)
    buses = [{"id": "bus-lift", "type": "tcp", "host": "127.0.0.1", "port": sim.tcp_port, "timeout_ms": 500,
              "devices": [{"id": "lift-a", "unit": 1, "driver": "elevator/generic", "poll_ms": 200,
                           "params": {"trapped_s": 1, "stop_outside_zone_s": 600}}]}]
    chain = [{"level": 1, "name": "维保公司值班主管", "identity": "lift-co-duty"},
             {"level": 2, "name": "物业/社区", "identity": "estate-office"},
             {"level": 3, "name": "区住建局", "topic": "district-housing"}]
    contracts = [{"id": "elevator-om", "contractor": "某电梯维保公司", "covers": ["elevator"],
                  "deadlines": {"critical": {"ack_s": 1, "arrive_s": 2, "resolve_s": 3}}, "escalation": chain}]
    cfg = h.base_config(work, buses, gateway={"id": "gw-01"}, contracts=contracts, alerts={"escalate_every_s": 0},
                        mqtt=broker.mqtt(username=GATEWAY_USER, password_file=gw_pw))
    d = h.Daemon(work, cfg)
    started.append(d)
    h.wait_until("the gateway connected", lambda: "mqtt: connected" in d.output(), 20)
    sim.cmd("set 1 moving 0")
    sim.cmd("set 1 speed 0")

    # The dashboard reads everything: one escalation per missed stage, each on its party's topic.
    dash = readers["dashboard"]
    got = h.wait_until("three escalations", lambda: len(dash.received()) >= 3 and dash.received(), 30)
    by_topic = {t[len(PREFIX) + len("/escalations/"):]: m for t, m, _ in got}
    check(sorted(by_topic) == sorted(PARTIES), "one escalation per party topic", sorted(by_topic))
    for party, level in PARTIES.items():
        m = by_topic[party]
        named = m["escalated"].get("identity") or m["escalated"].get("topic")
        check(m["escalation"] == level and m["escalated"]["level"] == level and named == party,
              "%s's message names it" % party, m)
    stages = [by_topic[p]["escalated"]["stage"] for p in PARTIES]
    check(stages == ["ack", "on_site", "resolve"], "each level for the stage missed", stages)

    # Each party: its own, nothing else, though it asked for all of escalations/#.
    for user, party in (("lift-co-duty", "lift-co-duty"), ("estate-office", "estate-office"),
                        ("district-bridge", "district-housing")):
        mine = h.wait_until("%s's escalation" % user, lambda: readers[user].received(), 10)
        topics = {t for t, _, _ in readers[user].received()}
        check(topics == {PREFIX + "/escalations/" + party} and len(mine) == 1,
              "%s reads only its own escalation" % user, sorted(topics))
    check(d.stop() == 0, "daemon stopped cleanly")


sys.exit(h.run(test))
