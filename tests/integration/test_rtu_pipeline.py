"""The real daemon polls the simulator over Modbus RTU on a serial line (a socat pty pair): word
orders of a low-word-first meter and a 1-based register map decode to the values served."""

import sys

import harness as h

FLOW = {"flow": -3.25, "velocity": 1.5, "positive_int": 1000, "positive_frac": 0.5, "empty_pipe": 1}
LEVEL = {"level": 0.82, "distance": 1.5}


def test(started):
    work = h.Workdir("rtu")
    line = h.PtyPair(work)
    started.append(line)
    scen = h.scenario(work, [
        {"unit": 7, "driver": "flow/ultrasonic-generic", "values": FLOW},
        {"unit": 9, "driver": "level/radar-float", "values": LEVEL},
    ])
    sim = h.Sim(work, scen, rtu=line.a, extra=["--baud", "9600"])
    started.append(sim)
    bus = {"id": "rs485-1", "type": "rtu", "port": line.b, "baud": 9600, "parity": "N", "timeout_ms": 300,
           "devices": [
               {"id": "storm-outfall", "unit": 7, "driver": "flow/ultrasonic-generic", "poll_ms": 200},
               {"id": "pit-2", "unit": 9, "driver": "level/radar-float", "poll_ms": 200},
           ]}
    cfg = h.base_config(work, [bus])
    db = cfg["store"]["path"]
    d = h.Daemon(work, cfg)
    started.append(d)
    h.wait_until("readings over the serial line", lambda: h.latest(db, "storm-outfall", "positive_total") and
                 h.latest(db, "pit-2", "level"))
    want = [("storm-outfall", "flow", -3.25),             # float32 CDAB (low word first), REG0001 = address 0
            ("storm-outfall", "velocity", 1.5),
            ("storm-outfall", "positive_total", 1000.5),  # long + fraction
            ("storm-outfall", "empty_pipe", 1),
            ("pit-2", "level", 0.82),                     # float32 CDAB: 0.82 is not exact in float32
            ("pit-2", "distance", 1.5)]
    for device, point, value in want:
        got = h.latest(db, device, point)
        tol = 1e-6 if point == "level" else 1e-9
        if got is None or got[1] != 0 or abs(got[0] - value) > tol:
            raise h.TestFailure("%s.%s: stored %r, expected %r" % (device, point, got, value))
    sim.cmd("set 9 level 1.75")
    h.wait_until("the new level over RTU", lambda: (h.latest(db, "pit-2", "level") or (0,))[0] == 1.75)
    if d.stop() != 0:
        raise h.TestFailure("daemon exited %s:\n%s" % (d.proc.returncode, d.output()))


sys.exit(h.run(test))
