# site: the reference community on the simulator — 8 retrofitted elevators (Modbus
# TCP, 500 ms) making trips, a pump station with 2 pumps (Modbus TCP, 5 s), and one RS-485 line
# (a socat pty pair) with 6 manhole level meters, 3 sewage flow meters and a rain gauge (60 s) —
# the daemon's config for it, and the driver that moves the elevators and pumps over time.
#
# speedup k compresses the site's time: poll intervals, trip intervals, door times and the
# meters' waves all divided by k, so one second of the run holds k seconds of the site (the
# backlog of the 4G run is built that way).
import heapq
import json
import os
import random
import threading
import time

import benchlib as bl

DRIVERS = os.path.join(bl.ROOT, "drivers")
ELEVATORS, MANHOLES, FLOWS, PUMPS = 8, 6, 3, 2
POLL_MS = {"elevator": 500, "pump": 5000, "rs485": 60000}

# Status word of elevator/generic (bits of holding 0); mode (bits 0-3) stays 0, normal.
MOVING, UP, DOWN, ZONE, OPEN, CLOSED, OCC, SAFE, LOCK, POWER = (1 << b for b in (4, 5, 6, 7, 8, 9, 10, 11, 12, 13))
HEALTHY = SAFE | POWER


def devices():
    """(config device, unit, bus, profile) of every device of the community."""
    out = []
    for i in range(ELEVATORS):
        out.append(({"id": "lift-b%du%d" % (i // 2 + 1, i % 2 + 1), "unit": i + 1,
                     "driver": "elevator/generic", "location": "%d幢%d单元" % (i // 2 + 1, i % 2 + 1),
                     "params": {"top_floor": 6 + i % 2}}, "elevator"))
    for i in range(MANHOLES):
        out.append(({"id": "manhole-%d" % (i + 1), "unit": 11 + i, "driver": "level/ultrasonic-generic",
                     "location": "%d号窨井" % (i + 1)}, "rs485"))
    for i in range(FLOWS):
        out.append(({"id": "flow-%d" % (i + 1), "unit": 21 + i, "driver": "flow/electromagnetic-generic",
                     "location": "%d号排口" % (i + 1), "inputs": {"rain": "rain-1.intensity"}}, "rs485"))
    out.append(({"id": "rain-1", "unit": 31, "driver": "rain/gauge-generic", "location": "物业楼顶"}, "rs485"))
    for i in range(PUMPS):
        out.append(({"id": "pump-%d" % (i + 1), "unit": 41 + i, "driver": "pump/controller-generic",
                     "location": "泵站%d号泵" % (i + 1)}, "pump"))
    return out


def points_per_poll(driver):
    """Values one poll of the profile yields (derived sums included): a reading is one of them."""
    with open(os.path.join(DRIVERS, driver + ".json")) as f:
        return len(json.load(f)["points"])


def scenario(k):
    """Start values, and the slow motion of the meters (levels, flows, pit levels) at speedup k."""
    devs = []
    for dev, kind in devices():
        u = dev["unit"]
        if kind == "elevator":
            devs.append({"unit": u, "driver": dev["driver"], "values": {
                "status": ZONE | CLOSED | LOCK | HEALTHY, "floor": 1, "speed": 0, "load": 0,
                "fault_code": 0, "runs": 15000 + 97 * u, "running_hours": 800 + 13 * u,
                "door_cycles": 30000 + 211 * u}})
        elif dev["driver"].startswith("level/"):
            base = 0.35 + 0.05 * (u - 11)
            devs.append({"unit": u, "driver": dev["driver"],
                         "values": {"decimals": 2, "level": base, "distance": 2.5 - base, "temperature": 16.0 + 0.5 * (u - 11)},
                         "waves": {"level": {"base": base, "amplitude": 0.06, "period_s": (1800 + 300 * (u - 11)) / k},
                                   "distance": {"base": 2.5 - base, "amplitude": 0.06, "period_s": (1800 + 300 * (u - 11)) / k},
                                   "temperature": {"base": 16.0 + 0.5 * (u - 11), "amplitude": 0.4, "period_s": 86400 / k}}})
        elif dev["driver"].startswith("flow/"):
            base = 6.0 + 4.0 * (u - 21)
            devs.append({"unit": u, "driver": dev["driver"],
                         "values": {"flow": base, "velocity": base / 20, "forward_int": 12000 + 1000 * u,
                                    "forward_frac": 0.5, "reverse_int": 0, "reverse_frac": 0},
                         "waves": {"flow": {"base": base, "amplitude": base * 0.3, "period_s": (900 + 120 * (u - 21)) / k},
                                   "velocity": {"base": base / 20, "amplitude": base * 0.015, "period_s": (900 + 120 * (u - 21)) / k}},
                         "counters": {"forward_int": {"step": 1, "every_s": 3600.0 / base / k}}})
        elif dev["driver"].startswith("rain/"):
            devs.append({"unit": u, "driver": dev["driver"], "values": {"intensity": 0, "rainfall": 1234.5}})
        else:
            devs.append({"unit": u, "driver": dev["driver"],
                         "values": {"auto_mode": True, "running": False, "pit_level": 0.9, "current": 0,
                                    "run_hours": 1200 + u, "starts": 340 + u},
                         "waves": {"pit_level": {"base": 0.9, "amplitude": 0.3, "period_s": (600 + 60 * (u - 41)) / k}}})
    return {"devices": devs}


def elevator_trips(u, top, rng):
    """Steps (wait in site seconds, commands) of one elevator forever: a trip every 70-110 s,
    each a door cycle at the calling floor, a ride of a few floors (3 s a floor), a door cycle at
    the destination. Door times stay short of every rule's delay, so a healthy car raises nothing."""
    floor, runs, cycles = 1, 15000 + 97 * u, 30000 + 211 * u
    st = lambda bits: "raw %d holding 0 %d" % (u, bits | HEALTHY)  # noqa: E731
    yield rng.uniform(0, 90), []
    while True:
        start_wait = rng.uniform(70, 110)
        dest = rng.choice([f for f in range(1, top + 1) if f != floor])
        d = UP if dest > floor else DOWN
        cycles += 1
        yield 0, [st(ZONE | OPEN), "set %d door_cycles %d" % (u, cycles)]
        yield 3, [st(ZONE | OPEN | OCC), "set %d load %.1f" % (u, rng.choice([7.5, 15, 22.5, 30]))]
        yield 3, [st(ZONE | OCC)]
        yield 2, [st(ZONE | CLOSED | LOCK | OCC)]
        runs += 1
        yield 1, [st(MOVING | d | CLOSED | LOCK | OCC), "set %d speed 0.5" % u, "set %d runs %d" % (u, runs)]
        spent = 9
        while floor != dest:
            floor += 1 if d == UP else -1
            yield 3, ["set %d floor %d" % (u, floor), "set %d speed %.1f" % (u, 1.0 if floor != dest else 0.4)]
            spent += 3
        yield 1.5, [st(ZONE | CLOSED | LOCK | OCC), "set %d speed 0" % u]
        cycles += 1
        yield 1, [st(ZONE | OPEN | OCC), "set %d door_cycles %d" % (u, cycles)]
        yield 4, [st(ZONE | OPEN), "set %d load 0" % u]
        yield 3, [st(ZONE)]
        yield 2, [st(ZONE | CLOSED | LOCK)]
        spent += 11.5
        yield max(1.0, start_wait - spent), []


def pump_cycles(u, rng):
    """A pump runs 60-120 s every 8-12 minutes."""
    starts = 340 + u
    yield rng.uniform(0, 300), []
    while True:
        starts += 1
        yield 0, ["set %d running 1" % u, "set %d current %.1f" % (u, rng.uniform(17, 19)), "set %d starts %d" % (u, starts)]
        run = rng.uniform(60, 120)
        yield run, ["set %d running 0" % u, "set %d current 0" % u]
        yield rng.uniform(480, 720) - run, []


class Site:
    """The simulator (in the network namespace of `prefix`, when given) and the pty pair of the
    RS-485 line, in run_dir."""

    def __init__(self, build, run_dir, k=1.0, prefix=(), seed=7, name="site"):
        self.k, self.seed, self.name = k, seed, name
        self.procs = []
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.driver = None
        self.commands = 0
        os.makedirs(run_dir, exist_ok=True)
        scen = os.path.join(run_dir, name + "-scenario.json")
        with open(scen, "w") as f:
            json.dump(scenario(k), f)
        try:
            socat, tty_sim, self.tty_gw = bl.start_pty_pair(run_dir)
            self.procs.append(socat)
            self.sim = bl.Proc(name + "-sim", list(prefix) + [os.path.join(build, "tests/sim/caretaker-sim"),
                                                             "--tcp", "0", "--rtu", tty_sim, "--drivers", DRIVERS, scen],
                               run_dir, stdin=True, stdout_pipe=True)
            self.procs.append(self.sim)
            line = self.sim.read_line(30)
            if not line or not line.startswith("READY"):
                raise RuntimeError("simulator not ready: %r %s" % (line, self.sim.tail()))
            self.tcp_port = int(line.split("tcp=")[1].split()[0])
        except Exception:
            self.stop()
            raise

    def config(self, store_path, mqtt_host, mqtt_port, payload="v2", batch_ms=5000):
        """The daemon's config for the site at its speedup, as a field engineer sets it up now:
        the profiles' own deadbands and the default report_max_s (no device overrides them), and
        readings as v2 batched over batch_ms (5000 ms unless told), or v1."""
        buses = {"elevator": {"id": "lifts", "type": "tcp", "host": "127.0.0.1", "port": self.tcp_port,
                              "timeout_ms": 1000, "devices": []},
                 "pump": {"id": "pump-station", "type": "tcp", "host": "127.0.0.1", "port": self.tcp_port,
                          "timeout_ms": 1000, "devices": []},
                 "rs485": {"id": "rs485-1", "type": "rtu", "port": self.tty_gw, "baud": 9600, "parity": "N",
                           "timeout_ms": 300, "devices": []}}
        for dev, kind in devices():
            dev = dict(dev, poll_ms=max(50, int(POLL_MS[kind] / self.k)))
            buses[kind]["devices"].append(dev)
        return {
            "site": {"id": "hongmei", "name": "红梅新村", "timezone": "Asia/Shanghai"},
            "gateway": {"id": "gw-01"},
            "store": {"path": store_path},
            "mqtt": dict({"host": mqtt_host, "port": mqtt_port, "payload": payload},
                         **({"batch_ms": batch_ms} if payload == "v2" else {})),
            "contracts": [
                {"id": "elevator-om", "contractor": "某电梯维保公司", "covers": ["elevator"],
                 "respond_minutes": {"critical": 30, "major": 240, "minor": 1440}},
                {"id": "sewage-om", "contractor": "某排水运维公司", "covers": ["sewage"],
                 "respond_minutes": {"critical": 120, "major": 240, "minor": 1440, "info": 0}}],
            "buses": [buses["elevator"], buses["rs485"], buses["pump"]],
        }

    @staticmethod
    def readings_per_s():
        """Readings the site's schedule takes per second of its own time (polls x values)."""
        total = 0.0
        for dev, kind in devices():
            total += points_per_poll(dev["driver"]) * 1000.0 / POLL_MS[kind]
        return total

    @staticmethod
    def polls_per_s():
        return sum(1000.0 / POLL_MS[kind] for _, kind in devices())

    def cmd(self, line):
        with self.lock:
            reply = self.sim.ask(line)
            self.commands += 1
        if reply != "OK":
            raise RuntimeError("simulator refused %r: %r" % (line, reply))

    def start_driver(self):
        """Moves the elevators and pumps from a thread of its own until stop()."""
        rng = random.Random(self.seed)
        gens = [elevator_trips(dev["unit"], dev["params"]["top_floor"], random.Random(rng.random()))
                for dev, kind in devices() if kind == "elevator"]
        gens += [pump_cycles(dev["unit"], random.Random(rng.random())) for dev, kind in devices() if kind == "pump"]
        self.driver = threading.Thread(target=self._drive, args=(gens,), daemon=True)
        self.driver.start()

    def _drive(self, gens):
        t0 = time.monotonic()
        heap = []
        for i, g in enumerate(gens):
            wait, cmds = next(g)
            heapq.heappush(heap, (t0 + wait / self.k, i, cmds))
        while heap and not self.stop_event.is_set():
            at, i, cmds = heapq.heappop(heap)
            if self.stop_event.wait(max(0.0, at - time.monotonic())):
                return
            try:
                for c in cmds:
                    self.cmd(c)
            except (RuntimeError, OSError, AttributeError) as e:
                bl.log("%s driver stopped: %s" % (self.name, e))
                return
            wait, nxt = next(gens[i])
            heapq.heappush(heap, (at + wait / self.k, i, nxt))

    def stop(self):
        self.stop_event.set()
        if self.driver:
            self.driver.join(10)
        for p in reversed(self.procs):
            p.stop()
        self.procs = []
