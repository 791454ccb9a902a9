"""caretaker probe, the commissioning command: reads a register pair from a live meter over
Modbus TCP, over RTU on a serial line and through a 4G DTU, and prints it in the four word
orders as float32, int32 and uint32 — expected lines worked by hand below; scans unit ids on a
line; says what went wrong in words a field engineer can act on."""

import re
import subprocess
import sys

import harness as h

# The meter's registers 2 and 3 hold 0x3F9D 0x70A4, the IEEE 754 float 1.23 high word first.
# Worked by hand (value bytes A B C D as the order names them):
#   ABCD 3F 9D 70 A4: sign 0, exponent 0x7F = 127 -> 2^0, mantissa 0x1D70A4 / 2^23 = 0.2300000
#        -> float 1.23; int 0x3F9D * 65536 + 0x70A4 = 16285 * 65536 + 28836 = 1067282596
#   CDAB 70 A4 3F 9D: exponent 0xE1 = 225 -> 2^98, mantissa 1 + 0x243F9D / 2^23 = 1.2831910
#        -> 1.2831910 * 2^98 = 4.066596e+29; int 28836 * 65536 + 16285 = 1889812381
#   BADC 9D 3F A4 70: sign 1, exponent 0x3A = 58 -> 2^-69, mantissa 1 + 0x3FA470 / 2^23 = 1.4971..
#        -> -2.536365e-21; uint 0x9D3F * 65536 + 0xA470 = 40255 * 65536 + 42096 = 2638193776,
#        int 2638193776 - 2^32 = -1656773520
#   DCBA A4 70 9D 3F: sign 1, exponent 0x48 = 72 -> 2^-55, mantissa 1 + 0x709D3F / 2^23 = 1.8798..
#        -> -5.21749e-17; uint 42096 * 65536 + 40255 = 2758843711, int -1536123585
EXPECTED = [
    ("ABCD", "1.23", "1067282596", "1067282596"),
    ("CDAB", "4.066596e+29", "1889812381", "1889812381"),
    ("BADC", "-2.536365e-21", "-1656773520", "2638193776"),
    ("DCBA", "-5.21749e-17", "-1536123585", "2758843711"),
]


def probe(*args, timeout=60):
    r = subprocess.run([h.BIN, "probe"] + list(args), capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def check_pair(out, where):
    if not re.search(r"^\s+2\s+0x3F9D\s+16285\s+16285$", out, re.M) or \
       not re.search(r"^\s+3\s+0x70A4\s+28836\s+28836$", out, re.M):
        raise h.TestFailure("%s: registers not printed in hex and decimal:\n%s" % (where, out))
    for order, f, i, u in EXPECTED:
        if not re.search(r"^(2-3)?\s+%s\s+%s\s+%s\s+%s$" % (order, re.escape(f), i, u), out, re.M):
            raise h.TestFailure("%s: no line %s %s %s %s in:\n%s" % (where, order, f, i, u, out))


def test(started):
    work = h.Workdir("probe")
    scen = h.scenario(work, [
        {"unit": 1, "driver": "level/ultrasonic-generic"},
        {"unit": 3, "driver": "level/ultrasonic-generic", "values": {"decimals": 2, "level": 0.5}},
        {"unit": 5, "driver": "level/ultrasonic-generic", "behave": "exception 4"},
    ])
    line = h.PtyPair(work)
    started.append(line)
    sim = h.Sim(work, scen, tcp=True, rtu=line.a)
    started.append(sim)
    sim.cmd("raw 1 holding 2 0x3F9D")
    sim.cmd("raw 1 holding 3 0x70A4")

    # TCP
    rc, out, err = probe("--tcp", "127.0.0.1:%d" % sim.tcp_port, "--unit", "1", "--address", "2", "--count", "2")
    if rc != 0:
        raise h.TestFailure("probe over tcp exited %d: %s%s" % (rc, out, err))
    if not out.startswith("unit 1, holding registers 2..3 over tcp 127.0.0.1:%d: 2 in " % sim.tcp_port):
        raise h.TestFailure("probe over tcp: first line %r" % out.splitlines()[0])
    check_pair(out, "tcp")

    # RTU on the pty line, the same pair
    rc, out, err = probe("--rtu", line.b, "--baud", "9600", "--unit", "1", "--address", "2", "--count", "2")
    if rc != 0:
        raise h.TestFailure("probe over rtu exited %d: %s%s" % (rc, out, err))
    check_pair(out, "rtu")

    # scan the line: 1 and 3 answer, 5 answers with an exception (it is there), 2 and 4 are silent
    rc, out, err = probe("--rtu", line.b, "--scan", "1-6")
    if rc != 0 or not re.search(r"^3 answered: 1, 3, 5$", out, re.M):
        raise h.TestFailure("scan over rtu (%d): %s%s" % (rc, out, err))
    if not re.search(r"^unit 3: answered, holding registers 0 = 50$", out, re.M) or \
       not re.search(r"^unit 5: answered with exception 04 server device failure", out, re.M) or \
       re.search(r"^unit [246]:", out, re.M):
        raise h.TestFailure("scan lines:\n" + out)

    # what the engineer reads when something is wrong
    rc, out, err = probe("--rtu", line.b, "--unit", "2", "--timeout", "100")
    if rc != 1 or "timeout" not in out or "--scan 1-247" not in out:
        raise h.TestFailure("silent unit (%d): %s%s" % (rc, out, err))
    rc, out, err = probe("--tcp", "127.0.0.1:%d" % sim.tcp_port, "--unit", "1", "--address", "60", "--count", "2")
    if rc != 1 or "exception 02 illegal data address" not in out:
        raise h.TestFailure("missing address (%d): %s%s" % (rc, out, err))
    rc, out, err = probe("--tcp", "127.0.0.1:%d" % sim.tcp_port, "--count", "126")
    if rc != 2 or "at most 125 registers" not in err:
        raise h.TestFailure("count 126 (%d): %s%s" % (rc, out, err))
    rc, out, err = probe("--unit", "1")
    if rc != 2 or "no link given" not in err:
        raise h.TestFailure("no link (%d): %s%s" % (rc, out, err))
    # a rate the kernel has but libmodbus would open at 9600, and an RTS mode that is none
    rc, out, err = probe("--rtu", line.b, "--baud", "14400")
    if rc != 2 or '--baud "14400": expected one of 110, 300,' not in err or "4000000" not in err:
        raise h.TestFailure("baud 14400 (%d): %s%s" % (rc, out, err))
    rc, out, err = probe("--rtu", line.b, "--rts", "sideways")
    if rc != 2 or '--rts "sideways": expected none, up or down' not in err:
        raise h.TestFailure("rts sideways (%d): %s%s" % (rc, out, err))

    # through a DTU: probe listens and waits, the DTU connects and registers with its secret
    port = h.free_port()
    rc, out, err = probe("--dtu-listen", "127.0.0.1:%d" % port, "--dtu-id", "868120034567891")
    if rc != 2 or "--dtu-secret-file FILE" not in err or "--dtu-insecure" not in err:
        raise h.TestFailure("a DTU without a secret (%d): %s%s" % (rc, out, err))
    secret = work.secret("dtu.secret", "Xk3pQ9zw")
    p = subprocess.Popen([h.BIN, "probe", "--dtu-listen", "127.0.0.1:%d" % port, "--dtu-id", "868120034567891",
                          "--dtu-secret-file", secret, "--wait", "30", "--unit", "1", "--address", "2", "--count",
                          "2"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started.append(_Proc(p))
    dtu = h.Sim(work, scen, extra=["--dtu", "127.0.0.1:%d" % port, "--dtu-id", "868120034567891:Xk3pQ9zw",
                                   "--dtu-heartbeat", "HB", "--dtu-heartbeat-ms", "20"])
    started.append(dtu)
    dtu.cmd("raw 1 holding 2 0x3F9D")
    dtu.cmd("raw 1 holding 3 0x70A4")
    dtu.cmd("dtu heartbeat-before-reply on")
    out, err = p.communicate(timeout=60)
    if p.returncode != 0:
        raise h.TestFailure("probe through a dtu exited %d: %s%s" % (p.returncode, out, err))
    if "waiting up to 30 s for DTU 868120034567891" not in err:
        raise h.TestFailure("probe did not say it waits for the DTU: %s" % err)
    check_pair(out, "dtu")

    # help a field engineer can work from
    for args in (["help", "probe"], ["probe", "--help"]):
        r = subprocess.run([h.BIN] + args, capture_output=True, text=True, timeout=10)
        if r.returncode != 0 or "--dtu-listen" not in r.stdout or "examples:" not in r.stdout:
            raise h.TestFailure("%s: %r" % (" ".join(args), r.stdout[:200]))


class _Proc:
    def __init__(self, p):
        self.p = p

    def stop(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


sys.exit(h.run(test))
