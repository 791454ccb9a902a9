"""Modbus RTU at line settings other than 9600 8N1: 8E1 at 19200, 8N2 at 38400, 8O1 at 115200
(above 19200 the inter-frame silence is a fixed 1.75 ms). A pty carries bytes whatever its
settings, so besides the values read through the simulator (which paces its replies at the
line's speed and frame size) the test checks the settings the daemon gave its end of the line:
speed and stop bits as the pty keeps them (termios), and all of them as the daemon asked for
them — Linux ptys drop PARENB, so tests/integration/termios_spy.c, preloaded, records the
daemon's tcsetattr. A daemon ignoring parity, stop bits or speed fails here."""

import os
import re
import sys
import termios

import harness as h

LINES = ((19200, "E", 1), (38400, "N", 2), (115200, "O", 1))
SPEEDS = {19200: termios.B19200, 38400: termios.B38400, 115200: termios.B115200}


def line_settings(path):
    """(speed, parity letter, stop bits, data bits) of a tty as its termios says."""
    fd = os.open(path, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        _, _, cflag, _, ispeed, ospeed, _ = termios.tcgetattr(fd)
    finally:
        os.close(fd)
    if ispeed != ospeed:
        raise h.TestFailure("%s: input speed %d, output speed %d" % (path, ispeed, ospeed))
    parity = "N" if not cflag & termios.PARENB else "O" if cflag & termios.PARODD else "E"
    size = {termios.CS7: 7, termios.CS8: 8}.get(cflag & termios.CSIZE, 0)
    return ospeed, parity, 2 if cflag & termios.CSTOPB else 1, size


def spied_env(work):
    """Environment preloading termios_spy (built beside the tests) into the daemon."""
    spy = os.environ.get("TERMIOS_SPY")
    if not spy or not os.path.exists(spy):
        raise h.TestFailure("TERMIOS_SPY does not name the built termios_spy library (%r)" % spy)
    # ASan wants to come first in the library list; the spy only wraps tcsetattr.
    return {"LD_PRELOAD": spy, "TERMIOS_SPY_LOG": work.file("tcsetattr.log"),
            "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"}


def requested(work):
    """(speed, parity, stop bits, data bits) of the daemon's last tcsetattr, as the spy saw it."""
    try:
        with open(work.file("tcsetattr.log")) as f:
            calls = f.read().splitlines()
    except OSError:
        return None
    if not calls:
        return None
    m = re.fullmatch(r"fd=\d+ ispeed=(\d+) ospeed=(\d+) (\d)([NEO])(\d)", calls[-1])
    if not m or m.group(1) != m.group(2):
        raise h.TestFailure("tcsetattr recorded as %r" % calls[-1])
    return int(m.group(2)), m.group(4), int(m.group(5)), int(m.group(3))


def one_line(started, baud, parity, stop_bits):
    name = "%d 8%s%d" % (baud, parity, stop_bits)
    work = h.Workdir("rtu-%d%s%d" % (baud, parity, stop_bits))
    line = h.PtyPair(work)
    started.append(line)
    want = (SPEEDS[baud], parity, stop_bits, 8)
    # What a pty keeps of the settings: speed, stop bits (it forces CS8 and clears PARENB).
    kept = lambda s: (s[0], s[2])
    if kept(line_settings(line.b)) == kept(want):
        raise h.TestFailure("%s: the fresh pty already has these settings; the check below could not fail" % name)
    scen = h.scenario(work, [{"unit": 9, "driver": "level/radar-float", "values": {"level": 0.82, "distance": 1.5}}])
    sim = h.Sim(work, scen, rtu=line.a, extra=["--baud", str(baud), "--parity", parity,
                                               "--stop-bits", str(stop_bits), "--byte-timing"])
    started.append(sim)
    if kept(line_settings(line.a)) != kept(want):
        raise h.TestFailure("%s: the simulator's end is %r" % (name, line_settings(line.a)))
    bus = {"id": "rs485-1", "type": "rtu", "port": line.b, "baud": baud, "parity": parity,
           "stop_bits": stop_bits, "timeout_ms": 300,
           "devices": [{"id": "pit-2", "unit": 9, "driver": "level/radar-float", "poll_ms": 100}]}
    cfg = h.base_config(work, [bus])
    db = cfg["store"]["path"]
    d = h.Daemon(work, cfg, env=spied_env(work))
    started.append(d)
    h.wait_until("%s: a reading" % name, lambda: h.latest(db, "pit-2", "distance"))
    if kept(line_settings(line.b)) != kept(want):
        raise h.TestFailure("%s: the daemon's end of the line is %r, expected %r" % (name, line_settings(line.b), want))
    if requested(work) != want:
        raise h.TestFailure("%s: the daemon set its line to %r, expected %r" % (name, requested(work), want))
    level, quality = h.latest(db, "pit-2", "level")
    if quality != 0 or abs(level - 0.82) > 1e-6 or h.latest(db, "pit-2", "distance") != (1.5, 0):
        raise h.TestFailure("%s: stored level %r, distance %r" % (name, (level, quality), h.latest(db, "pit-2", "distance")))
    sim.cmd("set 9 level 1.75")
    h.wait_until("%s: the new level" % name, lambda: (h.latest(db, "pit-2", "level") or (0,))[0] == 1.75)
    failed = h.scalar(db, "SELECT count(*) FROM reading_values WHERE device = 'pit-2' AND quality != 0")
    if d.stop() != 0:
        raise h.TestFailure("%s: daemon exited %s:\n%s" % (name, d.proc.returncode, d.output()))
    print("%s: %d polls stored, %d points not good" % (name, h.scalar(db, "SELECT count(*) FROM reading_values "
                                                                         "WHERE device = 'pit-2' AND point = 'level'"),
                                                       failed))


def test(started):
    for baud, parity, stop_bits in LINES:
        one_line(started, baud, parity, stop_bits)


sys.exit(h.run(test))
