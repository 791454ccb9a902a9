"""Coils (FC 01) and discrete inputs (FC 02) end to end, over Modbus TCP: bits the simulator
serves, worked out by hand below, are the values in the store and in the readings at the broker;
a bit changed on the device shows in both."""

import json
import os
import sys

import harness as h

PREFIX = "caretaker/hongmei/gw-test"
PROFILES = os.path.join(h.SRC, "tests", "data", "profiles")

# The profile numbers from 1 (address_base 1): coil N is protocol address N-1.
# Coils set: protocol 0, 2, 7, 9, 16. The FC 01 reply from address 0 carries them LSB first:
# byte 0 = 0b10000101 (0x85), byte 1 = 0b00000010 (0x02), byte 2 = 0b00000001 (0x01).
# Coil 2 (protocol 2) has no point; it is set so that reading discrete input 3 with FC 01
# would give 1 where the discrete input is 0.
COILS_ON = (0, 2, 7, 9, 16)
# Discrete inputs set: protocol 3 and 11 (manual 4 and 12); 2 (manual 3) stays 0.
DISCRETES_ON = (3, 11)
EXPECTED = {"pump_1": 1, "pump_2": 0, "valve_8": 1, "valve_9": 0, "valve_10": 1, "alarm_17": 1,
            "float_low": 0, "float_high": 1, "door_open": 1}


def stored(db):
    rows = h.query(db, "SELECT point, value, quality FROM reading_values WHERE device = 'pump-station' AND seq = "
                       "(SELECT max(seq) FROM reading_values WHERE device = 'pump-station')")
    return {p: v for p, v, q in rows if q == 0}, {p for p, v, q in rows if q != 0}


def published(sub):
    """Values of the newest reading at the broker."""
    got = sub.received("/devices/pump-station/readings")
    return got[-1][1]["values"] if got else None


def test(started):
    work = h.Workdir("bits")
    scen = work.file("scenario.json")
    with open(scen, "w") as f:  # the simulator finds the test profile as the daemon does
        json.dump({"drivers_dirs": [PROFILES], "devices": [{"unit": 5, "driver": "test/coils-inputs"}]}, f)
    sim, broker, sub = h.stack(started, work, scen, PREFIX + "/devices/#")
    for a in range(0, 17):  # the unit's map: coils 0..16, discrete inputs 2..11
        sim.cmd("raw 5 coil %d %d" % (a, a in COILS_ON))
    for a in range(2, 12):
        sim.cmd("raw 5 discrete %d %d" % (a, a in DISCRETES_ON))
    bus = {"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": sim.tcp_port, "timeout_ms": 500,
           # The readings are checked poll by poll: every poll published in full (report_max_s 0).
           "devices": [{"id": "pump-station", "unit": 5, "driver": "test/coils-inputs", "poll_ms": 100,
                        "report_max_s": 0}]}
    cfg = h.base_config(work, [bus], mqtt=broker.mqtt())
    cfg["gateway"]["drivers_dirs"] = [PROFILES]
    received = h.ReadingMirror(work, broker.port, PREFIX)  # delivered readings are not written
    started.append(received)
    db = received.path
    d = h.Daemon(work, cfg)
    started.append(d)

    h.wait_until("a reading received", lambda: stored(db)[0])
    values, bad = stored(db)
    if values != EXPECTED or bad:
        raise h.TestFailure("received %r (not good: %r), expected %r" % (values, bad, EXPECTED))
    h.wait_until("a reading at the broker", lambda: published(sub))
    if published(sub) != EXPECTED:
        raise h.TestFailure("published %r, expected %r" % (published(sub), EXPECTED))

    # The device changes: alarm 17 (third byte) clears, pump 2 starts, float_high drops.
    sim.cmd("raw 5 coil 16 0")
    sim.cmd("raw 5 coil 1 1")
    sim.cmd("raw 5 discrete 3 0")
    changed = dict(EXPECTED, alarm_17=0, pump_2=1, float_high=0)
    h.wait_until("the changed bits received", lambda: stored(db)[0] == changed)
    h.wait_until("the changed bits at the broker", lambda: published(sub) == changed)
    if d.stop() != 0:
        raise h.TestFailure("daemon exited %s:\n%s" % (d.proc.returncode, d.output()))


sys.exit(h.run(test))
