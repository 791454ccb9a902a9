"""Commands over MQTT, on cmd/<verb>/<identity>: every malformed or unknown command gets a
refusal on reply/<identity> (with the request's id when it carried a valid one) and the daemon
goes on; an identity the config does not list is refused, one on a topic without an identity
gets no reply; an ack of an unknown alert says so; a reload validates the config file on disk —
a broken one is refused with the reason and the running config stays (readings keep flowing),
by command and by SIGHUP alike; an unchanged one is "unchanged" and restarts nothing; a changed
one is applied (test_reload.py). Who may do what under a real ACL: tests/security."""

import json
import signal
import sys

import harness as h

PREFIX = "caretaker/hongmei/gw-test"
ADMIN = "ops"

# (command word, payload, retained, words the error must hold, id echoed)
REFUSED = [
    ("ack", b"", False, "empty payload", None),
    ("ack", b"not json", False, "invalid JSON", None),
    ("ack", b"[1,2]", False, "is an array (expected a JSON object)", None),
    ("ack", b'{"alert_id":5,"by":"wang","id":"q-1"}', False, "alert_id: 5 is a number", "q-1"),
    ("ack", b'{"alert_id":"a-1","by":"wang","extra":true,"id":"q-2"}', False, 'unknown key \\"extra\\"', "q-2"),
    ("ack", json.dumps({"alert_id": "a" * 161, "by": "wang"}).encode(), False, "161 bytes long", None),
    ("ack", b'{"alert_id":"a-1","by":"\xff"}', False, "invalid UTF-8", None),
    ("ack", b'{"alert_id":"a-1","alert_id":"a-2","by":"x"}', False, "duplicate", None),
    ("reload", b'{"path":"/etc/passwd","id":"q-3"}', False, 'unknown key \\"path\\"', "q-3"),
    ("shutdown", b"{}", False, "unknown command", None),
]


def scenario(work):
    path = work.file("scenario.json")
    with open(path, "w") as f:
        json.dump({"devices": [{"unit": 1, "driver": "level/ultrasonic-generic",
                                "values": {"decimals": 3, "level": 1.5}}]}, f)
    return path


def test(started):
    work = h.Workdir("mqtt-cmd")
    sim, broker, sub = h.stack(started, work, scenario(work), PREFIX + "/#")
    bus = {"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": sim.tcp_port, "timeout_ms": 500,
           # Readings show the daemon polling on: every poll published in full (report_max_s 0).
           "devices": [{"id": "manhole-3", "unit": 1, "driver": "level/ultrasonic-generic", "poll_ms": 100,
                        "report_max_s": 0}]}
    cfg = h.base_config(work, [bus], mqtt=broker.mqtt(),
                        commands={"reload_interval_s": 1, "refusals_per_minute": 1000,
                                  "commanders": {ADMIN: {"role": "admin"}}})
    # A retained command would run again at every connect: one left on the broker is refused
    sub.publish(PREFIX + "/cmd/reload/" + ADMIN, b'{"id":"q-0"}', retain=True)
    d = h.Daemon(work, cfg)
    started.append(d)
    h.wait_until("the daemon online", lambda: any(m.get("state") == "online" for _, m, _ in sub.received("/status")))
    r = h.wait_until("the reply to the retained command", lambda: sub.received("/reply/" + ADMIN))
    if len(r) != 1 or r[0][1]["ok"] is not False or "retained command refused" not in r[0][1]["error"] or \
            r[0][1]["id"] != "q-0":
        raise h.TestFailure("retained command: replies %r" % r)

    def ask(word, payload, retain=False, identity=ADMIN):
        """Publishes one command and returns its reply (replies come in order, one each)."""
        n = len(sub.received("/reply/" + identity))
        sub.publish(PREFIX + "/cmd/%s/%s" % (word, identity), payload, retain=retain)
        replies = h.wait_until("the reply to cmd/%s %r" % (word, payload[:40]),
                               lambda: sub.received("/reply/" + identity)[n:])
        if len(replies) != 1:
            raise h.TestFailure("%d replies to one command: %r" % (len(replies), replies))
        return replies[0][1]

    # Clearing it reaches the daemon as an empty command
    r = ask("reload", b"", retain=True)
    if r["ok"] is not False or "empty payload" not in r["error"]:
        raise h.TestFailure("empty command: %r" % r)

    for word, payload, retain, error, rid in REFUSED:
        r = ask(word, payload, retain)
        if r["ok"] is not False or error not in json.dumps(r["error"]) or r.get("id") != rid:
            raise h.TestFailure("cmd/%s %r: reply %r (expected a refusal with %r, id %r)" %
                                (word, payload, r, error, rid))
        if r["cmd"] != word or r["v"] != 1 or r["gateway"] != "gw-test" or r["seq"] != 0:
            raise h.TestFailure("reply %r" % r)

    # An identity the config does not list: refused, whatever it asks
    r = ask("reload", b'{"id":"q-7"}', identity="mallory")
    if r["ok"] is not False or "identity \"mallory\" may not command this gateway" not in r["error"] or \
            r["id"] != "q-7":
        raise h.TestFailure("a stranger's reload: %r" % r)
    # A topic without an identity (or with more levels) is not a command: nothing comes back
    all_replies = lambda: len([m for m in list(sub.messages) if "/reply/" in m[0]])
    replies = all_replies()
    sub.publish(PREFIX + "/cmd/reload", b'{}')
    sub.publish(PREFIX + "/cmd/reload/ops/x", b'{}')
    ask("reload", b"[]")  # answered after both, if they were answered at all
    if all_replies() != replies + 1:
        raise h.TestFailure("replies to topics without an identity: %r" % sub.received("/reply/" + ADMIN))

    # A valid ack of an alert the gateway does not know
    r = ask("ack", b'{"alert_id":"a-17","by":"\xe7\x8e\x8b","note":"on site","id":"q-4"}')
    if r["ok"] is not False or r["error"] != 'unknown alert "a-17"' or r["id"] != "q-4":
        raise h.TestFailure("ack of an unknown alert: %r" % r)

    # A reload of the file as it runs: "unchanged", nothing restarts
    online = lambda: len([m for _, m, _ in sub.received("/status") if m.get("state") == "online"])
    before = online()
    r = ask("reload", b'{"id":"q-8"}')
    if r["ok"] is not True or not r["result"].startswith("unchanged") or r["id"] != "q-8":
        raise h.TestFailure("reload of the running config: %r" % r)
    # A changed good file: validated and applied (the run starts again, online again)
    with open(d.config_path, "w") as f:
        json.dump(dict(cfg, alerts={"escalate_every_s": 600}), f)
    r = ask("reload", b'{"id":"q-5"}')
    if r["ok"] is not True or "is valid" not in r["result"] or r["id"] != "q-5":
        raise h.TestFailure("reload of a good config: %r" % r)
    h.wait_until("online again after the reload", lambda: online() > before)
    if online() != before + 1 or "nothing restarted" not in d.output():
        raise h.TestFailure("%d starts for one reload" % (online() - before))

    # A broken file on disk: refused with the reason, and the daemon goes on polling and publishing
    with open(d.config_path, "w") as f:
        bad = dict(cfg, buses=[dict(bus, devices=[dict(bus["devices"][0], driver="level/no-such-driver")])])
        json.dump(bad, f)
    # (a second reload within reload_interval_s is refused for that alone: asked again until past it)
    r = h.wait_until("a reload past the interval", lambda: (lambda r: None if "at most one reload per 1 s"
                                                            in r.get("error", "") else r)(ask("reload", b'{"id":"q-6"}')))
    if r["ok"] is not False or "no-such-driver" not in r["error"] or r["id"] != "q-6":
        raise h.TestFailure("reload of a broken config: %r" % r)
    d.proc.send_signal(signal.SIGHUP)
    h.wait_until("the SIGHUP refusal logged", lambda: "SIGHUP: config refused, keeping the running config"
                 in d.output())
    n = len(sub.received("/readings"))
    h.wait_until("readings after the refusals", lambda: len(sub.received("/readings")) >= n + 3)
    if not d.running():
        raise h.TestFailure("the daemon stopped")
    out = d.output()
    for word in ("cmd/shutdown/ops refused", "cmd/ack/ops refused", "cmd/reload/mallory refused",
                 "reload refused, keeping the running config"):
        if word not in out:
            raise h.TestFailure("%r not logged:\n%s" % (word, out))
    if d.stop() != 0:
        raise h.TestFailure("daemon exited %s" % d.proc.returncode)


sys.exit(h.run(test))
