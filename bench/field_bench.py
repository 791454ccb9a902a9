#!/usr/bin/python3
# field_bench: what the reference community costs a gateway in the field — uplink
# bytes, flash writes, CPU, memory, wake-ups — and how a day's backlog drains over an emulated
# 4G link while live alerts keep coming. Prints figures and writes them as JSON; asserts nothing
# (--check only tells whether every figure was produced).
#
# usage: bench/field_bench.py [--build DIR] [--only costs,4g] [--duration S] [--out FILE]
#                             [--backlog-hours H] [--speedup K] [--payload v1|v2] [--batch-ms MS]
#                             [--smoke] [--check] [--keep]
#   --payload v1|v2 (default v2) and --batch-ms (default 5000, as config/example.json) set how
#          the daemon publishes readings; deadbands and report_max_s are the profiles' own.
#   costs: the site for --duration s (default 300) against a local mosquitto, through a relay
#          counting the bytes of the daemon's MQTT connection. No root needed.
#   4g:    needs root (network namespace, veth, tbf). --backlog-hours of the site's readings are
#          built with the broker unreachable at --speedup (poll and trip intervals divided by it,
#          the daemon's wall clock sped up by it with libfaketime), then the site runs live in a
#          namespace whose only way to the broker is the emulated link, until the backlog is in.
import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "compare"))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "integration"))
import benchlib as bl  # noqa: E402
import harness  # noqa: E402
from field import procstat  # noqa: E402
from field.link4g import Link  # noqa: E402
from field.listener import Listener  # noqa: E402
from field.relay import Relay, Shape  # noqa: E402
from field.site import DRIVERS, ELEVATORS, Site, devices  # noqa: E402

PREFIX = "caretaker/hongmei/gw-01"
DAY, MONTH = 86400, 30 * 86400
KIB, MIB, GIB = 1024.0, 1024.0 ** 2, 1024.0 ** 3
# The gateway as first measured on this site, and the field targets
TODAY = {"uplink_kib_s": 6.9, "uplink_gib_month": 17, "writes_kib_s": 165, "writes_gib_day": 13.6,
         "cpu_pct": 0.85, "rss_mib": 11}
TARGETS = {"uplink_mib_month": 300, "writes_mib_day": 100, "cpu_pct": 0.3, "rss_mib": 6,
           "drain_24h_min": 30, "alert_p99_s": 1.0}


def human(n):
    for unit, size in (("GiB", GIB), ("MiB", MIB), ("KiB", KIB)):
        if abs(n) >= size:
            return "%.2f %s" % (n / size, unit)
    return "%.0f B" % n


def pct(values, p):
    """Nearest-rank percentile."""
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, max(0, math.ceil(p / 100.0 * len(v)) - 1))]


def r3(x):
    return round(x, 3) if x is not None else None


def start_daemon(build, run_dir, cfg, name, prefix=(), env=None):
    path = os.path.join(run_dir, name + ".json")
    with open(path, "w") as f:
        json.dump(cfg, f, ensure_ascii=False, indent=1)
    return bl.Proc(name, list(prefix) + [os.path.join(build, "gateway/caretaker"), "run", "-c", path, "-d", DRIVERS],
                   run_dir, env=dict(os.environ, **env) if env else None)


def wait_for(what, fn, timeout_s, proc=None):
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if fn():
            return
        if proc is not None and not proc.alive():
            raise RuntimeError("%s exited while waiting for %s: %s" % (proc.name, what, proc.tail()))
        time.sleep(0.2)
    raise RuntimeError("timed out after %.0f s waiting for %s" % (timeout_s, what))


def costs_run(args, run_dir, stop):
    """The site live against a local broker for args.duration s after args.warmup s."""
    broker, broker_port = bl.start_mosquitto(run_dir)
    stop.append(broker)
    relay = Relay("127.0.0.1", "127.0.0.1", broker_port)
    stop.append(relay)
    site = Site(args.build, run_dir, name="site")
    stop.append(site)
    listener = Listener(broker_port, PREFIX)
    stop.append(listener)
    cfg = site.config(os.path.join(run_dir, "caretaker.db"), "127.0.0.1", relay.port, args.payload, args.batch_ms)
    daemon = start_daemon(args.build, run_dir, cfg, "caretaker")
    stop.append(daemon)
    site.start_driver()
    wait_for("the first readings at the broker", lambda: listener.snapshot()["readings"] > 0, 60, daemon)
    time.sleep(args.warmup)
    s0, r0, l0, t0 = procstat.sample(daemon.pid), relay.counts(), listener.snapshot(), time.monotonic()
    load0 = bl.loadavg()
    end = t0 + args.duration
    while time.monotonic() < end:
        if not daemon.alive():
            raise RuntimeError("daemon exited during the run: " + daemon.tail())
        time.sleep(min(1.0, max(0.0, end - time.monotonic())))
    s1, r1, l1 = procstat.sample(daemon.pid), relay.counts(), listener.snapshot()
    secs = time.monotonic() - t0
    c = procstat.costs(s0, s1, secs)
    up = (r1["up"] - r0["up"]) / secs
    taken = Site.readings_per_s() * secs
    published = l1["readings"] - l0["readings"]
    return dict(c, **{
        "seconds": round(secs, 1), "load": "%s..%s" % (load0, bl.loadavg()),
        "uplink_bytes_per_s": round(up, 1), "uplink_bytes_per_month": round(up * MONTH),
        "downlink_bytes_per_s": round((r1["down"] - r0["down"]) / secs, 1),
        "disk_write_bytes_per_day": round(c["disk_write_bytes_per_s"] * DAY),
        "readings_taken_per_s": round(taken / secs, 2), "readings_published_per_s": round(published / secs, 2),
        "messages_per_s": round((l1["messages"] - l0["messages"]) / secs, 2),
        "payload_bytes_per_s": round((l1["payload_bytes"] - l0["payload_bytes"]) / secs, 1),
        "uplink_bytes_per_reading_taken": round(up * secs / taken, 1) if taken else None,
        "uplink_bytes_per_reading_published": round(up * secs / published, 1) if published else None,
        "mqtt_connections": r1["connections"], "sim_commands": site.commands,
    })


class AlertProbe:
    """Raises and clears controller_fault on the elevators in turn (fault_code set, then 0) and
    times each alert event's arrival at the listener: from the simulator's change (raised events
    only: a clear waits out the rule's clear_for_s by design), and from the event's own ts (the
    daemon's clock at the transition). No elevator is raised more than FLAP_MAX times in
    FLAP_WINDOW_S, so none is held raised as flapping (docs/alerts.md)."""

    FLAP_MAX, FLAP_WINDOW_S = 3, 600

    def __init__(self, site, listener, every_s):
        self.site, self.listener, self.every_s = site, listener, every_s
        self.samples = []  # (set wall time, event, from change s or None, from ts s)
        self.stop_event = threading.Event()
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _one(self, unit, device, value, event):
        self.site.cmd("set %d fault_code %d" % (unit, value))
        t_set = time.time()
        end = time.monotonic() + 120
        while not self.stop_event.is_set() and time.monotonic() < end:
            got = self.listener.alerts_since(t_set, device, "controller_fault", event)
            if got:
                arrival, ts = got
                self.samples.append((t_set, event, arrival - t_set if event == "raised" else None,
                                     arrival - ts / 1000.0 if ts else None))
                return True
            time.sleep(0.01)
        return False

    def _run(self):
        lifts = [(d["unit"], d["id"]) for d, kind in devices() if kind == "elevator"]
        raised = {u: [] for u, _ in lifts}
        i = 0
        try:
            while not self.stop_event.wait(self.every_s):
                unit, device = lifts[i % len(lifts)]
                i += 1
                recent = [t for t in raised[unit] if time.monotonic() - t < self.FLAP_WINDOW_S]
                if len(recent) >= self.FLAP_MAX and self.stop_event.wait(recent[0] + self.FLAP_WINDOW_S - time.monotonic()):
                    return
                raised[unit] = recent + [time.monotonic()]
                if not self._one(unit, device, 31, "raised"):
                    return
                if self.stop_event.wait(1.0) or not self._one(unit, device, 0, "cleared"):
                    return
        except RuntimeError as e:
            self.error = str(e)

    def stop(self):
        self.stop_event.set()
        self.thread.join(130)


def backlog_phase(args, run_dir, store, stop):
    """args.backlog_hours of the site's readings, the broker unreachable; returns the build's own
    figures (it is the flash cost of an outage)."""
    k = args.speedup
    real_s = args.backlog_hours * 3600.0 / k
    site = Site(args.build, run_dir, k=k, name="backlog")
    stop.append(site)
    cfg = site.config(store, "127.0.0.1", bl.free_port(), args.payload, args.batch_ms)  # nothing listens there
    env = None
    start = datetime.fromtimestamp(time.time() - args.backlog_hours * 3600.0, timezone.utc)
    try:
        env = harness.faked_clock(start.strftime("@%Y-%m-%d %H:%M:%S") + " x%g" % k)
    except harness.TestFailure as e:
        bl.log("backlog timestamps not spread over the hours (%s)" % e)
    bl.log("building the backlog: %.2f h of the site at x%g, %.0f s" % (args.backlog_hours, k, real_s))
    daemon = start_daemon(args.build, run_dir, cfg, "caretaker-backlog", env=env)
    stop.append(daemon)
    site.start_driver()
    time.sleep(1.0)
    s0, t0 = procstat.sample(daemon.pid), time.monotonic()
    end = t0 + real_s
    while time.monotonic() < end:
        if not daemon.alive():
            raise RuntimeError("daemon exited while building the backlog: " + daemon.tail())
        time.sleep(min(1.0, max(0.0, end - time.monotonic())))
    s1, secs = procstat.sample(daemon.pid), time.monotonic() - t0
    daemon.stop(30)
    site.stop()
    c = procstat.costs(s0, s1, secs)
    return {"site_hours": args.backlog_hours, "speedup": k, "seconds": round(secs, 1),
            "faked_clock": env is not None, "store_bytes": os.path.getsize(store),
            "disk_write_bytes": round(c["disk_write_bytes_per_s"] * secs),
            "cpu_pct": c["cpu_pct"]}


def link_run(args, run_dir, stop):
    """The backlog, then the site live through the emulated 4G link until the backlog is in."""
    link = Link(args.up_kbit, args.down_kbit, args.queue_ms)
    stop.append(link)
    broker, broker_port = bl.start_mosquitto(run_dir)
    stop.append(broker)
    listener = Listener(broker_port, PREFIX)
    stop.append(listener)
    store = os.path.join(run_dir, "caretaker.db")
    built = backlog_phase(args, run_dir, store, stop)
    shape = Shape(args.rtt_ms / 2.0, args.jitter_ms, args.loss, args.stall_ms)
    relay = Relay(link.here, "127.0.0.1", broker_port, shape, rcvbuf=args.window_kib * 1024)
    stop.append(relay)
    site = Site(args.build, run_dir, prefix=link.prefix(), name="live")
    stop.append(site)
    cfg = site.config(store, link.here, relay.port, args.payload, args.batch_ms)
    t_restore = time.time()
    listener.split_backlog(int(t_restore * 1000))
    daemon = start_daemon(args.build, run_dir, cfg, "caretaker-live", prefix=link.prefix())
    stop.append(daemon)
    site.start_driver()
    s0, m0 = procstat.sample(daemon.pid), time.monotonic()
    probe = AlertProbe(site, listener, args.alert_every)
    stop.append(probe)

    def drained():
        snap = listener.snapshot()
        return (snap["last_old_arrival"] is not None and time.time() - snap["last_old_arrival"] >= args.quiet
                and snap["last_arrival"] is not None and time.time() - snap["last_arrival"] < args.quiet)
    wait_for("the backlog to drain", drained, args.drain_timeout, daemon)
    probe.stop()
    s1, secs = procstat.sample(daemon.pid), time.monotonic() - m0
    snap, counts = listener.snapshot(), relay.counts()
    drain_end = snap["last_old_arrival"]
    first_connect = relay.connect_times[0] if relay.connect_times else None
    during = [s for s in probe.samples if s[0] < drain_end]
    from_change = [s[2] for s in during if s[2] is not None]
    from_ts = [s[3] for s in during if s[3] is not None]
    drain_s = drain_end - t_restore
    out = {
        "link": dict(shape.describe(), **link.shaping, window_kib=args.window_kib),
        "backlog": built,
        "backlog_messages": snap["old_distinct"], "backlog_seq_span": snap["old_seq_span"],
        "backlog_payload_bytes": snap["old_bytes"],
        "drain_s": round(drain_s, 1),
        "drain_s_from_connect": round(drain_end - first_connect, 1) if first_connect else None,
        "drain_s_for_24h": round(drain_s * 24.0 / args.backlog_hours, 1),
        "uplink_bytes": counts["up"], "downlink_bytes": counts["down"], "stalls": counts["stalls"],
        "uplink_bytes_per_s": round(counts["up"] / secs, 1),
        "alerts_during_drain": len(from_change), "alert_events_during_drain": len(during),
        "alert_latency_p50_s": pct(from_change, 50), "alert_latency_p99_s": pct(from_change, 99),
        "alert_latency_max_s": max(from_change) if from_change else None,
        "alert_ts_to_arrival_p50_s": pct(from_ts, 50), "alert_ts_to_arrival_p99_s": pct(from_ts, 99),
        "alert_latency_all_p50_s": pct([s[2] for s in probe.samples if s[2] is not None], 50),
        "alert_latency_all_p99_s": pct([s[2] for s in probe.samples if s[2] is not None], 99),
        "alerts_all": len(probe.samples),
        "probe_error": probe.error,
        "alert_samples": [{"at": round(t - t_restore, 2), "event": ev, "from_change_s": r3(a), "from_ts_s": r3(b)}
                          for t, ev, a, b in probe.samples],
        "disk_write_bytes_during_drain": round(procstat.costs(s0, s1, secs)["disk_write_bytes_per_s"] * secs),
        "qdisc": link.qdisc_stats(),
    }
    if built["disk_write_bytes"] and snap["old_bytes"]:
        out["backlog_writes_per_payload_byte"] = round(built["disk_write_bytes"] / snap["old_bytes"], 2)
    for k in ("alert_latency_p50_s", "alert_latency_p99_s", "alert_latency_max_s", "alert_ts_to_arrival_p50_s",
              "alert_ts_to_arrival_p99_s", "alert_latency_all_p50_s", "alert_latency_all_p99_s"):
        out[k] = r3(out[k])
    return out


def vs(value, target, unit):
    if value is None:
        return "n/a"
    if value <= target:
        return "met (target %s %s)" % (target, unit)
    return "missed by %.1fx (target %s %s)" % (value / target, target, unit)


def print_costs(r):
    up_mib_month = r["uplink_bytes_per_month"] / MIB
    wr_mib_day = r["disk_write_bytes_per_day"] / MIB
    rss = r["rss_kib"] / 1024.0
    print("field costs, reference community, %.0f s (load %s):" % (r["seconds"], r["load"]))
    print("  uplink to the broker   %8.2f KiB/s = %s/month   [before: %s KiB/s = %s GiB/month]  %s"
          % (r["uplink_bytes_per_s"] / KIB, human(r["uplink_bytes_per_month"]), TODAY["uplink_kib_s"],
             TODAY["uplink_gib_month"], vs(up_mib_month, TARGETS["uplink_mib_month"], "MiB/month")))
    print("  flash writes           %8.2f KiB/s = %s/day     [before: %s KiB/s = %s GiB/day]  %s"
          % (r["disk_write_bytes_per_s"] / KIB, human(r["disk_write_bytes_per_day"]), TODAY["writes_kib_s"],
             TODAY["writes_gib_day"], vs(wr_mib_day, TARGETS["writes_mib_day"], "MiB/day")))
    print("  CPU                    %8.3f %% of a core (ticks: %.2f %%)   [before: %s %%]  %s"
          % (r["cpu_pct"], r["cpu_pct_ticks"], TODAY["cpu_pct"], vs(r["cpu_pct"], TARGETS["cpu_pct"], "%")))
    print("  RSS                    %8.1f MiB (VmHWM %.1f MiB)   [before: %s MiB]  %s"
          % (rss, r["hwm_kib"] / 1024.0, TODAY["rss_mib"], vs(rss, TARGETS["rss_mib"], "MiB")))
    print("  wake-ups               %8.1f /s (context switches of its %d threads)" % (r["wakeups_per_s"], r["threads"]))
    print("  on the wire            %8.1f bytes per reading taken (%.1f readings/s), %.1f per reading published (%.1f/s, %.1f messages/s)"
          % (r["uplink_bytes_per_reading_taken"] or 0, r["readings_taken_per_s"],
             r["uplink_bytes_per_reading_published"] or 0, r["readings_published_per_s"], r["messages_per_s"]))


def print_link(r):
    b, ln = r["backlog"], r["link"]
    print("emulated 4G link (%d kbit/s up, %d down, RTT %.0f ms ± %.0f, %.1f %% of segments stalled %s ms):"
          % (ln["up_kbit"], ln["down_kbit"], 2 * ln["one_way_ms"], ln["jitter_ms"], 100 * ln["segment_loss"],
             "-".join(str(x) for x in ln["stall_ms"])))
    print("  backlog                %.2f h of the site built in %.0f s at x%g: %d rows (distinct seqs; a v2 message holds many), %s of payload, store %s, %s written"
          % (b["site_hours"], b["seconds"], b["speedup"], r["backlog_messages"], human(r["backlog_payload_bytes"]),
             human(b["store_bytes"]), human(b["disk_write_bytes"])))
    print("  drained in             %.1f s from the restart (%.1f s from the connect); 24 h of backlog: %.1f min  %s"
          % (r["drain_s"], r["drain_s_from_connect"] or 0, r["drain_s_for_24h"] / 60.0,
             vs(r["drain_s_for_24h"] / 60.0, TARGETS["drain_24h_min"], "min")))
    print("  alert latency          p50 %s s, p99 %s s (max %s) over %d alerts raised during the drain; from the event's ts: p50 %s, p99 %s (%d events)  %s"
          % (r["alert_latency_p50_s"], r["alert_latency_p99_s"], r["alert_latency_max_s"], r["alerts_during_drain"],
             r["alert_ts_to_arrival_p50_s"], r["alert_ts_to_arrival_p99_s"], r["alert_events_during_drain"],
             vs(r["alert_latency_p99_s"], TARGETS["alert_p99_s"], "s")))
    print("  link                   %s up, %s down, %d stalls" % (human(r["uplink_bytes"]), human(r["downlink_bytes"]), r["stalls"]))


REQUIRED = {"costs": ["uplink_bytes_per_month", "disk_write_bytes_per_day", "cpu_pct", "rss_kib", "hwm_kib",
                      "wakeups_per_s", "uplink_bytes_per_reading_taken", "uplink_bytes_per_reading_published"],
            "link4g": ["drain_s", "drain_s_for_24h", "alert_latency_p50_s", "alert_latency_p99_s", "backlog_messages"]}


def main():
    ap = argparse.ArgumentParser(description="field costs of the reference community, and a backlog over an emulated 4G link")
    ap.add_argument("--build", default=os.path.join(bl.ROOT, "build"),
                    help="build tree with gateway/caretaker and tests/sim/caretaker-sim (RelWithDebInfo for figures)")
    ap.add_argument("--only", default="costs,4g")
    ap.add_argument("--duration", type=float, default=300, help="seconds measured in the costs run")
    ap.add_argument("--warmup", type=float, default=10)
    ap.add_argument("--payload", choices=("v1", "v2"), default="v2", help="mqtt.payload of the daemon's config")
    ap.add_argument("--batch-ms", type=int, default=5000, help="mqtt.batch_ms with v2 (5000: the figures of docs/performance.md; config/example.json ships 0)")
    ap.add_argument("--backlog-hours", type=float, default=24, help="hours of the site's readings in the backlog")
    ap.add_argument("--speedup", type=float, default=10, help="site time per second while the backlog is built (at most 10: the elevators' 500 ms become 50 ms, the config's floor)")
    ap.add_argument("--up-kbit", type=int, default=2000)
    ap.add_argument("--down-kbit", type=int, default=10000)
    ap.add_argument("--rtt-ms", type=float, default=100)
    ap.add_argument("--jitter-ms", type=float, default=10, help="each way, uniform ±")
    ap.add_argument("--loss", type=float, default=0.01, help="share of segments that cost a retransmit stall")
    ap.add_argument("--stall-ms", default="200,1000", help="range of a stall (retransmit timeout), ms")
    ap.add_argument("--queue-ms", type=int, default=200, help="tbf: longest wait in the bottleneck's queue")
    ap.add_argument("--window-kib", type=int, default=128, help="receive buffer at the far end of the link")
    ap.add_argument("--alert-every", type=float, default=20, help="seconds between alert probes during the drain")
    ap.add_argument("--quiet", type=float, default=15, help="no backlog message for this long: drained")
    ap.add_argument("--drain-timeout", type=float, default=4 * 3600)
    ap.add_argument("--smoke", action="store_true", help="short run: 15 s of costs, 0.05 h of backlog")
    ap.add_argument("--check", action="store_true", help="exit 1 unless every figure was produced")
    ap.add_argument("--dir", help="where the run's files go (the store must be on a disk, not tmpfs, for flash writes)")
    ap.add_argument("--keep", action="store_true", help="keep the run's directory (configs, logs, store)")
    ap.add_argument("--out", help="write the figures as JSON")
    args = ap.parse_args()
    if args.smoke:
        args.duration, args.warmup, args.backlog_hours, args.quiet, args.alert_every = 15, 3, 0.05, 8, 3
    args.stall_ms = tuple(float(x) for x in args.stall_ms.split(","))
    args.speedup = min(args.speedup, 10.0)
    args.build = os.path.abspath(args.build)
    only = set(args.only.split(","))
    bl.ensure_tools(rtu=True)
    results = {"machine": bl.machine_notes(), "elevators": ELEVATORS,
               "readings_taken_per_s": round(Site.readings_per_s(), 2), "polls_per_s": round(Site.polls_per_s(), 2)}
    failed = False
    for name, fn, printer in (("costs", costs_run, print_costs), ("link4g", link_run, print_link)):
        if ("4g" if name == "link4g" else name) not in only:
            continue
        run_dir = tempfile.mkdtemp(prefix="caretaker-field-%s-" % name, dir=args.dir)
        stop = []
        try:
            results[name] = fn(args, run_dir, stop)
            printer(results[name])
        except RuntimeError as e:
            results[name] = {"error": str(e)[:500]}
            print("%s: failed: %s" % (name, e))
            failed = True
        finally:
            for p in reversed(stop):
                try:
                    p.stop()
                except Exception as e:  # every process we started must be reached
                    bl.log("stopping %r: %s" % (p, e))
            if args.keep:
                bl.log("kept " + run_dir)
            else:
                shutil.rmtree(run_dir, ignore_errors=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1, ensure_ascii=False)
    if args.check:
        missing = ["%s.%s" % (n, k) for n, keys in REQUIRED.items() if ("4g" if n == "link4g" else n) in only
                   for k in keys if results.get(n, {}).get(k) is None]
        if missing or failed:
            print("missing figures: " + ", ".join(missing))
            return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
