"""DTU trust, against the real daemon, simulators playing DTUs, and mosquitto.

- `caretaker check` refuses a DTU bus without a secret, and a secret file every user can read.
- Impersonators that know the IMEI (printed on the box) but not the secret, or send an id no
  bus has, are all treated alike: held without a byte back, then closed; nothing they would
  answer is ever asked, and the real meter's readings stand.
- A second DTU with the right secret is refused while the first answers its polls; once the
  first falls silent, the second takes over, and a dtu_replaced event with both peers is
  stored and published. Three takeovers raise the dtu_contested alert.
- An address outside a bus's allow list is closed at once, without a byte, and before the
  registration timeout of a connection opened earlier.
- Slowloris: 40 idle connections from the DTU's own address do not keep a real DTU out: it
  registers on its first connection, and the oldest idle ones are closed for it.
- A flood of 150 refused connections costs a handful of log lines.
"""

import json
import os
import re
import subprocess
import sys
import time

import harness as h
from dtu_raw import closed, connect

PREFIX = "caretaker/hongmei/gw-test"
IMEI = "868120034567891"
IMEI_C = "868120034567892"
IMEI_D = "868120034567893"
SECRET = "Xk3pQ9zw-7Lm"
SECRET_C = "Qa8vN2rt-4Hs"


def dtu_stats(sim):
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", sim.cmd("dtu stats"))}


def received_requests(sim, unit=1):
    line = sim.cmd("stats received")
    return {int(u): int(n) for u, n in re.findall(r"(\d+):(\d+)", line)}.get(unit, 0)


def polled(readings, device):
    return h.scalar(readings, "SELECT count(*) FROM reading_values WHERE device = ? AND point = 'level'", (device,)) or 0


def check_refuses(work, cfg, want):
    path = work.file("check.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    r = subprocess.run([h.BIN, "check", "-c", path], capture_output=True, text=True, timeout=30)
    out = r.stdout + r.stderr
    if r.returncode == 0 or want not in out:
        raise h.TestFailure("check accepted or said the wrong thing (%d): %s" % (r.returncode, out))
    if SECRET in out:
        raise h.TestFailure("check printed the secret: " + out)


def dtu_bus(bus_id, port, dtu_id, secret_path, device, **extra):
    bus = {"id": bus_id, "type": "dtu", "listen": "127.0.0.1:%d" % port, "dtu_id": dtu_id,
           "secret_file": secret_path, "heartbeat": "HB", "timeout_ms": 300, "retries": 0, "offline_after": 50,
           # Readings count polls here: every poll stored and published in full (report_max_s 0).
           "devices": [{"id": device, "unit": 1, "driver": "level/ultrasonic-generic", "poll_ms": 200,
                        "report_max_s": 0}]}
    bus.update(extra)
    return bus


def test(started):
    work = h.Workdir("dtu-trust")
    port, far_port = h.free_port(), h.free_port()
    secret = work.secret("dtu-a.secret", SECRET)
    secret_c = work.secret("dtu-c.secret", SECRET_C)

    # secure by default: no secret and no opt-out, or a secret anyone can read, is refused
    loose = dict(dtu_bus("dtu-a", port, IMEI, secret, "manhole-a1"))
    del loose["secret_file"]
    check_refuses(work, h.base_config(work, [loose]), "insecure_no_secret")
    shared = work.secret("shared.secret", SECRET)
    os.chmod(shared, 0o644)
    check_refuses(work, h.base_config(work, [dtu_bus("dtu-a", port, IMEI, shared, "manhole-a1")]),
                  "readable by every user")

    broker = h.Broker(work)
    started.append(broker)
    sub = h.Subscriber(broker.port, PREFIX + "/#", name="subscriber")
    started.append(sub)
    buses = [
        dtu_bus("dtu-a", port, IMEI, secret, "manhole-a1"),
        dtu_bus("dtu-c", port, IMEI_C, secret_c, "manhole-c1"),
        # on the shared port, but only from its carrier's range
        dtu_bus("dtu-d", port, IMEI_D, secret_c, "manhole-d1", allow=["10.64.0.0/16"]),
        # nobody on this machine may connect here
        dtu_bus("dtu-far", far_port, "868120034567899", secret, "manhole-f1", allow=["10.64.0.0/16", "2001:db8::/32"]),
    ]
    cfg = h.base_config(work, buses, mqtt=broker.mqtt(metrics_s=1))
    db = cfg["store"]["path"]
    # The readings as a consumer receives them: those acknowledged in time are never written
    received = h.ReadingMirror(work, broker.port, PREFIX)
    started.append(received)
    readings = received.path
    d = h.Daemon(work, cfg)
    started.append(d)
    h.wait_until("the daemon to listen", lambda: h.accepting(port), 10)

    scen_a = h.scenario(work, [{"unit": 1, "driver": "level/ultrasonic-generic",
                                "values": {"decimals": 2, "level": 0.33}}], name="a.json")
    scen_b = h.scenario(work, [{"unit": 1, "driver": "level/ultrasonic-generic",
                                "values": {"decimals": 2, "level": 0.44}}], name="b.json")
    scen_c = h.scenario(work, [{"unit": 1, "driver": "level/ultrasonic-generic",
                                "values": {"decimals": 2, "level": 0.55}}], name="c.json")
    sim_a = h.Sim(work, scen_a, extra=["--dtu", "127.0.0.1:%d" % port, "--dtu-id", "%s:%s" % (IMEI, SECRET),
                                       "--dtu-heartbeat", "HB", "--dtu-heartbeat-ms", "100"])
    started.append(sim_a)
    h.wait_until("readings through DTU a", lambda: h.latest(readings, "manhole-a1", "level") == (0.33, 0))

    # impersonators: the label's IMEI alone, the IMEI with a wrong secret, an id nobody has,
    # and a right packet from an address its bus does not allow
    fakes = [connect(port, p) for p in (IMEI.encode(), ("%s:Xk3pQ9zw-7Lx" % IMEI).encode(),
                                        b"999999999999999:whatever", ("%s:%s" % (IMEI_D, SECRET_C)).encode())]
    outsider_before = connect(port)  # opened before the outsider below: still held when it is closed
    base = polled(readings, "manhole-a1")
    h.wait_until("3 more polls of DTU a", lambda: polled(readings, "manhole-a1") >= base + 3)
    # alike while held: none closed early, none sent a byte
    if any(closed(s) for s in fakes):
        raise h.TestFailure("a wrong registration was closed at once: the answer tells a right id from a wrong one")

    # an address the bus does not allow: closed at once, not a byte, while the others are held
    far = connect(far_port, b"868120034567899:" + SECRET.encode())
    h.wait_until("the outsider closed", lambda: closed(far), 4)
    if closed(outsider_before):
        raise h.TestFailure("the outsider was not closed before a held connection's timeout")
    h.wait_until("the wrong registrations closed", lambda: all(closed(s) for s in fakes + [outsider_before]), 15)
    out = d.output()
    for want in (r"connection from 127\.0\.0\.1:\d+ claimed DTU %s \(bus dtu-a\) without its secret; closed" % IMEI,
                 r"bus dtu-d: DTU %s: connection from 127\.0\.0\.1:\d+ refused: its address is not in the bus's allow "
                 r"list" % IMEI_D,
                 r"connection from 127\.0\.0\.1:\d+, an address no bus allows; closed"):
        if not re.search(want, out):
            raise h.TestFailure("not logged: %s\n%s" % (want, out))
    if "bus dtu-d: DTU %s: registered" % IMEI_D in out:
        raise h.TestFailure("a DTU registered from an address its bus does not allow:\n" + out)
    for leak in ("Xk3pQ9zw", "Qa8vN2rt", "whatever"):
        if leak in out:
            raise h.TestFailure("a secret (or what may be one) was logged:\n" + out)
    if h.latest(readings, "manhole-a1", "level") != (0.33, 0) or dtu_stats(sim_a)["connects"] != 1:
        raise h.TestFailure("DTU a was disturbed: %r %r" % (h.latest(readings, "manhole-a1", "level"), dtu_stats(sim_a)))

    # a second DTU with the right secret while the first answers: refused, never polled
    sim_b = h.Sim(work, scen_b, extra=["--dtu", "127.0.0.1:%d" % port, "--dtu-id", "%s:%s" % (IMEI, SECRET),
                                       "--dtu-heartbeat", "HB", "--dtu-heartbeat-ms", "100"])
    started.append(sim_b)
    h.wait_until("the second DTU refused",
                 lambda: re.search(r"bus dtu-a: DTU %s: connection from 127\.0\.0\.1:\d+ refused: the current one "
                                   r"from 127\.0\.0\.1:\d+ still answers its polls" % IMEI, d.output()), 15)
    if received_requests(sim_b) != 0 or h.latest(readings, "manhole-a1", "level") != (0.33, 0):
        raise h.TestFailure("the second DTU was polled while the first answered")
    if h.scalar(readings, "SELECT count(*) FROM reading_values WHERE device = 'manhole-a1' AND value = 0.44"):
        raise h.TestFailure("a reading of the second DTU was stored")

    # the first falls silent: the second takes over, then they flip twice more
    flips = []
    for k, (silent, live, value) in enumerate(((sim_a, sim_b, 0.44), (sim_b, sim_a, 0.33), (sim_a, sim_b, 0.44))):
        silent.cmd("behave 1 silent")
        live.cmd("behave 1 ok")
        t0 = time.monotonic()
        h.wait_until("takeover %d" % (k + 1),
                     lambda: len(re.findall(r"DTU %s: new connection from .* replaces" % IMEI, d.output())) == k + 1,
                     20)
        flips.append(time.monotonic() - t0)
        h.wait_until("readings of the new connection (%s)" % value,
                     lambda: h.latest(readings, "manhole-a1", "level") == (value, 0))
    print("takeover after the current connection fell silent (poll 200 ms, timeout 300 ms): %s s"
          % ", ".join("%.2f" % f for f in flips))

    logged = re.findall(r"DTU %s: new connection from (127\.0\.0\.1:\d+) replaces the one from (127\.0\.0\.1:\d+)"
                        % IMEI, d.output())
    h.wait_until("three dtu_replaced events published",
                 lambda: len([m for _, m, _ in sub.received("/events") if m.get("event") == "dtu_replaced"]) == 3)
    events = [m for _, m, _ in sub.received("/events") if m.get("event") == "dtu_replaced"]
    for ev, (new, old) in zip(events, logged):
        if (ev["bus"], ev["dtu_id"], ev["old_peer"], ev["new_peer"]) != ("dtu-a", IMEI, old, new):
            raise h.TestFailure("dtu_replaced %r does not name the peers logged (%s replaced %s)" % (ev, new, old))
    if [ev["recent"] for ev in events] != [1, 2, 3]:
        raise h.TestFailure("takeovers not counted: %r" % events)
    stored = h.scalar(db, "SELECT count(*) FROM outbox WHERE kind = 3 AND body LIKE '%dtu_replaced%'")
    if stored != 3:
        raise h.TestFailure("%s dtu_replaced events stored (expected 3)" % stored)
    h.wait_until("the dtu_contested alert",
                 lambda: [m for _, m, _ in sub.received("/alerts") if m.get("rule") == "dtu_contested"])
    alerts = [m for _, m, _ in sub.received("/alerts") if m.get("rule") == "dtu_contested"]
    if len(alerts) != 1 or alerts[0]["severity"] != "major" or IMEI not in alerts[0]["message"]["en"]:
        raise h.TestFailure("dtu_contested: %r" % alerts)

    # slowloris from the DTU's own address, then a real DTU: in on its first connection
    idle = [connect(port) for _ in range(40)]
    sim_c = h.Sim(work, scen_c, extra=["--dtu", "127.0.0.1:%d" % port, "--dtu-id", "%s:%s" % (IMEI_C, SECRET_C)])
    started.append(sim_c)
    h.wait_until("readings through DTU c", lambda: h.latest(readings, "manhole-c1", "level") == (0.55, 0), 15)
    if dtu_stats(sim_c)["connects"] != 1:
        raise h.TestFailure("DTU c needed %d connections to register" % dtu_stats(sim_c)["connects"])
    # at most 8 pending per address: at least 32 of the idle ones made room
    h.wait_until("the oldest idle connections closed", lambda: sum(closed(s) for s in idle) >= 32, 10)
    for s in idle:
        s.close()

    # a flood of refusals: 150 connections with registrations nobody has
    before = len(re.findall(r"^<4>dtu 127\.0\.0\.1:%d: " % port, d.output(), re.M))
    flood = [connect(port, b"12345678901234%d" % i) for i in range(150)]
    h.wait_until("every flooding connection closed", lambda: all(closed(s) for s in flood), 20)
    for s in flood:
        s.close()
    lines = len(re.findall(r"^<4>dtu 127\.0\.0\.1:%d: " % port, d.output(), re.M)) - before
    print("log lines for 150 refused connections: %d" % lines)
    if lines > 4:
        raise h.TestFailure("%d log lines for 150 refusals (expected at most 4):\n%s" % (lines, d.output()[-3000:]))

    # every refusal and takeover counted in metrics, not only in the log
    def dtu_metrics():
        got = [m.get("dtu") for _, m, _ in sub.received("/metrics")]
        return got[-1] if got and got[-1] else None

    h.wait_until("metrics counting the 150 refusals and the 3 takeovers",
                 lambda: dtu_metrics() and dtu_metrics()["refused"] >= 150 and dtu_metrics()["takeovers"] == 3
                 and dtu_metrics()["claims_refused"] >= 1, 20)

    if not d.running():
        raise h.TestFailure("daemon died:\n" + d.output())
    if d.stop() != 0:
        raise h.TestFailure("daemon exited %s" % d.proc.returncode)


sys.exit(h.run(test))
