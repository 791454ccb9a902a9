"""`make demo` (tools/demo.sh) on the build under test: it starts, shows a reading and a raised
alert in plain words, and on Ctrl-C (SIGINT to its process group, as a terminal sends it) stops
every process it started — none is left running — with the daemon stopping cleanly."""

import os
import re
import shutil
import signal
import subprocess
import sys
import threading

import harness as h

READING = re.compile(r"^\d\d:\d\d:\d\d  [a-z0-9_-]+ \(.*\): [a-z_0-9]+ -?\d")
ALERT = re.compile(r"^\d\d:\d\d:\d\d  ALERT RAISED (CRITICAL|MAJOR|minor|info)  [a-z0-9_-]+ ")


def descendants(pid):
    """Every process below pid, with its command line, from /proc."""
    parent = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open("/proc/%s/stat" % p) as f:
                    parent[int(p)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        out += kids
        todo += kids
    return out


def running(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class Demo:
    def __init__(self, build):
        self.lines = []
        self.lock = threading.Lock()
        self.proc = subprocess.Popen(["sh", os.path.join(h.SRC, "tools", "demo.sh"), build],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            with self.lock:
                self.lines.append(line.rstrip("\n"))

    def output(self):
        with self.lock:
            return list(self.lines)

    def first(self, pattern):
        return next((l for l in self.output() if pattern.search(l)), None)

    def interrupt(self, timeout=20):
        """Ctrl-C: SIGINT to the whole process group. Returns the shell's exit status."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise h.TestFailure("demo.sh still running %d s after Ctrl-C" % timeout)

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.interrupt(10)
            except h.TestFailure:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def test(started):
    # demo.sh takes the build directory; use the one this test runs from, not build/.
    build = os.path.dirname(os.path.dirname(os.path.abspath(h.BIN)))
    if not os.path.exists(os.path.join(build, "tests", "sim", "caretaker-sim")):
        raise h.TestFailure("no simulator beside %s" % h.BIN)
    demo = Demo(build)
    started.append(demo)
    def started_up():
        if demo.proc.poll() is not None:
            raise h.TestFailure("demo.sh exited %s:\n%s" % (demo.proc.returncode, "\n".join(demo.output())))
        return demo.first(re.compile(r"^Caretaker is running"))
    h.wait_until("the demo running", started_up, 30)
    reading = h.wait_until("a reading shown", lambda: demo.first(READING), 30)
    alert = h.wait_until("a raised alert shown", lambda: demo.first(ALERT), 60)
    pids = descendants(demo.proc.pid)
    names = {}
    for pid in pids:
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                names[pid] = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            pass
    for want in ("mosquitto", "socat", "caretaker-sim", "caretaker run", "demo_view.py"):
        if not any(want in c for c in names.values()):
            raise h.TestFailure("no %s among the demo's processes: %r" % (want, names))

    demo.interrupt()
    left = {pid: names.get(pid, "?") for pid in pids if running(pid)}
    if left:
        raise h.TestFailure("still running after Ctrl-C: %r" % left)
    out = demo.output()
    m = next((re.search(r"its files are in (\S+)$", l) for l in out if "demo stopped" in l), None)
    if not m or sum("demo stopped" in l for l in out) != 1:
        raise h.TestFailure("expected one stop message, got:\n%s" % "\n".join(out[-10:]))
    work = m.group(1)
    with open(os.path.join(work, "caretaker.log")) as f:
        log = f.read()
    if "core: stopped at seq" not in log or re.search(r"Sanitizer|runtime error", log):
        raise h.TestFailure("the daemon did not stop cleanly:\n%s" % log[-3000:])
    shutil.rmtree(work, ignore_errors=True)
    print("shown: %s\n       %s\nstopped %d processes" % (reading, alert, len(pids)))


sys.exit(h.run(test))
