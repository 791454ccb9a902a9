"""The real daemon polls the simulator over Modbus TCP; the SQLite file holds the values the
simulator serves, with the time they were read; a change on the device shows up; SIGTERM stops
it cleanly and a restart continues the seq."""

import signal
import sys

import harness as h

# Engineering values served by the simulator (it encodes them through the profiles on its own).
LEVEL = {"decimals": 3, "level": 1.234, "distance": 0.5, "temperature": 21.5, "blind_zone": 1}
FLOW = {"flow": 12.5, "velocity": 0.75, "forward_int": 123456, "forward_frac": 0.75, "empty_pipe": 1}


def test(started):
    work = h.Workdir("tcp")
    scen = h.scenario(work, [
        {"unit": 1, "driver": "level/ultrasonic-generic", "values": LEVEL},
        {"unit": 2, "driver": "flow/electromagnetic-generic", "values": FLOW},
    ])
    sim = h.Sim(work, scen, tcp=True)
    started.append(sim)
    bus = {"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": sim.tcp_port, "timeout_ms": 500,
           "devices": [
               {"id": "manhole-3", "unit": 1, "driver": "level/ultrasonic-generic", "poll_ms": 100,
                "location": "3号楼北侧窨井"},
               {"id": "flow-main", "unit": 2, "driver": "flow/electromagnetic-generic", "poll_ms": 100},
           ]}
    cfg = h.base_config(work, [bus])
    db = cfg["store"]["path"]
    t0 = h.now_ms()
    d = h.Daemon(work, cfg)
    started.append(d)

    h.wait_until("readings of both devices", lambda: h.latest(db, "manhole-3", "level") and
                 h.latest(db, "flow-main", "forward_total"))

    def check(device, point, want):
        got = h.latest(db, device, point)
        if got is None or got[1] != 0 or abs(got[0] - want) > 1e-9:
            raise h.TestFailure("%s.%s: stored %r, expected %r with quality ok" % (device, point, got, want))

    check("manhole-3", "level", 1.234)          # int16 1234 with 3 decimal places
    check("manhole-3", "decimals", 3)
    check("manhole-3", "distance", 0.5)         # float32 ABCD
    check("manhole-3", "temperature", 21.5)     # int16 215 x 0.1
    check("manhole-3", "blind_zone", 1)         # bit 1 of the status word
    check("manhole-3", "echo_lost", 0)
    check("manhole-3", "status", 2)             # the whole status word: only bit 1 set
    check("flow-main", "flow", 12.5)
    check("flow-main", "forward_total", 123456.75)  # int32 integer part + float32 fraction
    check("flow-main", "empty_pipe", 1)

    # The time stored is the time the value was read
    ts = h.query(db, "SELECT min(ts), max(ts) FROM reading_values")[0]
    now = h.now_ms()
    if not (t0 - 1000 <= ts[0] <= ts[1] <= now):
        raise h.TestFailure("reading times %r outside the run [%d, %d]" % (ts, t0, now))

    # A change on the device reaches the store
    sim.cmd("set 1 level 2.5")
    h.wait_until("the new level", lambda: (h.latest(db, "manhole-3", "level") or (0,))[0] == 2.5)

    # A value outside the profile's range (level max 30 m) is stored as invalid, not as a number
    sim.cmd("set 1 level 31")
    h.wait_until("an invalid level", lambda: h.latest(db, "manhole-3", "level") == (None, 1))

    # Clean stop: exit 0 and every reading it took is committed
    if d.stop(signal.SIGTERM) != 0:
        raise h.TestFailure("daemon exited %s on SIGTERM:\n%s" % (d.proc.returncode, d.output()))
    last = h.query(db, "SELECT max(seq), count(*) FROM outbox")[0]
    if last[0] != last[1]:
        raise h.TestFailure("seq has gaps after a clean stop: max %d, rows %d" % last)

    # A restart continues the seq where it stopped
    d2 = h.Daemon(work, cfg, name="caretaker2")
    started.append(d2)
    h.wait_until("readings after restart", lambda: h.query(db, "SELECT count(*) FROM outbox WHERE seq > ?",
                                                             (last[0],))[0][0] >= 4)
    d2.stop()
    rows = h.query(db, "SELECT max(seq), count(*), min(seq) FROM outbox")[0]
    if rows[0] != rows[1] or rows[2] != 1:
        raise h.TestFailure("seq not continuous across the restart: %r" % (rows,))


sys.exit(h.run(test))
