#!/usr/bin/python3
# bench_dtu_redial: what the DTU takeover rule costs a DTU that redials after its carrier's NAT
# dropped the mapping silently: the old connection stays open and dead, the new one must wait
# until the poller finds the old one silent. The simulator's `dtu replace` plays exactly that
# (a second connection with the same registration, the first left open and never answered).
# Measured: from the replace to the "replaces the one from" line in the daemon's log, at
# random phases of the poll cycle, and the connections the DTU made for it (1: the redialled
# connection got in without being refused). Prints one line per setting; asserts nothing.
#
# usage: bench/bench_dtu_redial.py [--build DIR] [--trials N] [--settings POLL_MS:TIMEOUT_MS,...]
import argparse
import os
import random
import re
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))


def measure(h, build, poll_ms, timeout_ms, trials):
    work = h.Workdir("dtu-redial")
    port = h.free_port()
    secret = work.secret("dtu.secret", "Xk3pQ9zw-7Lm")
    imei = "868120034567891"
    bus = {"id": "dtu-a", "type": "dtu", "listen": "127.0.0.1:%d" % port, "dtu_id": imei,
           "secret_file": secret, "timeout_ms": timeout_ms, "retries": 1,
           "devices": [{"id": "m1", "unit": 1, "driver": "level/ultrasonic-generic", "poll_ms": poll_ms}]}
    scen = h.scenario(work, [{"unit": 1, "driver": "level/ultrasonic-generic", "values": {"level": 0.5}}])
    d = h.Daemon(work, h.base_config(work, [bus]))
    sim = h.Sim(work, scen, extra=["--dtu", "127.0.0.1:%d" % port, "--dtu-id", "%s:Xk3pQ9zw-7Lm" % imei])
    waits = []
    try:
        h.wait_until("registration", lambda: "registered from" in d.output(), 10)
        for k in range(trials):
            # a random phase of the poll cycle
            time.sleep(random.uniform(0, poll_ms / 1000.0))
            t0 = time.monotonic()
            sim.cmd("dtu replace")
            h.wait_until("takeover %d" % (k + 1),
                         lambda: len(re.findall(r"replaces the one from", d.output())) == k + 1,
                         poll_ms / 1000.0 + timeout_ms / 1000.0 + 30)
            waits.append(time.monotonic() - t0)
        connects = int(re.search(r"connects=(\d+)", sim.cmd("dtu stats")).group(1)) - 1
    finally:
        sim.stop()
        d.stop()
    return waits, connects / float(trials)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build-test"))
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument("--settings", default="1000:2000,10000:2000")
    a = ap.parse_args()
    os.environ.setdefault("CARETAKER_BIN", os.path.join(a.build, "gateway", "caretaker"))
    os.environ.setdefault("CARETAKER_SIM", os.path.join(a.build, "tests", "sim", "caretaker-sim"))
    os.environ.setdefault("CARETAKER_SOURCE_DIR", os.path.join(HERE, ".."))
    import harness as h
    random.seed(1)
    print("poll_ms timeout_ms  trials  connections per takeover  wait for takeover after the redial, s: "
          "min  median  max")
    for setting in a.settings.split(","):
        poll_ms, timeout_ms = (int(x) for x in setting.split(":"))
        w, per = measure(h, a.build, poll_ms, timeout_ms, a.trials)
        w.sort()
        print("%7d %10d  %6d  %24.2f  %.2f  %.2f  %.2f" % (poll_ms, timeout_ms, len(w), per, w[0], w[len(w) // 2],
                                                          w[-1]))


if __name__ == "__main__":
    main()
