"""Reload, by SIGHUP and by cmd/reload/<identity> of an admin: a valid config on disk is applied without a restart
by systemd (same process) — a device added is polled and published, a device removed is no
longer polled — and nothing is lost or sent under a used seq across it; a config that moves
the store is refused and the running one goes on; one that loads but cannot start (a
world-readable password file) is left for the running one, the daemon never stops."""

import json
import os
import signal
import sys

import harness as h

PREFIX = "caretaker/hongmei/gw-test"


def device(unit, poll_ms=50):
    # Readings count polls here: every poll published in full (report_max_s 0).
    return {"id": "manhole-%d" % unit, "unit": unit, "driver": "level/ultrasonic-generic", "poll_ms": poll_ms,
            "report_max_s": 0}


def readings_of(sub, name):
    """Readings of a device delivered (those acknowledged in time are never written)."""
    return len({m["seq"] for _, m, _ in sub.received("/devices/%s/readings" % name)})


def onlines(sub):
    return [m for _, m, _ in sub.received("/status") if m.get("state") == "online"]


def test(started):
    work = h.Workdir("reload")
    day_at_start = h.local_day(h.now_ms())
    scen = h.scenario(work, [{"unit": u, "driver": "level/ultrasonic-generic",
                              "values": {"decimals": 2, "level": 0.5 * u}} for u in (1, 2)])
    sim, broker, sub = h.stack(started, work, scen, PREFIX + "/#")

    def config(units):
        bus = {"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": sim.tcp_port, "timeout_ms": 500,
               "devices": [device(u) for u in units]}
        return h.base_config(work, [bus], mqtt=broker.mqtt(),
                             commands={"reload_interval_s": 1, "commanders": {"ops": {"role": "admin"}}})

    cfg = config([1])
    db = cfg["store"]["path"]
    d = h.Daemon(work, cfg)
    started.append(d)
    h.wait_until("manhole-1 published", lambda: len(sub.received("/devices/manhole-1/readings")) >= 5)
    if sub.received("/devices/manhole-2/readings"):
        raise h.TestFailure("manhole-2 published before it was configured")

    # SIGHUP with a device added: polled, stored and published, by the same process
    with open(d.config_path, "w") as f:
        json.dump(config([1, 2]), f)
    d.proc.send_signal(signal.SIGHUP)
    h.wait_until("manhole-2 published after SIGHUP", lambda: len(sub.received("/devices/manhole-2/readings")) >= 5)
    if not d.running() or "SIGHUP" not in d.output() or "applying it (1 buses, 2 devices)" not in d.output():
        raise h.TestFailure("SIGHUP: running %s, log:\n%s" % (d.running(), d.output()))
    if h.latest_received(sub, "manhole-2", "level") != (1.0, 0):
        raise h.TestFailure("manhole-2 latest level %r" % (h.latest_received(sub, "manhole-2", "level"),))

    def ask_once(payload):
        n = len(sub.received("/reply/ops"))
        sub.publish(PREFIX + "/cmd/reload/ops", payload)
        return h.wait_until("the reply to cmd/reload", lambda: sub.received("/reply/ops")[n:])[0][1]

    def ask(payload):
        """The reply to a reload asked once reload_interval_s (1 s) after the last one applied."""
        return h.wait_until("a reload past the interval", lambda: (lambda r: None if "at most one reload per 1 s"
                                                                   in r.get("error", "") else r)(ask_once(payload)))

    # A config that moves the store is refused; the running config goes on
    h.wait_until("online again after the SIGHUP reload", lambda: len(onlines(sub)) >= 2)
    moved = config([1, 2])
    moved["store"]["path"] = work.file("elsewhere.db")
    with open(d.config_path, "w") as f:
        json.dump(moved, f)
    r = ask(b'{"id":"r-1"}')
    if r["ok"] is not False or "store.path changed" not in r["error"] or r["id"] != "r-1":
        raise h.TestFailure("reload moving the store: %r" % r)
    n2 = readings_of(sub, "manhole-2")
    h.wait_until("readings go on after the refusal", lambda: readings_of(sub, "manhole-2") >= n2 + 5)

    # cmd/reload with a device removed: answered, then manhole-1 is no longer polled
    with open(d.config_path, "w") as f:
        json.dump(config([2]), f)
    r = ask(b'{"id":"r-2"}')
    if r["ok"] is not True or "applying it (1 buses, 1 devices)" not in r["result"] or r["id"] != "r-2":
        raise h.TestFailure("reload removing a device: %r" % r)
    # Every reading of the run before is committed before the next run starts, so once it is
    # online the count of manhole-1's readings is final.
    h.wait_until("online again after cmd/reload", lambda: len(onlines(sub)) >= 3)
    n1, n2 = readings_of(sub, "manhole-1"), readings_of(sub, "manhole-2")
    h.wait_until("manhole-2 polled on", lambda: readings_of(sub, "manhole-2") >= n2 + 20)
    if readings_of(sub, "manhole-1") != n1:
        raise h.TestFailure("manhole-1 still polled after it was removed: %d -> %d" % (n1, readings_of(sub, "manhole-1")))
    if not d.running():
        raise h.TestFailure("the daemon stopped:\n" + d.output())

    # A config that loads but cannot start (a password file every user may read):
    # the gateway goes back to the config it was running instead of stopping
    pw = work.file("password")
    with open(pw, "w") as f:
        f.write("secret\n")
    os.chmod(pw, 0o644)
    bad = config([2])
    bad["mqtt"].update(username="gw", password_file=pw)
    with open(d.config_path, "w") as f:
        json.dump(bad, f)
    d.proc.send_signal(signal.SIGHUP)
    h.wait_until("the fall back to the running config logged",
                 lambda: "going back to the running one" in d.output(), 30)
    h.wait_until("online again on the running config", lambda: len(onlines(sub)) >= 4)
    n2 = readings_of(sub, "manhole-2")
    h.wait_until("manhole-2 polled on", lambda: readings_of(sub, "manhole-2") >= n2 + 10)
    if not d.running():
        raise h.TestFailure("the daemon stopped on a config that cannot start:\n" + d.output())

    # Run across a local midnight (CARETAKER_TEST_CLOCK), the day's reports are among the seqs
    if h.local_day(h.now_ms()) != day_at_start:
        h.wait_until("the daily reports of the day that ended",
                     lambda: h.scalar(db, "SELECT count(*) FROM outbox WHERE kind = 5"), 30)
    # Nothing lost, no seq used twice: every stored row reaches the subscriber under its own seq,
    # and with the readings delivered from memory the seqs have no gap across reloads (a reload
    # is a clean stop: the next run goes on from the last seq)
    stored = dict(h.query(db, "SELECT seq, ts FROM outbox"))

    def delivered():
        got = {}
        for topic, m, _ in sub.received():
            if h.outbox_topic(topic) and m.get("seq"):
                if got.setdefault(m["seq"], m["ts"]) != m["ts"]:
                    raise h.TestFailure("seq %d delivered with two timestamps" % m["seq"])
        return got

    h.wait_until("every stored seq delivered", lambda: all(s in delivered() for s in stored))
    got = delivered()
    if any(got[s] != stored[s] for s in stored):
        raise h.TestFailure("a seq delivered with another timestamp than stored")
    gaps = lambda: sorted(set(range(1, max(got) + 1)) - set(delivered()) - set(stored))
    h.wait_until("no gap in the seqs across reloads", lambda: not gaps(), 10)
    seqs = sorted(set(delivered()) | set(stored))
    if d.stop() != 0:
        raise h.TestFailure("daemon exited %s" % d.proc.returncode)
    reports = h.scalar(db, "SELECT count(*) FROM outbox WHERE kind = 5")
    print("%d runs in one process, %d seqs (%d daily reports), 1..%d delivered without a gap%s" %
          (len(onlines(sub)), len(seqs), reports, seqs[-1],
           ", across a local midnight" if h.local_day(h.now_ms()) != day_at_start else ""))


sys.exit(h.run(test))
