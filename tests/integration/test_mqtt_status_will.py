"""The status topic (docs/mqtt.md): retained "online" at connect; on SIGTERM a retained "offline"
with ts, version and started_ts before the daemon disconnects, and no Last Will after it; when
the daemon dies (SIGKILL: its socket closes) or its link goes silent (SIGSTOP: the broker waits
out 1.5 keepalives) the broker publishes the Last Will, retained, which has no ts."""

import signal
import sys

import harness as h

PREFIX = "caretaker/hongmei/gw-test"
CLIENT = "caretaker-hongmei-gw-test"
WILL = {"v": 1, "gateway": "gw-test", "seq": 0, "state": "offline"}


def statuses(sub):
    return [(m, retained) for _, m, retained in sub.received("/status")]


def wait_status(sub, what, pred, after):
    """The first status message past the first `after` ones that satisfies pred."""
    def found():
        for m, _ in statuses(sub)[after:]:
            if pred(m):
                return m
        return None
    return h.wait_until(what, found, 20)


def is_online(m):
    return m.get("state") == "online"


def check_online(m):
    for key in ("ts", "version", "started_ts"):
        if not isinstance(m.get(key), (int, str)) or m.get(key) in ("", 0):
            raise h.TestFailure("online status lacks %s: %r" % (key, m))
    if m["v"] != 1 or m["gateway"] != "gw-test" or m["seq"] != 0 or m["started_ts"] > m["ts"]:
        raise h.TestFailure("online status %r" % m)


def retained_status(broker, name):
    """What a subscriber connecting now is given: the retained status."""
    late = h.Subscriber(broker.port, PREFIX + "/status", name=name)
    try:
        got = h.wait_until("the retained status for " + name, lambda: late.received("/status"), 10)
    finally:
        late.stop()
    topic, m, retained = got[0]
    if not retained:
        raise h.TestFailure("%s: status not retained: %r" % (name, m))
    return m


def test(started):
    work = h.Workdir("status-will")
    scen = h.scenario(work, [{"unit": 1, "driver": "level/ultrasonic-generic", "values": {"level": 1.0}}])
    sim, broker, sub = h.stack(started, work, scen, PREFIX + "/status")
    bus = {"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": sim.tcp_port, "timeout_ms": 500,
           "devices": [{"id": "manhole-3", "unit": 1, "driver": "level/ultrasonic-generic", "poll_ms": 200}]}
    cfg = h.base_config(work, [bus], mqtt=broker.mqtt(keepalive_s=5))
    broker_log = lambda: open(broker.log_path).read()

    # 1. Online, then a silent link: the broker gives up after 1.5 keepalives and sends the Will.
    d = h.Daemon(work, cfg)
    started.append(d)
    online = wait_status(sub, "online", is_online, 0)
    check_online(online)
    n = len(statuses(sub))
    d.proc.send_signal(signal.SIGSTOP)
    try:
        will = wait_status(sub, "the Last Will after the link went silent", lambda m: m.get("state") == "offline", n)
        if will != WILL:
            raise h.TestFailure("Last Will %r, expected %r" % (will, WILL))
        if "Client %s has exceeded timeout" % CLIENT not in broker_log():
            raise h.TestFailure("the Will came before the broker's keepalive timeout:\n" + broker_log()[-2000:])
        if retained_status(broker, "a subscriber after the silent link") != WILL:
            raise h.TestFailure("the Will is not the retained status")
        n = len(statuses(sub))
    finally:
        d.proc.send_signal(signal.SIGCONT)  # a stopped daemon would not stop on SIGTERM at cleanup

    # The daemon wakes up, finds its connection gone, and comes back online.
    again = wait_status(sub, "online again after SIGCONT", is_online, n)
    if again["started_ts"] != online["started_ts"]:
        raise h.TestFailure("started_ts changed without a restart: %r then %r" % (online, again))

    # 2. SIGTERM: "offline" with ts, version and started_ts, published before the disconnect.
    n = len(statuses(sub))
    if d.stop() != 0:
        raise h.TestFailure("daemon exited %s on SIGTERM:\n%s" % (d.proc.returncode, d.output()))
    clean = wait_status(sub, "the clean offline status", lambda m: m.get("state") == "offline", n)
    if (clean["version"] != online["version"] or clean["started_ts"] != online["started_ts"]
            or not clean["ts"] >= again["ts"] or clean["seq"] != 0):
        raise h.TestFailure("clean offline status %r after %r" % (clean, again))
    # The broker saw a DISCONNECT, which discards the Will: the retained status stays the clean one.
    h.wait_until("the broker to see the daemon disconnect", lambda: "Client %s disconnected." % CLIENT in broker_log())
    if retained_status(broker, "a subscriber after SIGTERM") != clean:
        raise h.TestFailure("retained status after a clean stop is not the clean offline")

    # 3. SIGKILL: the socket closes without DISCONNECT; the broker sends the Will at once.
    d2 = h.Daemon(work, cfg, name="caretaker2")
    started.append(d2)
    n = len(statuses(sub))
    online2 = wait_status(sub, "online after the restart", is_online, n)
    check_online(online2)
    if online2["started_ts"] < clean["ts"]:
        raise h.TestFailure("restarted daemon's started_ts %d before the clean stop at %d" % (online2["started_ts"], clean["ts"]))
    n = len(statuses(sub))
    d2.proc.send_signal(signal.SIGKILL)
    d2.proc.wait(10)
    will2 = wait_status(sub, "the Last Will after SIGKILL", lambda m: m.get("state") == "offline", n)
    if will2 != WILL:
        raise h.TestFailure("Last Will after SIGKILL %r, expected %r" % (will2, WILL))
    if retained_status(broker, "a subscriber after SIGKILL") != WILL:
        raise h.TestFailure("the Will is not the retained status after SIGKILL")


sys.exit(h.run(test))
