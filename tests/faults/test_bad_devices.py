"""Devices that misbehave in every way at once, on a Modbus TCP endpoint and on a shared RS-485
line (a pty pair): one that never answers, one that answers garbage (random bytes, a broken
check, the wrong unit, the wrong function), one slower than the timeout, one slow but within
it, one that answers only exceptions, one that stops mid-frame — next to a healthy meter.

Checks: the daemon survives; the healthy and the slow-but-in-time meters keep flowing on both
buses while the others fail; not one stored value differs from what the simulator holds (no
garbage stored, whatever the reply); the failing meters store no valid value at all; and once
they answer properly again every meter's readings come back."""

import sys

import harness as h

# unit: (behaviour, level in metres, decimals 2)
UNITS = {
    1: ("ok", 0.11),
    2: ("silent", 0.22),
    3: ("garbage", 0.33),
    4: ("slow 700", 0.44),
    5: ("slow 40", 0.55),
    6: ("exception 4", 0.66),
    7: ("truncate", 0.77),
}
NAMES = {1: "ok", 2: "silent", 3: "garbage", 4: "slow-late", 5: "slow-in-time", 6: "exception", 7: "truncate"}
NEVER_VALID = (2, 3, 6, 7)


def expected(level):
    """Every point's engineering value: the level as set, 2 decimals, the rest at offset 0."""
    return {"level": level, "decimals": 2.0}


def devices(prefix):
    # Readings count polls here: every poll stored and published in full (report_max_s 0).
    return [{"id": "%s-%s" % (prefix, NAMES[u]), "unit": u, "driver": "level/ultrasonic-generic", "poll_ms": 100,
             "report_max_s": 0}
            for u in UNITS]


def check_values(db):
    """No stored valid value differs from the simulator's."""
    rows = h.query(db, "SELECT device, point, value FROM reading_values WHERE quality = 0")
    for dev, point, value in rows:
        unit = next(u for u, n in NAMES.items() if dev.endswith("-" + n))
        want = expected(UNITS[unit][1]).get(point, 0.0)
        if abs(value - want) > 1e-9:
            raise h.TestFailure("%s.%s stored as %r; the device holds %r" % (dev, point, value, want))
    return len(rows)


def valid_count(db, dev):
    return h.scalar(db, "SELECT count(*) FROM reading_values WHERE device = ? AND point = 'level' AND quality = 0",
                    (dev,)) or 0


def test(started):
    work = h.Workdir("fault-devices")
    pty = h.PtyPair(work)
    started.append(pty)
    scen = h.scenario(work, [{"unit": u, "driver": "level/ultrasonic-generic",
                              "values": {"decimals": 2, "level": lvl}} for u, (_, lvl) in UNITS.items()])
    sim = h.Sim(work, scen, tcp=True, rtu=pty.a)
    started.append(sim)
    common = {"timeout_ms": 200, "retries": 1, "offline_after": 2, "backoff_max_ms": 1000}
    tcp = dict(common, id="lan", type="tcp", host="127.0.0.1", port=sim.tcp_port, devices=devices("tcp"))
    rtu = dict(common, id="rs485-1", type="rtu", port=pty.b, baud=9600, devices=devices("rtu"))
    cfg = h.base_config(work, [tcp, rtu])
    db = cfg["store"]["path"]
    d = h.Daemon(work, cfg)
    started.append(d)
    h.wait_until("first readings of the healthy meters",
                 lambda: valid_count(db, "tcp-ok") > 0 and valid_count(db, "rtu-ok") > 0)

    for u, (behaviour, _) in UNITS.items():
        sim.cmd("behave %d %s" % (u, behaviour))
    # Replies sent before the switch are stored by the time every unit was asked three more times
    start = sim.stats()
    h.wait_until("every misbehaving unit asked 3 times",
                 lambda: all(sim.stats().get(u, 0) >= start.get(u, 0) + 3 for u in UNITS if u != 1), 60)
    bad = ["%s-%s" % (bus, NAMES[u]) for u in NEVER_VALID for bus in ("tcp", "rtu")]
    frozen = {dev: valid_count(db, dev) for dev in bad}
    flowing = {dev: valid_count(db, dev) for dev in ("tcp-ok", "rtu-ok", "tcp-slow-in-time", "rtu-slow-in-time")}
    start = sim.stats()
    h.wait_until("every misbehaving unit asked 30 times",
                 lambda: all(sim.stats().get(u, 0) >= start.get(u, 0) + 30 for u in UNITS if u != 1), 120)
    if not d.running():
        raise h.TestFailure("daemon died:\n" + d.output()[-3000:])
    for dev, before in flowing.items():
        h.wait_until("%s flowing while its neighbours fail" % dev, lambda: valid_count(db, dev) >= before + 10, 30)
    for dev, before in frozen.items():
        if valid_count(db, dev) != before:
            raise h.TestFailure("%s: %d valid readings stored while it misbehaved" %
                                (dev, valid_count(db, dev) - before))
    check_values(db)

    for u in UNITS:
        sim.cmd("behave %d ok" % u)
    for u in UNITS:
        for bus in ("tcp", "rtu"):
            dev = "%s-%s" % (bus, NAMES[u])
            h.wait_until("%s back" % dev, lambda: h.latest(db, dev, "level") == (UNITS[u][1], 0), 60)
    n = check_values(db)
    if d.stop() != 0:
        raise h.TestFailure("daemon exited %s on SIGTERM" % d.proc.returncode)
    print("%d valid values stored, every one as the simulator holds it" % n)


sys.exit(h.run(test))
