"""The profiles of real device families over Modbus TCP: the simulator serves a Microsensor MFE600E
and a Xylem MagFlux flow meter, a VEGAPULS C 21 radar and a Monarch NICE3000+ elevator controller from their profiles;
the daemon stores what it decodes. Then registers are written raw, as the manuals' example frames
give them, and the stored values must be the ones the manuals state."""

import sys

import harness as h

FLOW = {"flow": 12.5, "flow_unit": 2, "forward_int_high": 1e9, "forward_int_low": 234567, "forward_frac": 0.25,
        "reverse_int_low": 12, "reverse_frac": 0.5, "velocity": 0.75, "empty_pipe_alarm": 1, "diameter": 300}
MAGFLUX = {"flow": 36.0, "forward_total": 1234.5, "empty_pipe": 0, "sensor_error": 1}
LEVEL = {"level": 1.25, "pv_unit": 45, "device_status": 0}
LIFT = {"speed": 1.0, "rated_speed": 1.75, "floor": 6, "load": 52.3, "door_closed": 1, "light_curtain": 1,
        "mode": 7, "car_state": 5, "direction": 1, "fault_code": 0}


def test(started):
    work = h.Workdir("real")
    scen = h.scenario(work, [
        {"unit": 1, "driver": "flow/microsensor-mfe600e", "values": FLOW},
        {"unit": 2, "driver": "level/vega-vegapuls-c21", "values": LEVEL},
        {"unit": 3, "driver": "elevator/monarch-nice3000plus", "values": LIFT},
        {"unit": 4, "driver": "flow/xylem-magflux", "values": MAGFLUX},
    ])
    sim = h.Sim(work, scen, tcp=True)
    started.append(sim)
    bus = {"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": sim.tcp_port, "timeout_ms": 500,
           "devices": [
               {"id": "outfall", "unit": 1, "driver": "flow/microsensor-mfe600e", "poll_ms": 100},
               {"id": "pit-1", "unit": 2, "driver": "level/vega-vegapuls-c21", "poll_ms": 100},
               {"id": "lift-b3u1", "unit": 3, "driver": "elevator/monarch-nice3000plus", "poll_ms": 100,
                "params": {"top_floor": 7}},
               {"id": "main-flow", "unit": 4, "driver": "flow/xylem-magflux", "poll_ms": 100},
           ]}
    cfg = h.base_config(work, [bus])
    db = cfg["store"]["path"]
    d = h.Daemon(work, cfg)
    started.append(d)

    h.wait_until("readings of the three devices", lambda: h.latest(db, "outfall", "forward_total") and
                 h.latest(db, "pit-1", "level") and h.latest(db, "lift-b3u1", "fault_code") and
                 h.latest(db, "main-flow", "forward_total"))

    def value(device, point):
        got = h.latest(db, device, point)
        return got[0] if got and got[1] == 0 else None

    def check(device, point, want, eps=1e-9):
        got = h.latest(db, device, point)
        if got is None or got[1] != 0 or abs(got[0] - want) > eps:
            raise h.TestFailure("%s.%s: stored %r, expected %r with quality ok" % (device, point, got, want))

    def becomes(device, point, want, eps=1e-9):
        h.wait_until("%s.%s = %r" % (device, point, want),
                     lambda: value(device, point) is not None and abs(value(device, point) - want) <= eps)

    # What the simulator encoded from the profiles, decoded by the daemon
    check("outfall", "flow", 12.5)
    check("outfall", "velocity", 0.75)
    check("outfall", "forward_total", 1000234567.25)   # 1 x 1E9 + 234567 + 0.25
    check("outfall", "reverse_total", 12.5)
    check("outfall", "empty_pipe_alarm", 1)
    check("outfall", "diameter", 300)
    check("main-flow", "flow", 36.0, 1e-4)            # 0.01 m3/s as float32 CDAB, x3600
    check("main-flow", "forward_total", 1234.5)        # uint64 mm3, low word first, x1E-9
    check("main-flow", "sensor_error", 1)
    check("pit-1", "level", 1.25)                      # float32 CDAB at input register 106
    check("pit-1", "pv_unit", 45)
    check("lift-b3u1", "speed", 1.0)
    check("lift-b3u1", "rated_speed", 1.75)
    check("lift-b3u1", "load", 52.3)
    check("lift-b3u1", "floor", 6)
    check("lift-b3u1", "mode", 7)
    check("lift-b3u1", "car_state", 5)
    check("lift-b3u1", "door_closed", 1)
    check("lift-b3u1", "door_open", 0)
    check("lift-b3u1", "direction", 1)

    def write(unit, table, address, *words):
        """Writes registers raw, from address on, with no encoder involved."""
        for i, w in enumerate(words):
            sim.cmd("raw %d %s %d 0x%04X" % (unit, table, address + i, w))

    # Registers as the manuals give them; each step: the words written, then the values stored
    steps = [
        # MFE600E example: "01 03 04 BE 80 00 00" is the float -0.25
        ((1, "holding", 0, 0xBE80, 0x0000), [("outfall", "flow", -0.25)]),
        # MFE600E: "0x00,0x00,0x06,0x40 (LONG) number represent 1600", as the forward low part
        ((1, "holding", 3, 0x0000, 0x0640), [("outfall", "forward_int_low", 1600),
                                             ("outfall", "forward_total", 1000001600.25)]),
        # MagFlux: 2^-7 m3/s (3C000000H), low word at 600: 28.125 m3/h
        ((4, "holding", 600, 0x0000, 0x3C00), [("main-flow", "flow", 28.125)]),
        # MagFlux: 1,500,000,000 mm3 (59682F00H), least significant word first at 604
        ((4, "holding", 604, 0x2F00, 0x5968, 0x0000, 0x0000), [("main-flow", "forward_total", 1.5)]),
        # VEGAPULS C 21: PV 1.5 m (3FC00000H) in byte order CDAB: the low word in register 106
        ((2, "input", 106, 0x0000, 0x3FC0), [("pit-1", "level", 1.5)]),
        # VEGAPULS C 21: NE 107 device status 1, failure
        ((2, "input", 2307, 1), [("pit-1", "device_status", 1)]),
        # NICE3000+ 0x101D = 0578H: hall fire (bit 3), automatic (7 in bits 4-7), running (5 in bits 8-11)
        ((3, "holding", 0x101D, 0x0578), [("lift-b3u1", "hall_fire", 1), ("lift-b3u1", "mode", 7),
                                          ("lift-b3u1", "car_state", 5)]),
        # inspection (0) and stopped (6): 0600H
        ((3, "holding", 0x101D, 0x0600), [("lift-b3u1", "car_state", 6), ("lift-b3u1", "mode", 0)]),
        # fault information 0x8000 = 41 (E41 safety circuit open); status word 0x3000 = 2 (down)
        ((3, "holding", 0x8000, 41), [("lift-b3u1", "fault_code", 41)]),
        ((3, "holding", 0x3000, 2), [("lift-b3u1", "direction", 2)]),
    ]
    for words, wants in steps:
        write(*words)
        for device, point, want in wants:
            becomes(device, point, want)

sys.exit(h.run(test))
