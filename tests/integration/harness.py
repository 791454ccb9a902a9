"""harness: starts the real parts of an integration test — the simulator, a socat pty pair, a
mosquitto broker, the daemon — waits for conditions with deadlines, and stops what it started
by PID."""

import json
import os
import re
import select
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time

BIN = os.environ.get("CARETAKER_BIN", "caretaker")
SIM = os.environ.get("CARETAKER_SIM", "caretaker-sim")
SRC = os.environ.get("CARETAKER_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
DRIVERS = os.path.join(SRC, "drivers")
SCENARIOS = os.path.join(SRC, "tests", "sim", "scenarios")


# Topics of the outbox's rows (gateway/payload.c, payload_row_topic), each message with its seq:
# a test that wants every stored seq delivered counts all of them (a daily report appears at every
# local midnight, Asia/Shanghai in base_config: 16:00 UTC).
OUTBOX_TOPICS = ("/readings", "/state", "/events", "/alerts")


def outbox_topic(topic):
    """Whether a topic carries outbox rows: those above, and each device's daily report
    (<prefix>/reports/daily/<device>)."""
    return topic.endswith(OUTBOX_TOPICS) or "/reports/daily/" in topic


class TestFailure(Exception):
    pass


def _clock_offset(spec):
    """Seconds from now to CARETAKER_TEST_CLOCK, UTC: "2026-11-23 15:59:30", or "15:59:30" for
    the next time the day reaches it (never in the past, so certificates made now are valid)."""
    if not spec:
        return 0
    import calendar
    now = time.time()
    try:
        if len(spec) <= 8:
            t = time.strptime(spec, "%H:%M:%S")
            at = now - now % 86400 + t.tm_hour * 3600 + t.tm_min * 60 + t.tm_sec
            return int((at if at > now else at + 86400) - now)
        return int(calendar.timegm(time.strptime(spec, "%Y-%m-%d %H:%M:%S")) - now)
    except ValueError:
        raise SystemExit("CARETAKER_TEST_CLOCK=%r: expected \"HH:MM:SS\" or \"YYYY-MM-DD HH:MM:SS\" (UTC)" % spec)


# CARETAKER_TEST_CLOCK moves every daemon's wall clock to that UTC time as the test starts, on one
# timeline across restarts (a fixed offset, real pace), so a test can be run across a local
# midnight or any other hour; daemons given a clock of their own (faked_clock) keep theirs.
TEST_CLOCK = os.environ.get("CARETAKER_TEST_CLOCK", "")
CLOCK_OFFSET_S = _clock_offset(TEST_CLOCK)


def now_ms():
    """The daemons' wall clock now, in ms since the epoch (the real one without CARETAKER_TEST_CLOCK)."""
    return int((time.time() + CLOCK_OFFSET_S) * 1000)


def clock_env():
    """Environment for another of our processes (the status tool) on the daemons' clock, or None."""
    return dict(os.environ, **faked_clock("%+d" % CLOCK_OFFSET_S)) if TEST_CLOCK else None


def local_day(ms, utc_offset_h=8):
    """Days since the epoch at the site (base_config's Asia/Shanghai, UTC+8 all year) at ms."""
    return (ms // 1000 + utc_offset_h * 3600) // 86400


def wait_until(what, fn, timeout=20.0, interval=0.05):
    """Polls fn until it returns a truthy value; fails naming `what` after timeout seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise TestFailure("timed out after %.0f s waiting for %s (last: %r)" % (timeout, what, last))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def accepting(port):
    """True once something accepts connections on 127.0.0.1:port (the daemon's DTU listener
    drops a connection that sends nothing after its registration timeout)."""
    try:
        socket.create_connection(("127.0.0.1", port), 0.2).close()
        return True
    except OSError:
        return False


class Workdir:
    def __init__(self, name):
        self.path = tempfile.mkdtemp(prefix="caretaker-%s-" % name)

    def file(self, name):
        return os.path.join(self.path, name)

    def secret(self, name, text):
        """A private file (mode 600) holding text: a DTU's secret, a password."""
        path = self.file(name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text + "\n")
        return path


class Sim:
    """The device simulator, driven over stdin: each command is answered OK or ERR."""

    def __init__(self, work, scenario, tcp=False, rtu=None, extra=()):
        args = [SIM, "--drivers", DRIVERS]
        if tcp:
            args += ["--tcp", "0"]
        if rtu:
            args += ["--rtu", rtu]
        args += list(extra) + [scenario]
        self.log = open(work.file("sim.log"), "w")
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log, text=True, bufsize=1)
        line = self._readline(10.0)
        if not line.startswith("READY"):
            raise TestFailure("simulator did not start: %r (see %s)" % (line, work.file("sim.log")))
        m = re.search(r"tcp=(\d+)", line)
        self.tcp_port = int(m.group(1)) if m else None

    def _readline(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            r, _, _ = select.select([self.proc.stdout], [], [], 0.1)
            if r:
                line = self.proc.stdout.readline()
                if not line:
                    raise TestFailure("simulator exited (code %s)" % self.proc.poll())
                return line.strip()
            if self.proc.poll() is not None:
                raise TestFailure("simulator exited (code %s)" % self.proc.returncode)
        raise TestFailure("simulator did not answer within %.0f s" % timeout)

    def cmd(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        reply = self._readline(5.0)
        if reply.startswith("ERR"):
            raise TestFailure("simulator refused %r: %s" % (line, reply))
        return reply

    def stats(self):
        """Requests that reached each unit id (answered or not)."""
        reply = self.cmd("stats received")
        return {int(u): int(n) for u, n in re.findall(r"(\d+):(\d+)", reply)}

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class PtyPair:
    """A virtual serial line: two pty ends joined by socat, like a USB RS-485 adapter pair."""

    def __init__(self, work):
        self.a = work.file("tty-sim")
        self.b = work.file("tty-gw")
        self.log = open(work.file("socat.log"), "w")
        self.proc = subprocess.Popen(["socat", "-d", "-d", "pty,raw,echo=0,link=" + self.a,
                                      "pty,raw,echo=0,link=" + self.b], stderr=self.log)
        wait_until("socat pty links", lambda: os.path.exists(self.a) and os.path.exists(self.b), 10)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)
        self.log.close()


class Daemon:
    """The real caretaker binary on a config written for the test."""

    def __init__(self, work, config, name="caretaker", env=None):
        self.work = work
        self.config_path = work.file(name + ".json")
        with open(self.config_path, "w") as f:
            json.dump(config, f, ensure_ascii=False, indent=1)
        self.log_path = work.file(name + ".log")
        self.log = open(self.log_path, "w")
        if env is None and TEST_CLOCK:
            env = faked_clock("%+d" % CLOCK_OFFSET_S)
        env = clock_sync(work, env)
        self.proc = subprocess.Popen([BIN, "run", "-c", self.config_path, "-d", DRIVERS],
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     env=dict(os.environ, **env) if env else None)

    def running(self):
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise TestFailure("daemon did not stop within %d s of %s" % (timeout, sig))
        self.log.close()
        return self.proc.returncode

    def output(self):
        self.log.flush()
        with open(self.log_path) as f:
            return f.read()


def _faketime(**settings):
    import glob
    found = glob.glob("/usr/lib/*/faketime/libfaketime.so.1") + glob.glob("/usr/lib/faketime/libfaketime.so.1")
    if not found:
        raise TestFailure("libfaketime is missing (Debian package libfaketime; tools/install-deps.sh --test installs it)")
    # ASan wants to come first in the library list; libfaketime only wraps clock calls.
    return dict({"TZ": "UTC", "FAKETIME_DONT_FAKE_MONOTONIC": "1", "LD_PRELOAD": found[0],
                 "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"}, **settings)


SYNC_SHIM = os.environ.get("ADJTIMEX_SHIM", "")


def clock_sync(work, env):
    """env with tests/integration/adjtimex_shim.c preloaded, so the daemon's clock counts as
    synchronized (NTP) whatever the machine's state — unless env names its own state file
    (ClockSync) — and the test, not the host, decides when it is not."""
    env = dict(env or {})
    if not SYNC_SHIM:
        return env or None
    if "ADJTIMEX_SHIM_FILE" not in env:
        path = work.file("clock-sync")
        if not os.path.exists(path):
            with open(path, "w") as f:
                f.write("synced\n")
        env["ADJTIMEX_SHIM_FILE"] = path
    env["LD_PRELOAD"] = ":".join(x for x in (env.get("LD_PRELOAD", ""), SYNC_SHIM) if x)
    asan = env.get("ASAN_OPTIONS", os.environ.get("ASAN_OPTIONS", ""))
    if "verify_asan_link_order" not in asan:
        env["ASAN_OPTIONS"] = asan + ":verify_asan_link_order=0"
    return env


class ClockSync:
    """The kernel's NTP state as the daemon reads it (adjtimex), set by the test: pass env() to
    Daemon (with a SetClock's env to move the wall clock too)."""

    def __init__(self, work, synced):
        if not SYNC_SHIM:
            raise TestFailure("ADJTIMEX_SHIM does not name the built adjtimex_shim library")
        self.path = work.file("clock-sync-set")
        self.set(synced)

    def set(self, synced):
        with open(self.path + ".new", "w") as f:
            f.write("synced\n" if synced else "unsynced\n")
        os.rename(self.path + ".new", self.path)

    def env(self, base=None):
        return dict(base or {}, ADJTIMEX_SHIM_FILE=self.path)


def faked_clock(spec):
    """Environment that gives the daemon a wall clock of libfaketime's `spec` ("@2026-11-23
    15:59:40" to start there, "... x3600" to run that much faster); its monotonic clock stays
    real, so timeouts, commits and the broker connection keep their pace. The daemon itself is
    preloaded (not a wrapper), so signals reach it."""
    return _faketime(FAKETIME=spec)


class SetClock:
    """A wall clock for daemons that the test sets while they run, at real pace from the time set
    (libfaketime reading its offset from a file at every call): a step that needs the clock far
    from a boundary gets it there, and the boundary comes when the test moves the clock to it,
    not after some real seconds. Pass env() to Daemon."""

    def __init__(self, work, utc):
        self.path = work.file("faketime")
        self.set(utc)

    def set(self, utc):
        """Moves the clock to `utc` ("2026-11-23 15:59:58") now."""
        import calendar
        offset = calendar.timegm(time.strptime(utc, "%Y-%m-%d %H:%M:%S")) - time.time()
        with open(self.path + ".new", "w") as f:
            f.write("%+d\n" % round(offset))
        os.rename(self.path + ".new", self.path)  # never a half-written offset

    def env(self):
        return _faketime(FAKETIME_TIMESTAMP_FILE=self.path, FAKETIME_NO_CACHE="1")


def lift_at_rest(**changes):
    """The simulator's values of an elevator/generic lift standing at floor 1 in normal service,
    door closed, nobody in, with `changes`."""
    return dict({"mode": 0, "moving": False, "dir_up": False, "door_zone": True, "door_open": False,
                 "door_closed": True, "occupied": False, "safety_circuit": True, "door_lock": True,
                 "mains_power": True, "floor": 1, "speed": 0.0, "runs": 100, "running_hours": 10,
                 "door_cycles": 200}, **changes)


def two_lifts(started, work, topic, poll_ms=(200, 200), params=({}, {})):
    """The simulator serving two lifts at rest (units 1 and 2), a broker and a subscriber to
    topic (stack); returns (sim, broker, subscriber, bus) with the bus of lift-1 and lift-2, each
    poll published in full (report_max_s 0), so readings count polls."""
    scen = scenario(work, [{"unit": u, "driver": "elevator/generic", "values": lift_at_rest()} for u in (1, 2)])
    sim, broker, sub = stack(started, work, scen, topic)
    bus = {"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": sim.tcp_port, "timeout_ms": 300,
           "devices": [{"id": "lift-%d" % u, "unit": u, "driver": "elevator/generic", "poll_ms": poll_ms[u - 1],
                        "location": "%d幢" % u, "params": params[u - 1], "report_max_s": 0} for u in (1, 2)]}
    return sim, broker, sub, bus


def scenario(work, devices, steps=(), name="scenario.json"):
    """Writes a simulator scenario serving `devices`; returns its path."""
    path = work.file(name)
    with open(path, "w") as f:
        json.dump({"devices": devices, "steps": list(steps)}, f, ensure_ascii=False)
    return path


def base_config(work, buses, **extra):
    cfg = {
        "site": {"id": "hongmei", "name": "红梅新村", "timezone": "Asia/Shanghai"},
        "gateway": {"id": "gw-test"},
        "store": {"path": work.file("caretaker.db"), "commit_ms": 50},
        "buses": buses,
    }
    cfg.update(extra)
    return cfg


def query(db_path, sql, args=()):
    """Reads the daemon's store while it runs (WAL lets readers in). Before the store exists (no
    file, or no table in it yet) the answer is []; a locked database is tried again for a few
    seconds, as is a table missing while the daemon may still be making them; any other error (a
    mistyped query, a table still missing after that) fails the test,
    so that a check that nothing is there cannot pass on a query that could not run."""
    deadline = time.monotonic() + 5.0
    while True:
        if not os.path.exists(db_path):
            return []
        con = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True, timeout=5)
        try:
            return con.execute(sql, args).fetchall()
        except sqlite3.OperationalError as e:
            if "locked" in str(e) and time.monotonic() < deadline:
                time.sleep(0.05)  # a writer holds it: read again (bounded by the deadline)
                continue
            if "no such table" in str(e):
                if not con.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                    return []  # the daemon has opened the file but not yet made its tables
                if time.monotonic() < deadline:
                    time.sleep(0.05)  # it may be making them right now: look again (bounded)
                    continue
            raise TestFailure("query %r on %s: %s" % (sql, db_path, e))
        finally:
            con.close()


def scalar(db_path, sql, args=()):
    """First column of the first row, or None before the store exists."""
    rows = query(db_path, sql, args)
    return rows[0][0] if rows else None


def latest_received(sub, device, point):
    """(value, quality) of a point in the newest reading of a device a Subscriber received: what
    `latest` reads from the store, for readings the broker acknowledged (never written)."""
    got = [m for _, m, _ in sub.received("/devices/%s/readings" % device)]
    if not got:
        return None
    m = max(got, key=lambda m: m["seq"])
    if point in m.get("values", {}):
        return (m["values"][point], 0)
    return (None, 1) if point in m.get("invalid", []) else (None, 2) if point in m.get("offline", []) else None


def latest(db_path, device, point):
    rows = query(db_path, "SELECT value, quality FROM reading_values WHERE device = ? AND point = ? "
                          "ORDER BY seq DESC LIMIT 1", (device, point))
    return rows[0] if rows else None


def seq_skipped(messages):
    """The (from, to) ranges the gateway announced in seq_skipped events among parsed payloads."""
    return sorted((m["from"], m["to"]) for m in messages if m.get("event") == "seq_skipped")


def unexplained_gaps(seen, ranges, lo, hi):
    """Seqs in [lo, hi] neither seen nor inside an announced seq_skipped range, and per range the
    seqs it holds that were not seen up to the highest one seen in it (those handed out and lost:
    the rest of a range was never used, and no consumer can tell more)."""
    gaps, q = [], lo
    for a, b in sorted(ranges) + [(hi + 1, hi + 1)]:
        gaps += [x for x in range(q, min(a, hi + 1)) if x not in seen]
        q = max(q, b + 1)
    lost = []
    for a, b in ranges:
        top = max((q for q in seen if a <= q <= b), default=a - 1)
        lost.append(sum(1 for q in range(a, top + 1) if q not in seen))
    return gaps, lost


def run(test_fn):
    """Runs one test function with cleanup of whatever it started; exit code for ctest."""
    started = []
    name = os.path.basename(test_fn.__code__.co_filename)
    try:
        test_fn(started)
    except Exception as e:  # any error fails the test, with the logs of what it started
        import traceback
        if not isinstance(e, TestFailure):
            traceback.print_exc()
        print("FAIL %s: %s" % (name, e))
        for p in started:
            log = getattr(p, "log_path", None)
            if log and os.path.exists(log):
                print("---- %s ----" % log)
                print(open(log).read()[-4000:])
        code = 1
    else:
        print("PASS %s" % name)
        code = 0
    finally:
        for p in reversed(started):
            try:
                p.stop()
            except Exception:  # cleanup must reach every process
                pass
    return code


class Broker:
    """A real mosquitto on a free loopback port, from a config file written for the test.
    listeners: extra listener blocks, each a string with {port} where its port goes; their
    ports are in self.ports, after the plain listener's self.port. Stopped (and restarted on
    the same ports) by PID; with persistence, sessions and queued messages survive a stop."""

    def __init__(self, work, name="broker", listeners=(), persistence=False, extra="", port=None):
        self.work = work
        self.name = name
        self.port = port or free_port()
        self.ports = [free_port() for _ in listeners]
        self.conf = work.file(name + ".conf")
        self.log_path = work.file(name + ".log")
        import pwd
        # As root, mosquitto would switch to the "mosquitto" user, who cannot write our files.
        lines = ["user %s" % pwd.getpwuid(os.getuid()).pw_name,
                 "per_listener_settings true", "log_dest stderr", "log_type all",
                 "max_queued_messages 1000000", "listener %d 127.0.0.1" % self.port,
                 "allow_anonymous true"]
        for block, port in zip(listeners, self.ports):
            lines.append(block.format(port=port))
        if persistence:
            lines += ["persistence true", "persistence_location %s/" % work.path,
                      "persistence_file %s.db" % name, "autosave_interval 0"]
        lines.append(extra)
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.proc = None
        self.log = None
        self.start()

    def start(self):
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen(["mosquitto", "-c", self.conf], stdout=self.log, stderr=subprocess.STDOUT)

        def accepting():
            if self.proc.poll() is not None:
                raise TestFailure("mosquitto exited (code %s), see %s" % (self.proc.returncode, self.log_path))
            for port in [self.port] + self.ports:
                try:
                    socket.create_connection(("127.0.0.1", port), 0.2).close()
                except OSError:
                    return False
            return True

        wait_until("mosquitto accepting on port %d" % self.port, accepting, 10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.log:
            self.log.close()
            self.log = None

    def mqtt(self, **settings):
        """The daemon config's mqtt section for this broker's plain listener, with `settings` added."""
        return dict({"host": "127.0.0.1", "port": self.port}, **settings)


class Subscriber:
    """An MQTT client (paho-mqtt, Debian's python3-paho-mqtt) collecting every message under a
    topic filter, reconnecting by itself. With a client_id and clean=False its session (and the
    messages queued for it) lives in the broker while it is away. With a username it logs in
    (a broker with a password_file and an acl_file)."""

    def __init__(self, port, topic, client_id="", clean=True, name="subscriber", username=None, password=None):
        import threading
        import paho.mqtt.client as mqtt
        self.name = name
        self.topic = topic
        self.lock = threading.Lock()
        self.messages = []  # (topic, payload bytes, retain)
        self.connected = threading.Event()
        self.client = mqtt.Client(client_id=client_id, clean_session=clean, protocol=mqtt.MQTTv311)
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        if username:
            self.client.username_pw_set(username, password)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_disconnect = lambda c, u, rc: self.connected.clear()
        self.client.connect("127.0.0.1", port, keepalive=30)
        self.client.loop_start()
        wait_until("%s subscribed" % name, self.connected.is_set, 10)

    def _on_connect(self, client, userdata, flags, rc):
        if rc == 0:
            result, mid = client.subscribe(self.topic, qos=1)
            self._sub_mid = mid
            client.on_subscribe = lambda c, u, m, q: self.connected.set()

    def _on_message(self, client, userdata, msg):
        with self.lock:
            self.messages.append((msg.topic, msg.payload, msg.retain))

    def publish(self, topic, payload, retain=False):
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish()

    def received(self, suffix=None):
        """(topic, parsed JSON, retain) of every message so far whose topic ends with suffix."""
        with self.lock:
            msgs = list(self.messages)
        out = []
        for topic, payload, retain in msgs:
            if suffix is None or topic.endswith(suffix):
                out.append((topic, json.loads(payload.decode("utf-8")), retain))
        return out

    def stop(self):
        self.client.loop_stop()
        self.client.disconnect()


class ReadingMirror(Subscriber):
    """The readings a consumer receives, kept in a SQLite file of its own (`path`) with the
    store's `reading_values` columns (seq, device, point, ts, value, quality) and a `polls` table
    (seq, device, ts), one row per seq however often it came. Readings the broker acknowledges
    in time are never written to the gateway's store (docs/store.md), so a test that looks at
    the values polled while a broker is up looks here."""

    def __init__(self, work, port, prefix, name="reading mirror"):
        self.path = work.file("received.db")
        self.db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS polls(seq INTEGER PRIMARY KEY, device TEXT, ts INTEGER)")
        self.db.execute("CREATE TABLE IF NOT EXISTS reading_values(seq INTEGER, device TEXT, point TEXT, ts INTEGER,"
                        " value REAL, quality INTEGER)")
        Subscriber.__init__(self, port, prefix + "/devices/+/readings", name=name)

    def _on_message(self, client, userdata, msg):
        Subscriber._on_message(self, client, userdata, msg)
        m = json.loads(msg.payload.decode("utf-8"))
        with self.lock:
            # One transaction per message: a test reading the file never sees part of a poll.
            self.db.execute("BEGIN")
            if self.db.execute("INSERT OR IGNORE INTO polls VALUES(?,?,?)", (m["seq"], m["device"], m["ts"])).rowcount:
                rows = [(m["seq"], m["device"], k, m["ts"], v, 0) for k, v in m.get("values", {}).items()]
                rows += [(m["seq"], m["device"], k, m["ts"], None, 1) for k in m.get("invalid", [])]
                rows += [(m["seq"], m["device"], k, m["ts"], None, 2) for k in m.get("offline", [])]
                self.db.executemany("INSERT INTO reading_values VALUES(?,?,?,?,?,?)", rows)
            self.db.execute("COMMIT")

    def stop(self):
        Subscriber.stop(self)
        self.db.close()


def stack(started, work, scenario, topic=None, sim_extra=(), broker=None, subscriber=None):
    """What a test of the daemon with a broker starts first, in this order, each put in `started`:
    the simulator serving `scenario` on Modbus TCP (sim_extra: more of its arguments), a mosquitto
    (broker: Broker's keyword arguments) and, given a topic filter, a Subscriber to it
    (subscriber: its keyword arguments). Returns (sim, broker, the subscriber or None)."""
    sim = Sim(work, scenario, tcp=True, extra=sim_extra)
    started.append(sim)
    mosquitto = Broker(work, **(broker or {}))
    started.append(mosquitto)
    sub = None
    if topic:
        sub = Subscriber(mosquitto.port, topic, **(subscriber or {}))
        started.append(sub)
    return sim, mosquitto, sub
