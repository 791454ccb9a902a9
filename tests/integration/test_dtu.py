"""4G DTUs: Caretaker listens, DTUs connect in, register, send heartbeats and carry Modbus RTU.
Two DTU buses share one listening port and are told apart by their registration (an IMEI sent
as is, and an ICCID inside a configured pattern); heartbeats — a configured literal on one, an
unconfigured text on the other — are skipped even when they arrive between a request and its
reply; a DTU that redials, and one whose second connection claims its id while the first is
still open, keep being polled; a DTU that goes away takes its meters offline and brings them
back when it returns; a registration nobody expects is held, refused and logged without the
secret part."""

import re
import socket
import sys

import harness as h

IMEI = "868120034567891"
ICCID = "89860412345678901234"


def dtu_stats(sim):
    reply = sim.cmd("dtu stats")
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", reply)}


def test(started):
    work = h.Workdir("dtu")
    port = h.free_port()
    scen_a = h.scenario(work, [
        {"unit": 1, "driver": "level/ultrasonic-generic", "values": {"decimals": 2, "level": 0.33}},
        {"unit": 7, "driver": "level/ultrasonic-generic", "values": {"decimals": 2, "level": 0.77}},
    ], name="a.json")
    scen_b = h.scenario(work, [
        {"unit": 1, "driver": "level/ultrasonic-generic", "values": {"decimals": 2, "level": 0.55}},
    ], name="b.json")
    secret = work.secret("dtu-a.secret", "Xk3pQ9zw")
    buses = [
        {"id": "dtu-a", "type": "dtu", "listen": "127.0.0.1:%d" % port, "dtu_id": IMEI, "heartbeat": "HB",
         "secret_file": secret,
         "timeout_ms": 500, "retries": 1, "offline_after": 2, "backoff_max_ms": 1000,
         "devices": [
             {"id": "manhole-a1", "unit": 1, "driver": "level/ultrasonic-generic", "poll_ms": 100},
             {"id": "manhole-a7", "unit": 7, "driver": "level/ultrasonic-generic", "poll_ms": 100},
         ]},
        # no heartbeat configured: the DTU's "www.usr.cn" is skipped by its shape
        {"id": "dtu-b", "type": "dtu", "listen": "127.0.0.1:%d" % port, "dtu_id": ICCID,
         "register_pattern": "REG{id}", "timeout_ms": 500, "insecure_no_secret": True,
         "devices": [{"id": "manhole-b1", "unit": 1, "driver": "level/ultrasonic-generic", "poll_ms": 100}]},
    ]
    cfg = h.base_config(work, buses)
    db = cfg["store"]["path"]
    d = h.Daemon(work, cfg)
    started.append(d)
    h.wait_until("the daemon to listen on port %d" % port, lambda: h.accepting(port), 10)
    sim_a = h.Sim(work, scen_a, extra=["--dtu", "127.0.0.1:%d" % port, "--dtu-id", IMEI + ":Xk3pQ9zw",
                                       "--dtu-heartbeat", "HB", "--dtu-heartbeat-ms", "50"])
    started.append(sim_a)
    sim_b = h.Sim(work, scen_b, extra=["--dtu", "127.0.0.1:%d" % port, "--dtu-id", "REG" + ICCID,
                                       "--dtu-heartbeat", "www.usr.cn", "--dtu-heartbeat-ms", "50"])
    started.append(sim_b)

    # registration and polling, two DTUs on one port, two meters behind the first
    h.wait_until("readings through DTU a", lambda: h.latest(db, "manhole-a1", "level") == (0.33, 0))
    h.wait_until("readings of the second meter behind DTU a",
                 lambda: h.latest(db, "manhole-a7", "level") == (0.77, 0))
    h.wait_until("readings through DTU b", lambda: h.latest(db, "manhole-b1", "level") == (0.55, 0))
    out = d.output()
    for dtu, bus in ((IMEI, "dtu-a"), (ICCID, "dtu-b")):
        if not re.search(r"^<5>bus %s: DTU %s: registered from 127\.0\.0\.1:\d+" % (bus, dtu), out, re.M):
            raise h.TestFailure("no registration logged for %s:\n%s" % (dtu, out))

    # heartbeats between a request and its reply
    for sim, dev, value in ((sim_a, "manhole-a1", 0.61), (sim_b, "manhole-b1", 0.62)):
        sim.cmd("dtu heartbeat-before-reply on")
        seen = sim.stats().get(1, 0)
        sim.cmd("set 1 level %s" % value)
        h.wait_until("%s = %s with heartbeats before each reply" % (dev, value),
                     lambda: h.latest(db, dev, "level") == (value, 0))
        h.wait_until("20 more replies", lambda: sim.stats().get(1, 0) >= seen + 20)
    if "bad reply" in d.output():
        raise h.TestFailure("a heartbeat was taken for a reply:\n" + d.output())

    # the DTU redials (a new connection, the old one closed by the DTU)
    sim_a.cmd("dtu reconnect")
    sim_a.cmd("set 1 level 0.71")
    h.wait_until("a value after the redial", lambda: h.latest(db, "manhole-a1", "level") == (0.71, 0))

    # a second connection claims the id while the first is still open but silent (a NAT that
    # cut the first): once a poll on the old one goes unanswered, the new one takes over; the
    # old socket is closed by the gateway and logged
    sim_a.cmd("dtu replace")
    h.wait_until("the gateway to close the old connection", lambda: dtu_stats(sim_a)["stale_closed"] == 1)
    sim_a.cmd("set 1 level 0.81")
    h.wait_until("a value over the new connection", lambda: h.latest(db, "manhole-a1", "level") == (0.81, 0))
    if not re.search(r"^<5>bus dtu-a: DTU %s: new connection from 127\.0\.0\.1:\d+ replaces the one from "
                     r"127\.0\.0\.1:\d+, which is closed$" % IMEI, d.output(), re.M):
        raise h.TestFailure("the replacement was not logged:\n" + d.output())
    # DTU b was never disturbed
    if dtu_stats(sim_b)["connects"] != 1:
        raise h.TestFailure("DTU b reconnected: %r" % dtu_stats(sim_b))

    # the DTU goes away: its meters go offline; it comes back: online again
    sim_a.cmd("dtu disconnect")
    offline = lambda: h.scalar(db, "SELECT count(*) FROM outbox o JOIN devices v ON v.id = o.device_id "
                                   "WHERE v.name = 'manhole-a1' AND o.kind = 2 AND o.body LIKE '%offline%'")
    h.wait_until("manhole-a1 offline", lambda: offline() >= 1)
    sim_a.cmd("set 1 level 0.91")
    sim_a.cmd("dtu connect")
    h.wait_until("manhole-a1 back", lambda: h.latest(db, "manhole-a1", "level") == (0.91, 0), timeout=30)

    # a registration no bus expects: held until the registration timeout, closed, logged up to
    # where a secret could start (DTU a's packet is "IMEI:secret": 16 public bytes)
    with socket.create_connection(("127.0.0.1", port), 5) as s:
        s.sendall(b"99999999999999999:guess")
        s.settimeout(15)
        if s.recv(16) != b"":
            raise h.TestFailure("an unknown DTU got data instead of a closed connection")
    h.wait_until("the unknown registration logged",
                 lambda: re.search(r'^<4>dtu 127\.0\.0\.1:%d: connection from 127\.0\.0\.1:\d+ sent a registration '
                                   r'no bus expects: "9999999999999999\.\.\." \(23 bytes\); closed' % port,
                                   d.output(), re.M))
    if "guess" in d.output():
        raise h.TestFailure("the part of a registration that may be a secret was logged:\n" + d.output())
    if not d.running():
        raise h.TestFailure("daemon died:\n" + d.output())
    if d.stop() != 0:
        raise h.TestFailure("daemon exited %s" % d.proc.returncode)


sys.exit(h.run(test))
