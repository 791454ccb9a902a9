"""Hostile devices and DTUs against the sanitized daemon: an RS-485 device (on a pty pair)
answering with frames longer than any Modbus frame may be (byte count 252..255, CRC right),
truncated frames and frames from the wrong unit; a device on another line that streams without
end once asked; a DTU that registers and does the same over its socket; and a DTU that floods.

Checks: no sanitizer report; the daemon stays up; the honest meters (the simulator on Modbus TCP
and behind an honest DTU on the same listener) keep storing readings; every hostile device's
bad replies are counted (growing, on metrics) and a frame too long is logged as such."""

import os
import re
import socket
import struct
import sys
import threading

import harness as h

PREFIX = "caretaker/hongmei/gw-test"
DRIVER = "level/ultrasonic-generic"
HONEST_DTU = "868120034567891"
HOSTILE_DTU = "868120034567892"
FLOOD_DTU = "868120034567893"

# hostile units: what each answers
OVERSIZED, TRUNCATED, WRONG_UNIT, STREAM = 5, 6, 7, 8


def crc16(b):
    crc = 0xFFFF
    for x in b:
        crc ^= x
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def rtu(body):
    c = crc16(body)
    return bytes(body) + bytes([c & 0xFF, c >> 8])


class Hostile:
    """Answers RTU requests (8-byte frames) read from an fd-like channel: per unit, a frame too
    long (byte counts 252..255 in turn, CRC right), half a frame, the reply of another unit,
    or bytes without end."""

    def __init__(self, send):
        self.send = send
        self.buf = b""
        self.longest = 251
        self.streaming = False

    def feed(self, data):
        self.buf += data
        while len(self.buf) >= 8:
            req, self.buf = self.buf[:8], self.buf[8:]
            if rtu(req[:6]) != req:
                self.buf = b""  # out of step: start again with the next request
                return
            self.answer(req)

    def answer(self, req):
        unit, fc, count = req[0], req[1], struct.unpack(">H", req[4:6])[0]
        data = bytes(2 * count if fc in (3, 4) else (count + 7) // 8)
        if unit == OVERSIZED:
            self.longest = 252 + (self.longest - 251) % 4
            self.send(rtu(bytes([unit, fc, self.longest]) + bytes(range(self.longest))))
        elif unit == TRUNCATED:
            frame = rtu(bytes([unit, fc, len(data)]) + data)
            self.send(frame[:len(frame) // 2])
        elif unit == WRONG_UNIT:
            self.send(rtu(bytes([unit + 1, fc, len(data)]) + data))
        elif unit == STREAM:
            self.streaming = True
            junk = b"\x5a" * 4096
            while self.streaming:
                try:
                    self.send(junk)
                except OSError:
                    return


class SerialDevice:
    """A hostile device on the simulator's end of a pty pair."""

    def __init__(self, path):
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        self.hostile = Hostile(self._send)
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _send(self, b):
        if self.stopping:
            raise OSError("stopped")
        os.write(self.fd, b)

    def _run(self):
        while not self.stopping:
            try:
                self.hostile.feed(os.read(self.fd, 512))
            except OSError:
                return

    def stop(self):
        self.stopping = True
        self.hostile.streaming = False
        os.close(self.fd)


# The hostile DTUs hold their secrets: the threat here is what a registered DTU (or a meter
# behind one) sends, not who may register (tests/security/test_dtu_trust.py).
DTU_SECRET = "Hq7vR2kLp9"


def dtu_bus(work, bus_id, port, dtu_id, devices):
    """A DTU bus whose registration is "<id>:<secret>" (the default pattern with a secret)."""
    return {"id": bus_id, "type": "dtu", "listen": "127.0.0.1:%d" % port, "dtu_id": dtu_id, "heartbeat": "HB",
            "secret_file": work.secret(bus_id + ".secret", DTU_SECRET),
            "timeout_ms": 200, "retries": 0, "offline_after": 100, "backoff_max_ms": 1000, "devices": devices}


def dtu_registration(dtu_id):
    return "%s:%s" % (dtu_id, DTU_SECRET)


def dtu_register(sock, dtu_id):
    """What a DTU sends on connecting, for the bus dtu_bus made."""
    sock.sendall(dtu_registration(dtu_id).encode())


class HostileDtu:
    """A DTU that registers, then answers like Hostile; it dials again whenever the gateway
    drops it (as a real DTU does)."""

    def __init__(self, port, dtu_id):
        self.port = port
        self.dtu_id = dtu_id
        self.stopping = False
        self.sock = None
        self.connects = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping:
            try:
                self.sock = socket.create_connection(("127.0.0.1", self.port), 5)
                self.sock.settimeout(None)
                dtu_register(self.sock, self.dtu_id)
                self.connects += 1
                hostile = Hostile(self.sock.sendall)
                while not self.stopping:
                    data = self.sock.recv(512)
                    if not data:
                        break
                    hostile.feed(data)
            except OSError:
                pass  # refused or dropped: dial again
            finally:
                if self.sock:
                    self.sock.close()
            if not self.stopping:
                threading.Event().wait(0.1)  # a DTU's redial pause, not a synchronisation

    def stop(self):
        self.stopping = True
        if self.sock:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def devices(prefix, units):
    # Readings count polls here: every poll stored and published in full (report_max_s 0).
    return [{"id": "%s-%d" % (prefix, u), "unit": u, "driver": DRIVER, "poll_ms": 100,
             "report_max_s": 0} for u in units]


def rows(db, dev):
    return h.scalar(db, "SELECT count(*) FROM reading_values WHERE device = ? AND point = 'level' AND quality = 0",
                    (dev,)) or 0


def test(started):
    work = h.Workdir("hostile-devices")
    line = h.PtyPair(work)
    started.append(line)
    flood_line = h.PtyPair(h.Workdir("hostile-flood-line"))
    started.append(flood_line)
    scen = h.scenario(work, [{"unit": 1, "driver": DRIVER, "values": {"decimals": 2, "level": 0.42}}])
    sim, broker, sub = h.stack(started, work, scen, PREFIX + "/metrics")
    port = h.free_port()
    common = {"timeout_ms": 200, "retries": 0, "offline_after": 100, "backoff_max_ms": 1000}
    hostile_units = (OVERSIZED, TRUNCATED, WRONG_UNIT)
    buses = [
        dict(common, id="lan", type="tcp", host="127.0.0.1", port=sim.tcp_port, devices=devices("honest-tcp", [1])),
        dict(common, id="rs485-bad", type="rtu", port=line.b, baud=9600, devices=devices("rtu", hostile_units)),
        dict(common, id="rs485-flood", type="rtu", port=flood_line.b, baud=9600, devices=devices("rtu", [STREAM])),
        dtu_bus(work, "dtu-ok", port, HONEST_DTU, devices("honest-dtu", [1])),
        dtu_bus(work, "dtu-bad", port, HOSTILE_DTU, devices("dtu", hostile_units)),
        dtu_bus(work, "dtu-flood", port, FLOOD_DTU, devices("dtu", [STREAM])),
    ]
    cfg = h.base_config(work, buses, mqtt=broker.mqtt(metrics_s=1))
    # The readings as a consumer receives them: those acknowledged in time are never written
    received = h.ReadingMirror(work, broker.port, PREFIX)
    started.append(received)
    db = received.path
    d = h.Daemon(work, cfg)
    started.append(d)
    h.wait_until("the daemon to listen for DTUs", lambda: h.accepting(port), 10)
    honest_dtu = h.Sim(work, scen, extra=["--dtu", "127.0.0.1:%d" % port, "--dtu-id", dtu_registration(HONEST_DTU),
                                          "--dtu-heartbeat", "HB", "--dtu-heartbeat-ms", "100"])
    started.append(honest_dtu)
    flood_dtu = HostileDtu(port, FLOOD_DTU)
    for dev in (SerialDevice(line.a), SerialDevice(flood_line.a), HostileDtu(port, HOSTILE_DTU), flood_dtu):
        started.append(dev)

    honest = ("honest-tcp-1", "honest-dtu-1")
    hostile = ["%s-%d" % (p, u) for p in ("rtu", "dtu") for u in hostile_units + (STREAM,)]

    def bad_replies():
        got = sub.received("/metrics")
        return got[-1][1]["devices"] if got else {}

    h.wait_until("honest readings", lambda: all(rows(db, dev) > 0 for dev in honest))
    h.wait_until("bad replies counted for every hostile device",
                 lambda: all(bad_replies().get(dev, {}).get("bad_replies", 0) >= 3 for dev in hostile), 40)
    first = {dev: bad_replies()[dev]["bad_replies"] for dev in hostile}
    before = {dev: rows(db, dev) for dev in honest}

    # the honest meters keep flowing and the hostile ones keep being refused (and counted)
    for dev in honest:
        h.wait_until("%s flowing next to hostile devices" % dev, lambda: rows(db, dev) >= before[dev] + 20, 30)
    h.wait_until("the bad replies counted growing",
                 lambda: all(bad_replies()[dev]["bad_replies"] >= first[dev] + 3 for dev in hostile), 30)
    if h.latest(db, "honest-tcp-1", "level") != (0.42, 0) or h.latest(db, "honest-dtu-1", "level") != (0.42, 0):
        raise h.TestFailure("honest readings: %r %r" % (h.latest(db, "honest-tcp-1", "level"),
                                                        h.latest(db, "honest-dtu-1", "level")))
    for dev in hostile:
        if rows(db, dev):
            raise h.TestFailure("%s: %d valid readings published from a hostile device" % (dev, rows(db, dev)))

    out = d.output()
    # Refusals repeat and are logged at growing intervals, so one line is asked for; on a
    # serial line a reply that came too late is seen by the next unit's request.
    if not re.search(r"bus (rs485|dtu)-bad: \S+ \(unit \d+\): bad reply reading .*reply frame of 2(5[7-9]|60) bytes "
                     r"\(at most 256\)", out):
        raise h.TestFailure("no frame-too-long refusal logged:\n" + out[-3000:])
    # the flooding DTU is dropped (it dials again each time) rather than read without end
    h.wait_until("the flooding DTU dropped twice", lambda: flood_dtu.connects >= 3, 30)
    if not d.running():
        raise h.TestFailure("daemon died:\n" + d.output()[-3000:])
    code = d.stop()
    with open(d.log_path) as f:
        out = f.read()  # with what the sanitizers say at exit
    for word in ("AddressSanitizer", "runtime error", "LeakSanitizer"):
        if word in out:
            raise h.TestFailure("sanitizer report:\n" + out[-6000:])
    if code != 0:
        raise h.TestFailure("daemon exited %s:\n%s" % (code, out[-3000:]))
    print("bad replies counted: %s" % ", ".join("%s %d" % (dev, bad_replies()[dev]["bad_replies"])
                                                 for dev in hostile))


sys.exit(h.run(test))
