"""Each wire checked against a device nobody here wrote: the real daemon reads two driver
profiles from mbpeer (tests/peer), a server of libmodbus's own making, over Modbus TCP and over
RTU on a pty pair, and every point stored is the value worked out by hand below from the
registers served — so a framing or word-order mistake shared by the daemon and the simulator
cannot hide."""

import os
import select
import subprocess
import sys
import time

import harness as h

PEER = os.environ.get("CARETAKER_MBPEER", "mbpeer")

# flow/xylem-magflux over TCP, unit 1 (holding registers).
#  600-601 flow, float32 CDAB (low word first), scale 3600: the float 0x3E4CCCCD is sign 0,
#    exponent 0x7C = 124 (2^-3), mantissa 0x4CCCCD = 5033165, so (8388608 + 5033165) / 2^23 / 8
#    = 13421773 / 67108864 = 0.20000000298023224 m3/s; x3600 = 720.0000107288361 m3/h.
#    Low word first on the wire: 600 = 0xCCCD, 601 = 0x3E4C.
#  604-607 forward_total, uint64 CDAB (words reversed), scale 1e-9: 123456789012 mm3
#    = 0x0000_001C_BE99_1A14 (28 * 2^32 + 0xBE991A14 = 120259084288 + 3197704724); lowest word
#    first: 604 = 0x1A14, 605 = 0xBE99, 606 = 0x001C, 607 = 0x0000; x1e-9 = 123.456789012 m3.
#  1001 system_errors = 0x0104 = 260: bit 2 totalizer_eeprom_error 1, bit 8 totalizer_overflow 1.
#  1002 alarms = 0x0021 = 33: bit 0 empty_pipe 1, bits 1, 2, 4 (low_flow_alarm,
#    high_flow_alarm, coil_error) 0, bit 5 sensor_error 1.
#  1004 = 0x0001: bit 0 reverse_flow 1.
TCP_SET = ["holding:600=0xCCCD,0x3E4C", "holding:604=0x1A14,0xBE99,0x001C,0x0000",
           "holding:1001=0x0104,0x0021,0,0x0001"]
TCP_WANT = {
    "flow": 720.0000107288361, "forward_total": 123.456789012, "system_errors": 260,
    "totalizer_eeprom_error": 1, "totalizer_overflow": 1, "alarms": 33, "empty_pipe": 1,
    "low_flow_alarm": 0, "high_flow_alarm": 0, "coil_error": 0, "sensor_error": 1, "reverse_flow": 1,
}

# flow/electromagnetic-generic over RTU, unit 7 (input registers, all ABCD: high word first).
#  0-1 flow, float32 12.5 = 1.5625 * 2^3: exponent 130 = 0x82, mantissa 0.5625 = 0x480000,
#    so 0x41480000: 0 = 0x4148, 1 = 0x0000.
#  2-3 velocity, float32 0xC0490FDB: sign 1, exponent 0x80 (2^1), mantissa 0x490FDB = 4788187,
#    (8388608 + 4788187) / 2^23 * 2 = 13176795 / 4194304, so -3.1415927410125732 m/s.
#  8-9 forward_int, int32 123456 = 0x0001E240 (65536 + 57920): 8 = 0x0001, 9 = 0xE240.
#  10-11 forward_frac, float32 0.25 = 2^-2: exponent 125 = 0x7D, so 0x3E800000.
#  forward_total = forward_int + forward_frac = 123456.25.
#  12-13 reverse_int, int32 -2 = 0xFFFFFFFE; 14-15 reverse_frac 0.5 = 0x3F000000;
#    reverse_total = -2 + 0.5 = -1.5.
#  16 alarms = 0x0005: bit 0 empty_pipe 1, bit 1 excitation_alarm 0, bit 2 high_limit_alarm 1,
#    bit 3 low_limit_alarm 0.
RTU_UNIT = 7
RTU_SET = ["input:0=0x4148,0x0000,0xC049,0x0FDB", "input:8=0x0001,0xE240,0x3E80,0x0000",
           "input:12=0xFFFF,0xFFFE,0x3F00,0x0000,0x0005"]
RTU_WANT = {
    "flow": 12.5, "velocity": -3.1415927410125732, "forward_int": 123456, "forward_frac": 0.25,
    "forward_total": 123456.25, "reverse_int": -2, "reverse_frac": 0.5, "reverse_total": -1.5,
    "alarms": 5, "empty_pipe": 1, "excitation_alarm": 0, "high_limit_alarm": 1, "low_limit_alarm": 0,
}


class Peer:
    """mbpeer serving the given --set values; ready once it says so on stdout."""

    def __init__(self, work, name, args, sets):
        self.log_path = work.file(name + ".log")
        self.log = open(self.log_path, "w")
        argv = [PEER] + args
        for s in sets:
            argv += ["--set", s]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.first = self._first_line(10.0)

    def _first_line(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.proc.stdout], [], [], 0.1)
            if r:
                line = self.proc.stdout.readline().strip()
                if line:
                    return line
            if self.proc.poll() is not None:
                break
        raise h.TestFailure("mbpeer did not start (see %s)" % self.log_path)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)
        self.log.close()


def stored(db, dev, want):
    """The points of dev whose latest stored value differs from the hand-worked one."""
    wrong = {}
    for point, value in want.items():
        got = h.latest(db, dev, point)
        if got is None or got[1] != 0 or abs(got[0] - value) > 1e-12 * max(1.0, abs(value)):
            wrong[point] = got
    return wrong


def test(started):
    work = h.Workdir("libmodbus-peer")
    tcp_peer = Peer(work, "peer-tcp", ["--tcp"], TCP_SET)
    started.append(tcp_peer)
    if not tcp_peer.first.startswith("port "):
        raise h.TestFailure("mbpeer --tcp said %r" % tcp_peer.first)
    line = h.PtyPair(work)
    started.append(line)
    rtu_peer = Peer(work, "peer-rtu", ["--rtu", line.a, "--baud", "9600", "--parity", "E",
                                       "--unit", str(RTU_UNIT)], RTU_SET)
    started.append(rtu_peer)
    common = {"timeout_ms": 500, "retries": 1}
    buses = [
        dict(common, id="lan", type="tcp", host="127.0.0.1", port=int(tcp_peer.first.split()[1]),
             devices=[{"id": "magflux", "unit": 1, "driver": "flow/xylem-magflux", "poll_ms": 100}]),
        # rts up: a pty has no RTS line, but each request still takes libmodbus's RTS path
        # (raise, write, wait out the bytes, lower) before the reply is read.
        dict(common, id="rs485-1", type="rtu", port=line.b, baud=9600, parity="E", rts="up",
             devices=[{"id": "emf", "unit": RTU_UNIT, "driver": "flow/electromagnetic-generic", "poll_ms": 100}]),
    ]
    cfg = h.base_config(work, buses)
    db = cfg["store"]["path"]
    d = h.Daemon(work, cfg)
    started.append(d)
    for dev, want in (("magflux", TCP_WANT), ("emf", RTU_WANT)):
        try:
            h.wait_until("%s's points stored as worked out by hand" % dev, lambda: not stored(db, dev, want), 30)
        except h.TestFailure:
            raise h.TestFailure("%s: points stored otherwise than worked out by hand, as (value, quality): %r"
                                % (dev, stored(db, dev, want)))
    # Not one failed exchange on either wire: both sides speak the same protocol.
    if not d.running():
        raise h.TestFailure("daemon died:\n" + d.output()[-3000:])
    for word in ("bad reply", "timeout", "link error"):
        if word in d.output():
            raise h.TestFailure("%r logged against an honest peer:\n%s" % (word, d.output()[-3000:]))
    if d.stop() != 0:
        raise h.TestFailure("daemon exited %s" % d.proc.returncode)


sys.exit(h.run(test))
