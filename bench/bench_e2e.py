#!/usr/bin/python3
# bench_e2e: Caretaker alone, end to end (simulator -> daemon -> SQLite + rules -> mosquitto ->
# subscriber): the most readings/s on one core, RSS at 100 devices, and polls/s on an RTU line
# against the line's physical limit. Prints one JSON object per run and a table; asserts nothing.
#
# usage: bench/bench_e2e.py [--build DIR] [--window S] [--only rss,max,rtu] [--out FILE]
#   rss: 50 and 100 devices at 1 s on one TCP bus.
#   max: the daemon pinned to CPU 0 (taskset -c 0), simulator, broker and subscriber on CPU 1;
#        bench/meter14 devices polled every 50 ms (the config's floor), 50 to a TCP bus, more
#        devices until readings are no longer all delivered.
#   rtu: one pty line at 8E1, the simulator with --byte-timing at 9600 and 115200 baud, more
#        devices at 50 ms than the line can carry, so it is never idle.
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "compare"))
import benchlib as bl  # noqa: E402

# One read of 21 holding registers: request unit+fc+addr+qty+crc = 8 bytes; reply
# unit+fc+count+42 data+crc = 47 bytes (Modbus over serial line, 2.5.1; application protocol 6.3).
RTU_REQUEST_BYTES = 8
RTU_REPLY_BYTES = 5 + 2 * bl.REGISTERS
TOPIC = "caretaker/+/+/devices/+/readings"


def line_limit(baud, parity):
    """Polls/s a line can carry at most: both frames' characters (start + 8 data + parity +
    stop bits: 11 at 8E1, 10 at 8N1), each frame preceded by 3.5 characters of silence
    (fixed at 1.75 ms above 19200 baud, Modbus over serial line 2.5.1.1)."""
    bits = 11 if parity in ("E", "O") else 10
    char_s = bits / baud
    t35 = 0.00175 if baud > 19200 else 3.5 * char_s
    poll_s = (RTU_REQUEST_BYTES + RTU_REPLY_BYTES) * char_s + 2 * t35
    return bits, char_s, t35, poll_s


def tcp_run(args, name, devices, poll_ms, per_bus, cpu_daemon=None, cpu_rest=None):
    with bl.Rig("bench-e2e-") as rig:
        # Every bus is a connection of its own to the one simulator, which serves the units
        # of the largest bus.
        rig.start(args.build, min(devices, per_bus), [TOPIC], cpu_rest)
        buses, left = [], devices
        while left > 0:
            n = min(left, per_bus)
            buses.append({"type": "tcp", "port": rig.sim_port, "units": n})
            left -= n
        cfg = os.path.join(rig.run_dir, "caretaker.json")
        bl.caretaker_config(cfg, rig.run_dir, rig.mqtt_port, buses, poll_ms)
        ct = rig.add(bl.start_caretaker(args.build, rig.run_dir, cfg, cpu_daemon))
        perf_out = os.path.join(args.perf, name + ".perf.data") if args.perf else None
        r = rig.measure(ct, bl.Load(devices, poll_ms, devices, bl.VALUES), args, perf_out)
        if perf_out:
            r["perf_data"] = perf_out
        r.update({"run": name, "devices": devices, "poll_ms": poll_ms, "buses": len(buses)})
        return r


def rtu_run(args, baud, parity, devices, poll_ms):
    with bl.Rig("bench-e2e-rtu-") as rig:
        rig.start(args.build, devices, [TOPIC], rtu_baud=baud, parity=parity)
        cfg = os.path.join(rig.run_dir, "caretaker.json")
        bl.caretaker_config(cfg, rig.run_dir, rig.mqtt_port,
                            [{"type": "rtu", "port": rig.tty_gw, "baud": baud, "parity": parity,
                              "units": devices, "timeout_ms": 300 if baud >= 19200 else 500}],
                            poll_ms)
        ct = rig.add(bl.start_caretaker(args.build, rig.run_dir, cfg))
        r = rig.measure(ct, bl.Load(devices, poll_ms, devices, bl.VALUES), args)
        bits, char_s, t35, poll_s = line_limit(baud, parity)
        polls = r["messages_per_s"]
        r.update({"run": f"rtu-{baud}-8{parity}1", "baud": baud, "parity": parity,
                  "bits_per_char": bits, "devices": devices, "poll_ms": poll_ms,
                  "bytes_per_poll": RTU_REQUEST_BYTES + RTU_REPLY_BYTES,
                  "char_us": round(char_s * 1e6, 2), "t35_us": round(t35 * 1e6, 1),
                  "limit_poll_ms": round(poll_s * 1e3, 3),
                  "polls_per_s": polls, "limit_polls_per_s": round(1.0 / poll_s, 2),
                  "pct_of_limit": round(100 * polls * poll_s, 1)})
        return r


def table(results):
    rows = []
    for r in results:
        if "error" in r:
            rows.append([r["run"], "failed: " + r["error"]])
            continue
        rtu = (f"{r['polls_per_s']:.1f} ({r['limit_polls_per_s']:.1f}, {r['pct_of_limit']:.1f} %)"
               if "polls_per_s" in r else "")
        rows.append([r["run"], f"{r['devices']} @ {r['poll_ms']} ms", f"{r['delivered_per_s']:.0f}",
                     f"{r['arrived_pct']:.2f} %", r.get("lost_values", ""),
                     f"{r['cpu_us_per_reading']:.2f}", f"{r['cpu_pct']:.1f}",
                     f"{r['rss_kib'] / 1024:.1f} / {r['hwm_kib'] / 1024:.1f}", rtu])
    return bl.md_table(["run", "devices x 14 @ interval", "delivered readings/s", "arrived",
                        "read, never delivered", "CPU us/reading", "CPU % of a core",
                        "VmRSS / VmHWM MiB", "polls/s (limit, %)"], rows)


def main():
    ap = argparse.ArgumentParser(description="Caretaker alone, end to end")
    ap.add_argument("--build", default=os.path.join(bl.ROOT, "build"),
                    help="build tree with gateway/caretaker, tests/sim/caretaker-sim, bench/bench_e2e_sub")
    ap.add_argument("--window", type=float, default=30)
    ap.add_argument("--warmup", type=float, default=5)
    ap.add_argument("--grace", type=float, default=3)
    ap.add_argument("--only", default="rss,max,rtu")
    ap.add_argument("--rss-devices", default="50,100", help="device counts of the RSS runs, at 1 s")
    ap.add_argument("--max-devices", default="300,400,500,600",
                    help="device counts of the max sweep, polled every 50 ms; the sweep stops "
                         "after the first load that is not delivered in full")
    ap.add_argument("--per-bus", type=int, default=50,
                    help="devices per TCP bus (one poller thread and connection each) in the max sweep")
    ap.add_argument("--perf", metavar="DIR",
                    help="profile the daemon with perf (cpu-clock) into DIR/<run>.perf.data; "
                         "the profiler's cost is in the figures of those runs")
    ap.add_argument("--out", help="write the results as JSON")
    args = ap.parse_args()
    args.build = os.path.abspath(args.build)
    if args.perf:
        os.makedirs(args.perf, exist_ok=True)
    only = set(args.only.split(","))
    bl.ensure_tools(rtu="rtu" in only)
    results = []

    def emit(r):
        print(json.dumps(r), flush=True)
        results.append(r)

    def guarded(name, fn, *a):
        try:
            return fn(*a)
        except RuntimeError as e:
            return {"run": name, "error": str(e)[:200]}

    bl.log("machine: " + json.dumps(bl.machine_notes()))
    if "rss" in only:
        for n in [int(x) for x in args.rss_devices.split(",")]:
            name = f"rss-{n}x1s"
            emit(guarded(name, tcp_run, args, name, n, 1000, n))
    if "max" in only:
        for n in [int(x) for x in args.max_devices.split(",")]:
            name = f"max-{n}x50ms"
            r = guarded(name, tcp_run, args, name, n, 50, args.per_bus, 0, 1)
            emit(r)
            if r.get("arrived_pct", 0) < 99.9:
                break
    if "rtu" in only:
        # More devices at the 50 ms floor than the line can carry, so it is never idle.
        emit(guarded("rtu-9600", rtu_run, args, 9600, "E", 4, 50))
        emit(guarded("rtu-115200", rtu_run, args, 115200, "E", 32, 50))
    bl.report(table(results), results, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
