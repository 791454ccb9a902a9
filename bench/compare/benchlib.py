# benchlib: the pieces every end-to-end benchmark shares — a local broker, the simulator, the
# counting subscriber, and the measurement of one window (delivered readings, CPU, RSS).
#
# Nothing here listens on or talks to anything but 127.0.0.1. Every process started here is
# stopped by its own pid when the run ends, and every wait is bounded.
import ctypes.util
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DRIVERS = os.path.join(HERE, "drivers")
DRIVER = "bench/meter14"
VALUES = 14          # values per poll of bench/meter14
REGISTERS = 21       # one read: holding 0..20
CLK_TCK = os.sysconf("SC_CLK_TCK")


def ensure_apt(packages, paths, libs=()):
    """Installs the Debian packages when any of paths, or any shared library of libs (names as
    in -l), is missing (a fresh machine)."""
    missing = [p for p in paths if not os.path.exists(p)]
    missing += ["lib%s" % n for n in libs if not ctypes.util.find_library(n)]
    if not missing:
        return
    if os.geteuid() != 0:
        raise RuntimeError("missing %s; as root: apt-get install %s"
                           % (", ".join(missing), " ".join(packages)))
    log("installing %s (apt-get)" % " ".join(packages))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    if subprocess.run(["apt-get", "install", "-y", "--no-install-recommends"] + packages,
                      env=env).returncode != 0:
        subprocess.run(["apt-get", "update"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "--no-install-recommends"] + packages,
                       check=True, env=env)


def ensure_tools(rtu=False):
    ensure_apt(["mosquitto"], ["/usr/sbin/mosquitto"])
    if rtu:
        ensure_apt(["socat"], ["/usr/bin/socat"])


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout_s=15.0):
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def taskset(cpu):
    return ["taskset", "-c", str(cpu)] if cpu is not None else []


class Proc:
    """A child process we started; stopped by its pid, SIGTERM then SIGKILL."""

    def __init__(self, name, argv, run_dir, stdin=False, stdout_pipe=False, env=None, cwd=None):
        self.name = name
        self.err_path = os.path.join(run_dir, name + ".log")
        self.err = open(self.err_path, "wb")
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                  stdout=subprocess.PIPE if stdout_pipe else self.err,
                                  stderr=self.err, env=env, cwd=cwd)
        self.pid = self.p.pid

    def read_line(self, timeout_s):
        """One line of stdout, or None after timeout_s."""
        end = time.monotonic() + timeout_s
        buf = b""
        while time.monotonic() < end:
            r, _, _ = select.select([self.p.stdout], [], [], max(0.0, end - time.monotonic()))
            if not r:
                break
            c = os.read(self.p.stdout.fileno(), 1)
            if not c:
                break
            if c == b"\n":
                return buf.decode()
            buf += c
        return None

    def ask(self, line, timeout_s=10.0):
        self.p.stdin.write((line + "\n").encode())
        self.p.stdin.flush()
        return self.read_line(timeout_s)

    def alive(self):
        return self.p.poll() is None

    def stop(self, timeout_s=10.0):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)
        self.err.close()

    def tail(self, n=5):
        try:
            with open(self.err_path, "rb") as f:
                return b"".join(f.readlines()[-n:]).decode(errors="replace")
        except OSError:
            return ""


def start_mosquitto(run_dir, cpu=None):
    """A broker on 127.0.0.1 only. Queues unbounded so a slow moment of the subscriber never
    drops a message the system under test delivered."""
    port = free_port()
    conf = os.path.join(run_dir, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                "max_queued_messages 0\nmax_inflight_messages 100\nlog_dest stderr\n"
                "log_type error\nlog_type warning\n")
    p = Proc("mosquitto", taskset(cpu) + ["mosquitto", "-c", conf], run_dir)
    if not wait_port(port):
        p.stop()
        raise RuntimeError("mosquitto did not come up: " + p.tail())
    return p, port


def write_scenario(path, units):
    """Units 1..units of bench/meter14, three values waving and a counter, so readings change
    from poll to poll the way a live meter's do."""
    devices = []
    for u in range(1, units + 1):
        devices.append({
            "unit": u, "driver": DRIVER,
            "values": {"f1": 10.0 + u, "f2": 0.5, "f3": 230.0, "f4": 49.98, "f5": 1.25,
                       "f6": -3.5, "f7": 100.0, "u1": 0, "u2": 7, "u3": 300, "u4": 1, "u5": 0,
                       "u6": 42, "u7": 65535},
            "waves": {"f2": {"base": 0.5, "amplitude": 0.2, "period_s": 60},
                      "f3": {"base": 230, "amplitude": 5, "period_s": 30}},
            "counters": {"u1": {"step": 1, "every_s": 1}}})
    with open(path, "w") as f:
        json.dump({"drivers_dirs": [DRIVERS], "devices": devices}, f)


def start_sim(build, run_dir, units, cpu=None, rtu=None, baud=None, parity="N", byte_timing=False):
    """The simulator on TCP (port picked by itself) or on one end of a pty pair."""
    scen = os.path.join(run_dir, "scenario.json")
    write_scenario(scen, units)
    argv = taskset(cpu) + [os.path.join(build, "tests/sim/caretaker-sim")]
    if rtu:
        argv += ["--rtu", rtu, "--baud", str(baud), "--parity", parity]
        argv += ["--byte-timing"] if byte_timing else []
    else:
        argv += ["--tcp", "0"]
    argv += ["--drivers", DRIVERS, scen]
    p = Proc("sim", argv, run_dir, stdin=True, stdout_pipe=True)
    p.units = units
    line = p.read_line(30)
    if not line or not line.startswith("READY"):
        p.stop()
        raise RuntimeError("simulator not ready: %r %s" % (line, p.tail()))
    port = None
    for part in line.split()[1:]:
        if part.startswith("tcp="):
            port = int(part[4:])
    return p, port


def start_pty_pair(run_dir):
    """A serial line on a pty pair: the simulator on A, the gateway on B."""
    a, b = os.path.join(run_dir, "tty-sim"), os.path.join(run_dir, "tty-gw")
    p = Proc("socat", ["socat", f"pty,raw,echo=0,link={a}", f"pty,raw,echo=0,link={b}"], run_dir)
    end = time.monotonic() + 10
    while time.monotonic() < end and not (os.path.exists(a) and os.path.exists(b)):
        time.sleep(0.02)
    if not (os.path.exists(a) and os.path.exists(b)):
        p.stop()
        raise RuntimeError("socat made no pty pair: " + p.tail())
    return p, a, b


class Subscriber:
    def __init__(self, build, run_dir, port, topics, cpu=None):
        self.p = Proc("sub", taskset(cpu) + [os.path.join(build, "bench/bench_e2e_sub"),
                                             "127.0.0.1", str(port)] + topics,
                      run_dir, stdin=True, stdout_pipe=True)
        if self.p.read_line(15) != "READY":
            self.p.stop()
            raise RuntimeError("subscriber not ready: " + self.p.tail())

    def count(self):
        parts = self.p.ask("count").split()
        return int(parts[1]), int(parts[2]), int(parts[3])

    def arm(self, t0_ms, t1_ms):
        if self.p.ask(f"arm {t0_ms} {t1_ms}") != "OK":
            raise RuntimeError("subscriber refused arm: " + self.p.tail())

    def span(self, poll_ms):
        """(topics seen, values, values expected on those topics, messages not tracked)"""
        parts = self.p.ask(f"span {poll_ms}").split()
        return int(parts[1]), int(parts[2]), float(parts[3]), int(parts[4])

    def stop(self):
        try:
            self.p.ask("quit", 2)
        except OSError:
            pass
        self.p.stop()


def cpu_sample(pid):
    """Process CPU: utime+stime from /proc/PID/stat (clock ticks), and the sum of its threads'
    run time from /proc/PID/task/*/schedstat (ns), which resolves what a 10 ms tick cannot."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])   # fields 14 and 15 of proc(5)
    ns = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                ns += int(f.read().split()[0])
        except OSError:
            pass
    return ticks, ns


def memory_kib(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0])
    return out.get("VmRSS", 0), out.get("VmHWM", 0)


def loadavg():
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def wall_ms():
    return int(time.time() * 1000)


class Load:
    """What a run asks of the system under test, in the subscriber's terms: `topics` topics,
    each carrying `per_topic` values every poll_ms (Caretaker and the Node-RED flow: one topic
    per device with 14 values; collectd: one topic per value)."""

    def __init__(self, devices, poll_ms, topics, per_topic):
        self.devices, self.poll_ms, self.topics, self.per_topic = devices, poll_ms, topics, per_topic

    def per_s(self):
        return self.topics * self.per_topic * 1000.0 / self.poll_ms


def silence_and_count(sim, sub, settle_s=2.0, timeout_s=60.0):
    """Stops every simulated device from answering, waits until nothing more arrives, and
    returns (replies the simulator sent over the whole run, values delivered over the whole
    run). With one request per message, replies x values per message is what the system read,
    so the difference is what it read and never delivered."""
    for u in range(1, sim.units + 1):
        if sim.ask(f"behave {u} silent") != "OK":
            raise RuntimeError("simulator refused behave: " + sim.tail())
    end = time.monotonic() + timeout_s
    last, still_since = sub.count()[1], time.monotonic()
    while time.monotonic() < end and time.monotonic() - still_since < settle_s:
        time.sleep(0.25)
        now = sub.count()[1]
        if now != last:
            last, still_since = now, time.monotonic()
    line = sim.ask("stats") or ""
    if not line.startswith("STATS"):
        raise RuntimeError("simulator stats: %r" % line)
    replies = sum(int(part.split(":")[1]) for part in line.split()[1].split(",") if ":" in part) \
        if len(line.split()) > 1 else 0
    return replies, last


def measure(proc, sub, load, warmup_s, window_s, grace_s, first_timeout_s=120,
            perf_out=None, others=(), sim=None):
    """Waits for the first delivered reading, then warmup_s, then measures one window.

    delivered/s: values that arrived at the subscriber during the window, per second.
    arrived: of the values the load should produce with source times in the window, the share
    that arrived by grace_s after it. Counted per topic from what arrived (bench_e2e_sub's
    span), so a poll missing in the middle, a poller slower than its interval, a topic
    running behind and a topic never heard from all count as missing.
    perf_out: also sample the process with perf (cpu-clock, call graphs) over the window into
    that file; its overhead is in the figures, so profile runs are not measurement runs.
    others: processes (simulator, broker, subscriber) whose CPU % is reported beside, to show
    whether the load generator side was the limit.
    sim: after the window, silence the simulator and count what was read but never delivered
    over the whole run (silence_and_count), exactly, with no window edges."""
    end = time.monotonic() + first_timeout_s
    while sub.count()[1] == 0:
        if time.monotonic() > end or not proc.alive():
            raise RuntimeError(f"{proc.name}: no reading delivered: " + proc.tail())
        time.sleep(0.2)
    time.sleep(warmup_s)
    load0 = loadavg()
    o0 = {p.name: cpu_sample(p.pid)[1] for p in others}
    t0_ms = wall_ms()
    t1_ms = t0_ms + int(window_s * 1000)
    sub.arm(t0_ms, t1_ms)
    c0, m0 = cpu_sample(proc.pid), sub.count()
    mono0 = time.monotonic()
    perf = None
    if perf_out:
        perf = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-F", "2000", "-g",
                                 "-p", str(proc.pid), "-o", perf_out, "--", "sleep", str(window_s)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(max(0.0, (t1_ms - wall_ms()) / 1000.0))
    if perf:
        perf.wait(window_s + 30)
    c1, m1 = cpu_sample(proc.pid), sub.count()
    secs = time.monotonic() - mono0
    o1 = {p.name: cpu_sample(p.pid)[1] for p in others}
    rss, hwm = memory_kib(proc.pid)
    load1 = loadavg()
    if not proc.alive():
        raise RuntimeError(f"{proc.name} exited during the window: " + proc.tail())
    time.sleep(grace_s)
    seen, in_window, expected_seen, untracked = sub.span(load.poll_ms)
    missing_topics = max(0, load.topics - seen)
    periods = (t1_ms - t0_ms) / load.poll_ms
    expected = expected_seen + missing_topics * periods * load.per_topic
    delivered = m1[1] - m0[1]
    lost = {}
    if sim is not None:
        replies, total = silence_and_count(sim, sub)
        lost = {"read_values": replies * load.per_topic, "delivered_values": total,
                "lost_values": replies * load.per_topic - total}
    cpu_tick_us = (c1[0] - c0[0]) * 1e6 / CLK_TCK
    cpu_ns_us = (c1[1] - c0[1]) / 1e3
    return {
        "window_s": round(secs, 2),
        "messages_per_s": round((m1[0] - m0[0]) / secs, 1),
        "delivered_per_s": round(delivered / secs, 1),
        "expected_per_s": load.per_s(),
        "arrived_pct": round(100.0 * in_window / expected, 2) if expected else 0.0,
        "arrived_values": in_window, "expected_values": round(expected, 1),
        "topics_seen": seen, "topics_expected": load.topics, "untracked": untracked,
        "cpu_us_per_reading_stat": round(cpu_tick_us / delivered, 3) if delivered else None,
        "cpu_us_per_reading": round(cpu_ns_us / delivered, 3) if delivered else None,
        "cpu_pct": round(100.0 * cpu_ns_us / 1e6 / secs, 1),
        "rss_kib": rss, "hwm_kib": hwm,
        "unparsed": m1[2] - m0[2],
        "load": f"{load0}..{load1}",
        "others_cpu_pct": {k: round(100.0 * (o1[k] - o0[k]) / 1e9 / secs, 1) for k in o0},
        **lost,
    }


def caretaker_config(path, run_dir, mqtt_port, buses, poll_ms, qos=1):
    """buses: list of dicts {type: tcp|rtu, port/host/baud, units: N}; devices are named
    d<bus>-<unit> so a topic tells bus and unit."""
    cfg_buses = []
    for i, b in enumerate(buses):
        devs = [{"id": f"d{i}-{u}", "unit": u, "driver": DRIVER, "poll_ms": poll_ms}
                for u in range(1, b["units"] + 1)]
        bus = {"id": f"bus{i}", "type": b["type"], "devices": devs}
        if b["type"] == "tcp":
            bus.update({"host": "127.0.0.1", "port": b["port"], "timeout_ms": 1000})
        else:
            bus.update({"port": b["port"], "baud": b["baud"], "parity": b.get("parity", "N"),
                        "timeout_ms": b.get("timeout_ms", 300)})
        cfg_buses.append(bus)
    cfg = {"site": {"id": "bench"}, "gateway": {"id": "gw-bench", "drivers_dirs": [DRIVERS]},
           "store": {"path": os.path.join(run_dir, "caretaker.db")},
           "mqtt": {"host": "127.0.0.1", "port": mqtt_port, "qos": qos},
           "buses": cfg_buses}
    with open(path, "w") as f:
        json.dump(cfg, f, indent=1)


def start_caretaker(build, run_dir, cfg, cpu=None):
    return Proc("caretaker", taskset(cpu) + [os.path.join(build, "gateway/caretaker"), "run", "-c", cfg],
                run_dir)


def machine_notes():
    notes = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    notes["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    notes["cores"] = os.cpu_count()
    notes["kernel"] = os.uname().release
    return notes


class Rig:
    """One run: its directory, the broker, the simulator and the subscriber every system is
    measured against, and every process started for it, stopped in reverse order on exit."""

    def __init__(self, prefix, keep=False):
        self.run_dir = tempfile.mkdtemp(prefix=prefix)
        self.keep = keep
        self.procs = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for p in reversed(self.procs):
            p.stop()
        if not self.keep:
            shutil.rmtree(self.run_dir, ignore_errors=True)
        return False

    def add(self, proc):
        self.procs.append(proc)
        return proc

    def start(self, build, units, topics, cpu=None, rtu_baud=None, parity="N"):
        """Broker, simulator (TCP, or with rtu_baud on a pty pair with real byte timing; the
        gateway's end is then self.tty_gw) and subscriber."""
        self.broker, self.mqtt_port = start_mosquitto(self.run_dir, cpu)
        self.add(self.broker)
        tty_sim = None
        if rtu_baud:
            socat, tty_sim, self.tty_gw = start_pty_pair(self.run_dir)
            self.add(socat)
        self.sim, self.sim_port = start_sim(build, self.run_dir, units, cpu, rtu=tty_sim,
                                            baud=rtu_baud, parity=parity, byte_timing=bool(rtu_baud))
        self.add(self.sim)
        self.sub = Subscriber(build, self.run_dir, self.mqtt_port, topics, cpu)
        self.add(self.sub.p)

    def measure(self, target, load, args, perf_out=None):
        r = measure(target, self.sub, load, args.warmup, args.window, args.grace,
                    perf_out=perf_out, others=[self.broker, self.sim, self.sub.p], sim=self.sim)
        if self.keep:
            r["run_dir"] = self.run_dir
        return r


def md_table(header, rows):
    """A Markdown table: header cells, then rows of cells; a row shorter than the header is a
    failed run, its message in the second cell."""
    out = ["| " + " | ".join(header) + " |", "| --- | --- |" + " ---: |" * (len(header) - 2)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def report(table, results, out=None):
    """Prints the table; with out, writes every figure and the machine as JSON."""
    print(table)
    if out:
        with open(out, "w") as f:
            json.dump({"machine": machine_notes(), "results": results}, f, indent=1)
