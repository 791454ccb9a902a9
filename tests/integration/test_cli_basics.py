"""The command line as a newcomer first meets it: a binary straight from its build tree finds
the source tree's driver profiles without -d, and an option missing its value is named as such."""

import json
import os
import subprocess
import sys

import harness as h


def test(started):
    work = h.Workdir("cli")
    bus = {"id": "rs485-1", "type": "rtu", "port": "/dev/null", "baud": 9600,
           "devices": [{"id": "manhole-3", "unit": 1, "driver": "level/ultrasonic-generic", "poll_ms": 1000}]}
    path = work.file("site.json")
    with open(path, "w") as f:
        json.dump(h.base_config(work, [bus]), f)
    env = {k: v for k, v in os.environ.items() if k != "CARETAKER_DRIVERS_DIR"}
    r = subprocess.run([h.BIN, "check", "-c", path], capture_output=True, text=True, timeout=30, env=env)
    if r.returncode != 0 or "read holding registers 0..5 (6)" not in r.stdout:
        raise h.TestFailure("a build-tree binary without -d did not find the source tree's profiles: rc %d\n%s%s"
                            % (r.returncode, r.stdout, r.stderr))

    for argv, opt in ((["check", "-c"], "-c"), (["run", "--config"], "--config"), (["probe", "--tcp"], "--tcp")):
        r = subprocess.run([h.BIN] + argv, capture_output=True, text=True, timeout=30, env=env)
        want = "%s: needs a value" % opt
        if r.returncode == 0 or want not in r.stderr:
            raise h.TestFailure("%s: expected a refusal saying %r, got rc %d: %r"
                                % (" ".join(argv), want, r.returncode, r.stderr))


sys.exit(h.run(test))
