"""Who may command: a mosquitto run on config/mosquitto/acl.example and caretaker.conf.example as
written, its password file made with mosquitto_passwd for the users the ACL names, and the
gateway logged in as its own user with commanders from its config.

- An ack of a trapped passenger by the drainage contractor (not its contract) and a reload by a
  contractor are refused and change nothing: the alert stays unacknowledged and goes on
  escalating; the daemon is the same process and logs no reload. The lift contractor's ack of
  it, the drainage contractor's of its own alert and the admin's "unchanged" reload work.
- A contractor's visit of another contract's device and its request of another contract's
  monthly report are refused; the admin's reports of both contracts are published, and the ACL
  lets each contractor read only its own contract's.
- A user publishing on another's identity topic, and a dashboard publishing any command, are
  stopped by the broker: nothing reaches the gateway.
- A 1 MB command (dropped by the broker's max_packet_size) and a 200 kB one (dropped for the
  gateway by the MQTT 5 Maximum Packet Size it sent) leave the gateway's peak RSS within less
  than their size.
- 5000 bad commands: at most refusals_per_minute replies and log lines a minute, every one
  counted in metrics.
- 20 reloads of a changed config at once: one restart."""

import json
import os
import re
import sys
import time

import harness as h
from acl_broker import GATEWAY_USER, broker_settings, gateway_password, passwords

PREFIX = "caretaker/hongmei/gw-01"
PER_MINUTE = 10  # commands.refusals_per_minute: its default
RUNNING = {"mode": 0, "moving": True, "dir_up": True, "door_zone": False, "door_open": False,
           "door_closed": True, "occupied": True, "safety_circuit": True, "door_lock": True,
           "mains_power": True, "floor": 3, "speed": 1.0, "runs": 100, "running_hours": 10,
           "door_cycles": 200}


def check(cond, what, *shown):
    if not cond:
        raise h.TestFailure(what + (": " + " ".join(json.dumps(x, ensure_ascii=False) for x in shown) if shown else ""))


def vm(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise h.TestFailure("no %s in /proc/%d/status" % (key, pid))


def test(started):
    work = h.Workdir("cmd-auth")
    devices = [{"unit": 1, "driver": "elevator/generic", "values": RUNNING},
               {"unit": 2, "driver": "level/ultrasonic-generic",
                "values": {"decimals": 2, "level": 0.3, "distance": 2.2, "temperature": 18.5}}]
    passwd, pw = passwords(work)
    sim, broker, _ = h.stack(started, work, h.scenario(work, devices), broker=dict(extra=broker_settings(work, passwd)))

    def client(user, topic, name=None):
        c = h.Subscriber(broker.port, topic, name=name or user, username=user, password=pw[user])
        started.append(c)
        return c

    # An anonymous client is not let in at all.
    import paho.mqtt.client as mqtt
    anon = mqtt.Client(protocol=mqtt.MQTTv311)
    anon.connect("127.0.0.1", broker.port, keepalive=30)
    rc = [None]
    anon.on_connect = lambda c, u, f, r: rc.__setitem__(0, r)
    anon.loop_start()
    h.wait_until("the anonymous client answered", lambda: rc[0] is not None, 10)
    anon.loop_stop()
    check(rc[0] != 0, "an anonymous client was let in")

    dash = client("dashboard", "caretaker/#")
    admin = client("ops-admin", PREFIX + "/reply/ops-admin")
    lift = client("lift-co", PREFIX + "/reply/lift-co")
    drain = client("drain-co", PREFIX + "/reply/drain-co")

    gw_pw = gateway_password(work, pw)
    buses = [{"id": "bus-lift", "type": "tcp", "host": "127.0.0.1", "port": sim.tcp_port, "timeout_ms": 500,
              "devices": [{"id": "lift-a", "unit": 1, "driver": "elevator/generic", "poll_ms": 200,
                           "params": {"trapped_s": 1, "stop_outside_zone_s": 600}}]},
             {"id": "bus-drain", "type": "tcp", "host": "127.0.0.1", "port": sim.tcp_port, "timeout_ms": 500,
              "devices": [{"id": "manhole-3", "unit": 2, "driver": "level/ultrasonic-generic", "poll_ms": 200,
                           "params": {"pipe_d_m": 3.0}}]}]
    contracts = [{"id": "elevator-om", "contractor": "某电梯维保公司", "covers": ["elevator"],
                  "respond_seconds": {"critical": 1}},
                 {"id": "sewage-om", "contractor": "排水运维公司", "covers": ["sewage"],
                  "respond_minutes": {"major": 240}}]
    commands = {"commanders": {"ops-admin": {"role": "admin"},
                               "lift-co": {"role": "contractor", "contracts": ["elevator-om"]},
                               "drain-co": {"role": "contractor", "contracts": ["sewage-om"]}}}
    cfg = h.base_config(work, buses, gateway={"id": "gw-01"}, contracts=contracts, commands=commands,
                        alerts={"escalate_every_s": 1},
                        mqtt=broker.mqtt(username=GATEWAY_USER, password_file=gw_pw, metrics_s=1))
    # Under the address sanitizer freed memory is held in a quarantine, so RSS would grow with
    # every allocation whatever the commands did: with none, it measures what stays allocated.
    asan = os.environ.get("ASAN_OPTIONS", "")
    d = h.Daemon(work, cfg, env={"ASAN_OPTIONS": asan + (":" if asan else "") +
                                 "quarantine_size_mb=0:thread_local_quarantine_size_kb=0"})
    started.append(d)
    pid = d.proc.pid

    def alerts(device, kind):
        return [m for _, m, _ in dash.received(PREFIX + "/alerts") if m["device"] == device and m["event"] == kind]

    def active():
        got = dash.received("/alerts/active")
        return {a["device"]: a for a in got[-1][1]["alerts"]} if got else {}

    def onlines():
        return len([m for _, m, _ in dash.received(PREFIX + "/status") if m["state"] == "online"])

    def starts():
        return len(re.findall(r"^<5>caretaker \S+: site hongmei", d.output(), re.M))

    def ask(who, verb, body):
        """Publishes a command as who, on who's own identity topic; returns the reply."""
        n = len(who.received("/reply/" + who.name))
        who.publish("%s/cmd/%s/%s" % (PREFIX, verb, who.name), json.dumps(body))
        return h.wait_until("the reply to %s's %s" % (who.name, verb), lambda: who.received("/reply/" + who.name)[n:])[0][1]

    h.wait_until("the gateway online as its own user", lambda: onlines() >= 1)
    check(starts() == 1, "one start", d.output())

    # A trapped passenger (lift contractor's) and a high level (drainage contractor's).
    sim.cmd("set 1 moving 0")
    sim.cmd("set 1 speed 0")
    sim.cmd("set 2 level 1.3")
    trap = h.wait_until("trapped passenger escalated", lambda: alerts("lift-a", "escalated"))[0]
    high = h.wait_until("high level raised", lambda: alerts("manhole-3", "raised"))[0]

    # The drainage contractor acks the trapped passenger: refused; the alert stays unacknowledged
    # and escalation goes on.
    r = ask(drain, "ack", {"alert_id": trap["id"], "by": "lift-co", "id": "x-1"})
    check(r["ok"] is False and "under contract \"elevator-om\", not one of its own" in r["error"] and
          r["id"] == "x-1", "another contract's ack", r)
    level = max(e["escalation"] for e in alerts("lift-a", "escalated"))
    h.wait_until("escalation going on after the refused ack",
                 lambda: max(e["escalation"] for e in alerts("lift-a", "escalated")) >= level + 2)
    check(not alerts("lift-a", "acknowledged") and active()["lift-a"]["acked"] is False,
          "the refused ack changed the alert", active().get("lift-a"))

    # A contractor's reload: refused, no restart.
    r = ask(lift, "reload", {"id": "x-2"})
    check(r["ok"] is False and "only an admin may reload" in r["error"], "a contractor's reload", r)

    # Another's identity topic, and any command from a dashboard: stopped at the broker. Each
    # client's later command is answered after the earlier one would have been.
    out0 = len(d.output())
    lift.publish("%s/cmd/ack/drain-co" % PREFIX, json.dumps({"alert_id": high["id"]}))
    lift.publish("%s/cmd/ack/ops-admin" % PREFIX, json.dumps({"alert_id": trap["id"]}))
    dash.publish("%s/cmd/reload/dashboard" % PREFIX, b"{}")
    # the gateway's own password (it lives on the box) cannot speak for anyone either
    stolen = client(GATEWAY_USER, PREFIX + "/status", name="the gateway's password, stolen")
    stolen.publish("%s/cmd/reload/ops-admin" % PREFIX, b"{}")
    r = ask(lift, "reload", {"id": "x-3"})
    check(r["ok"] is False, "a contractor's reload", r)
    check(not drain.received("/reply/drain-co")[1:] and not admin.received("/reply/ops-admin"),
          "a reply to a command published on another's identity", drain.received(), admin.received())
    check(not alerts("manhole-3", "acknowledged") and not alerts("lift-a", "acknowledged"),
          "an ack published on another's identity acted", alerts("manhole-3", "acknowledged"))
    blog = open(broker.log_path).read()
    for topic in ("cmd/ack/drain-co", "cmd/ack/ops-admin", "cmd/reload/dashboard", "cmd/reload/ops-admin"):
        check(re.search(r"Denied PUBLISH from \S+ \(.*'%s/%s'" % (PREFIX, topic), blog), "the broker let %s through" % topic)
    new = d.output()[out0:]
    check(all(w not in new for w in ("drain-co", "ops-admin", "dashboard")),
          "a command stopped at the broker reached the gateway", new)

    # Visits and monthly reports stay within a contractor's own contracts, by command and by ACL.
    r = ask(drain, "visit", {"device": "lift-a", "kind": "patrol", "id": "x-5"})
    check(r["ok"] is False and "under contract \"elevator-om\", not one of its own" in r["error"], "another's visit", r)
    month = time.strftime("%Y-%m", time.gmtime(time.time() + 8 * 3600 - 32 * 86400))  # a past month, Shanghai
    r = ask(drain, "report", {"month": month, "contract": "elevator-om", "id": "x-6"})
    check(r["ok"] is False and "contract \"elevator-om\" is not one of its own" in r["error"], "another's report", r)
    reports = client("drain-co", PREFIX + "/reports/monthly/#", name="drain-co's reports")
    for k in ("elevator-om", "sewage-om"):
        check(ask(admin, "report", {"month": month, "contract": k})["ok"] is True, "the admin's report of " + k)
    h.wait_until("the admin's reports at the dashboard", lambda: len(dash.received("/reports/monthly/sewage-om")) and
                 len(dash.received("/reports/monthly/elevator-om")))
    got = h.wait_until("drain-co's own report", lambda: reports.received())
    check([t for t, _, _ in got] == [PREFIX + "/reports/monthly/sewage-om"], "drain-co read", [t for t, _, _ in got])

    # The admin's reload of the files as they run: unchanged, nothing restarted.
    r = ask(admin, "reload", {"id": "x-4"})
    check(r["ok"] is True and r["result"].startswith("unchanged"), "reload of an unchanged config", r)
    check(d.proc.pid == pid and d.running() and starts() == 1 and "applying it" not in d.output(),
          "a refused or unchanged reload restarted the gateway", d.output())

    # The right ones work: the lift contractor acks the trapped passenger, the drainage contractor
    # its high level; the acknowledger is the identity, "by" only a display name.
    r = ask(lift, "ack", {"alert_id": trap["id"], "by": "王师傅", "id": "x-5"})
    check(r["ok"] is True, "the lift contractor's ack", r)
    ev = h.wait_until("the trapped passenger acknowledged", lambda: alerts("lift-a", "acknowledged"))[0]
    check(ev["acked_by"] == "lift-co" and ev["acked_name"] == "王师傅", "who acknowledged", ev)
    r = ask(drain, "ack", {"alert_id": high["id"]})
    check(r["ok"] is True, "the drainage contractor's ack", r)
    h.wait_until("alerts/active acknowledged", lambda: active()["lift-a"]["acked"] and active()["manhole-3"]["acked"])

    # Oversized commands: the broker disconnects a sender of 1 MB; a 200 kB one it drops for the
    # gateway (MQTT 5 Maximum Packet Size). The gateway's peak RSS grows by less than either.
    rss0, hwm0 = vm(pid, "VmRSS"), vm(pid, "VmHWM")
    big = mqtt.Client(protocol=mqtt.MQTTv311)  # once, without the reconnect that would send it again
    big.username_pw_set("ops-admin", pw["ops-admin"])
    gone = []
    big.on_disconnect = lambda c, u, r: gone.append(r)
    big.connect("127.0.0.1", broker.port, keepalive=30)
    big.loop_start()
    big.publish("%s/cmd/ack/ops-admin" % PREFIX, b"{" + b" " * (1 << 20) + b"}", qos=1)
    h.wait_until("the broker disconnecting the 1 MB sender", lambda: gone)
    big.loop_stop()
    drain.publish("%s/cmd/ack/drain-co" % PREFIX, b"{" + b" " * 200000 + b"}")
    r = ask(drain, "ack", {"alert_id": high["id"], "id": "x-6"})
    check(r["ok"] is True and r["id"] == "x-6", "the ack after the 200 kB command", r)
    check(all("payload of" not in m.get("error", "") for _, m, _ in drain.received("/reply/drain-co")),
          "the 200 kB command reached the gateway", drain.received("/reply/drain-co"))
    blog = open(broker.log_path).read()
    check(re.search(r"Dropping too large outgoing PUBLISH for caretaker-hongmei-gw-01", blog),
          "the broker did not drop the 200 kB command for the gateway")
    hwm1 = vm(pid, "VmHWM")
    print("oversized commands: VmRSS %d kB, VmHWM %d -> %d kB" % (rss0, hwm0, hwm1))
    check(hwm1 - hwm0 < 200, "peak RSS grew by %d kB (RSS %d kB before)" % (hwm1 - hwm0, rss0))

    # A flood of 5000 refused commands: bounded replies and log lines, every one counted.
    replies0 = len(lift.received("/reply/lift-co"))
    lines0 = d.output().count(" refused: ")
    for i in range(5000):
        lift.client.publish("%s/cmd/reload/lift-co" % PREFIX, b'{"id":"f-%d"}' % i, qos=1)
    h.wait_until("5000 refusals counted in metrics", lambda: any(
        m.get("commands", {}).get("refused", 0) >= 5000 for _, m, _ in dash.received(PREFIX + "/metrics")), 60)
    r = ask(lift, "ack", {"alert_id": trap["id"], "id": "x-7"})  # accepted: answered whatever the budget
    check(r["ok"] is True and r["result"].startswith("already acknowledged"), "lift-co after the flood", r)
    replies = len(lift.received("/reply/lift-co")) - replies0 - 1
    lines = d.output().count(" refused: ") - lines0
    print("5000 refused commands: %d replies, %d log lines" % (replies, lines))
    # a flood that spans the turn of a minute may have two windows' worth
    check(replies <= 2 * PER_MINUTE and lines <= 2 * PER_MINUTE, "%d replies and %d log lines for 5000 refusals"
          % (replies, lines))
    check("refusals before this one not logged" in d.output() or lines < PER_MINUTE,
          "held refusals not told in the next line", d.output()[-2000:])

    # 20 reloads of a changed config at once: one restart (reload_interval_s 30).
    with open(d.config_path, "w") as f:
        json.dump(dict(cfg, alerts={"escalate_every_s": 2}), f)
    online0 = onlines()
    for i in range(20):
        admin.client.publish("%s/cmd/reload/ops-admin" % PREFIX, b'{"id":"r-%d"}' % i, qos=1)
    h.wait_until("online again after the reload", lambda: onlines() > online0)
    r = ask(admin, "ack", {"alert_id": trap["id"], "id": "x-8"})
    check(r["ok"] is True, "the admin's ack after the reloads", r)
    check(d.output().count("applying it") == 1 and starts() == 2 and onlines() == online0 + 1 and
          d.proc.pid == pid, "restarts for 20 reloads: %d" % d.output().count("applying it"))
    refusals = [m for _, m, _ in admin.received("/reply/ops-admin") if m["cmd"] == "reload" and not m["ok"]]
    check(all("at most one reload per 30 s" in m["error"] for m in refusals), "reload refusals", refusals)
    check(d.stop() == 0, "daemon exited %s" % d.proc.returncode)


sys.exit(h.run(test))
