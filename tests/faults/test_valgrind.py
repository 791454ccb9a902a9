"""One valgrind (memcheck) pass of the whole pipeline: the daemon, built without sanitizers in
a build tree of its own (valgrind and ASan cannot share a process), polls two meters over
Modbus TCP and publishes to a real broker, then stops on SIGTERM. Any memcheck error — an
invalid read or write, a jump on uninitialised memory, a definite or possible leak — fails it.

usage: test_valgrind.py BUILD_DIR   (configured and built here if needed)"""

import json
import os
import signal
import subprocess
import sys

import harness as h

PREFIX = "caretaker/hongmei/gw-test"


def build(build_dir):
    cmd = ["cmake", "-S", h.SRC, "-B", build_dir, "-DCMAKE_BUILD_TYPE=Debug", "-DCARETAKER_SANITIZE=OFF",
           "-DCARETAKER_FUZZ=OFF", "-DCARETAKER_BENCH=OFF"]
    os.makedirs(build_dir, exist_ok=True)
    log = os.path.join(build_dir, "build.log")
    with open(log, "w") as f:
        if subprocess.call(cmd, stdout=f, stderr=subprocess.STDOUT) != 0 or \
           subprocess.call(["cmake", "--build", build_dir, "--target", "caretaker", "-j%d" % (os.cpu_count() or 1)],
                           stdout=f, stderr=subprocess.STDOUT) != 0:
            raise h.TestFailure("the plain build failed, see %s" % log)
    return os.path.join(build_dir, "gateway", "caretaker")


class Valgrind:
    def __init__(self, work, binary, config):
        self.config_path = work.file("caretaker.json")
        with open(self.config_path, "w") as f:
            json.dump(config, f, ensure_ascii=False)
        self.log_path = work.file("valgrind.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            ["valgrind", "--tool=memcheck", "--error-exitcode=99", "--leak-check=full",
             "--errors-for-leak-kinds=definite,possible", "--show-leak-kinds=definite,possible",
             "--track-origins=yes", "--num-callers=30",
             binary, "run", "-c", self.config_path, "-d", h.DRIVERS],
            stdout=self.log, stderr=subprocess.STDOUT)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


def test(started):
    if len(sys.argv) != 2:
        raise h.TestFailure("usage: test_valgrind.py BUILD_DIR")
    binary = build(os.path.abspath(sys.argv[1]))
    work = h.Workdir("valgrind")
    scen = h.scenario(work, [
        {"unit": 1, "driver": "level/ultrasonic-generic", "values": {"decimals": 3, "level": 1.234}},
        {"unit": 2, "driver": "flow/electromagnetic-generic", "values": {"flow": 12.5}},
    ])
    sim, broker, sub = h.stack(started, work, scen, PREFIX + "/devices/#")
    bus = {"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": sim.tcp_port, "timeout_ms": 2000,
           "devices": [
               # Readings count polls here: every poll stored and published in full (report_max_s 0).
               {"id": "manhole-3", "unit": 1, "driver": "level/ultrasonic-generic", "poll_ms": 100, "report_max_s": 0},
               {"id": "flow-main", "unit": 2, "driver": "flow/electromagnetic-generic", "poll_ms": 100,
                "report_max_s": 0},
           ]}
    cfg = h.base_config(work, [bus], mqtt=broker.mqtt(qos=1))
    vg = Valgrind(work, binary, cfg)
    started.append(vg)
    h.wait_until("40 readings delivered under valgrind", lambda: len(sub.received("/readings")) >= 40, 60)
    # The broker goes away and comes back: reconnect paths run under memcheck too
    broker.stop()
    h.wait_until("the daemon to see the broker gone", lambda: "connection to 127.0.0.1" in open(vg.log_path).read(),
                 30)
    broker.start()
    n = len(sub.received("/readings"))
    h.wait_until("20 more readings after the broker came back", lambda: len(sub.received("/readings")) >= n + 20, 60)
    code = vg.stop()
    started.remove(vg)
    out = open(vg.log_path).read()
    summary = [l for l in out.splitlines() if "ERROR SUMMARY" in l or "definitely lost" in l or
               "possibly lost" in l]
    if code != 0:
        raise h.TestFailure("exit %s under valgrind:\n%s" % (code, out[-6000:]))
    print("\n".join(summary))


sys.exit(h.run(test))
