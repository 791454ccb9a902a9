#!/usr/bin/python3
# bench_dashboard: the dashboard in headless Chromium under a city's load. A synthetic publisher
# (two processes, paho-mqtt, QoS 0) plays 200 gateways x 50 devices at their usual poll rates —
# 40 sewage meters every 5 s and 10 elevators every 0.5 s per gateway, 5 600 readings/s — after
# the retained present (status, device states, active lists with alerts, daily reports); the page
# is served by mosquitto's WebSockets listener. In each view in turn the page's event-loop lag
# (a 50 ms timer's lateness), frame intervals (requestAnimationFrame) and long tasks are measured
# in the page: dispatch, sites with one community open, sites with all open (every reading of
# the city reaches the page), supervision. Prints one JSON object and a table; asserts nothing.
#
# usage: bench/bench_dashboard.py [--gateways N] [--devices N] [--window S] [--out FILE] [--profile]
import argparse
import json
import multiprocessing
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "browser"))
import browser  # noqa: E402
import harness as h  # noqa: E402

ELEVATORS = 10  # of each gateway's devices; the others are sewage level and flow meters
SEWAGE_S, ELEVATOR_S = 5.0, 0.5
USER, PASSWORD = "bench", "bench-pw"

MEASURE = """
var b = window.__bench = {lags: [], frames: [], longtasks: [], m0: window.caretakerDashboard.stats.messages,
                          t0: performance.now()};
var last = performance.now();
b.timer = setInterval(function () { var n = performance.now(); b.lags.push(n - last - 50); last = n; }, 50);
var lf = null;
(function frame(t) { if (lf !== null) b.frames.push(t - lf); lf = t; if (window.__bench === b) requestAnimationFrame(frame); })
  (performance.now());
try { b.obs = new PerformanceObserver(function (l) { l.getEntries().forEach(function (e) { b.longtasks.push(e.duration); }); });
      b.obs.observe({entryTypes: ["longtask"]}); } catch (e) {}
"""

COLLECT = """
var b = window.__bench; clearInterval(b.timer); if (b.obs) b.obs.disconnect(); window.__bench = null;
var s = window.caretakerDashboard.stats, secs = (performance.now() - b.t0) / 1000;
return {lags: b.lags, frames: b.frames, longtasks: b.longtasks, messages_per_s: (s.messages - b.m0) / secs,
        heap_mb: performance.memory ? performance.memory.usedJSHeapSize / 1048576 : null,
        dom_nodes: document.getElementsByTagName('*').length};
"""


def gateway_ids(n):
    return [("site%03d" % (i // 2), "gw-%d" % (i % 2)) for i in range(n)]


def publisher(port, gws, devices, stop_at, counter):
    """Plays its share of the gateways until stop_at (wall clock); adds what it sent to counter."""
    import paho.mqtt.client as mqtt
    c = mqtt.Client(protocol=mqtt.MQTTv311)
    c.max_queued_messages_set(0)
    c.connect("127.0.0.1", port, keepalive=60)
    c.loop_start()
    tick, seq, sent = 0.1, 1, 0
    sched = []  # (next due, period, topic, template)
    for k, (site, gw) in enumerate(gws):
        prefix = "caretaker/%s/%s" % (site, gw)
        for d in range(devices):
            elevator = d < ELEVATORS
            dev = ("lift-%02d" if elevator else "meter-%02d") % d
            if elevator:
                body = ('"values":{"floor":%d,"speed":%%.2f,"load":12.5,"runs":%%d,"door_cycles":4000,'
                        '"running_hours":830,"fault_code":0,"mode":0,"moving":1,"door_closed":1}' % (d % 7 + 1))
            elif d % 2:
                body = '"values":{"level":%.3f,"decimals":3,"distance":1.2,"status":0}'
            else:
                body = '"values":{"flow":%.2f,"velocity":0.65,"forward_total":52310.2}'
            period = ELEVATOR_S if elevator else SEWAGE_S
            tmpl = '{"v":1,"gateway":"%s","seq":%%d,"ts":%%d,"device":"%s",%s}' % (gw, dev, body)
            sched.append([time.time() + (k * devices + d) % 50 * period / 50, period,
                          prefix + "/devices/%s/readings" % dev, tmpl, elevator])
    while time.time() < stop_at:
        now = time.time()
        for s in sched:
            if s[0] > now:
                continue
            s[0] += s[1]
            seq += 1
            ts = int(now * 1000)
            if s[4]:
                payload = s[3] % (seq, ts, 1.0 + (seq % 10) / 10, 4000 + seq // 100)
            else:
                payload = s[3] % (seq, ts, 0.3 + (seq % 50) / 100)
            c.publish(s[2], payload, qos=0)
            sent += 1
        time.sleep(max(0.0, tick - (time.time() - now)))
    c.loop_stop()
    c.disconnect()
    with counter.get_lock():
        counter.value += sent


def retained_present(port, gws, devices):
    """Status, device states, active alert lists (one critical and two major alerts on every
    tenth gateway) and yesterday's daily reports, all retained, as a page opened late finds them."""
    import paho.mqtt.client as mqtt
    c = mqtt.Client(protocol=mqtt.MQTTv311)
    c.connect("127.0.0.1", port)
    c.loop_start()
    now = int(time.time() * 1000)
    infos = []
    for k, (site, gw) in enumerate(gws):
        prefix = "caretaker/%s/%s" % (site, gw)
        pub = lambda t, p: infos.append(c.publish(prefix + t, json.dumps(p, ensure_ascii=False), qos=1, retain=True))
        pub("/status", {"v": 1, "gateway": gw, "seq": 0, "ts": now, "state": "online", "version": "0.1.0"})
        alerts = []
        for d in range(devices):
            dev = ("lift-%02d" if d < ELEVATORS else "meter-%02d") % d
            pub("/devices/%s/state" % dev, {"v": 1, "gateway": gw, "seq": d + 1, "ts": now, "device": dev,
                                             "state": "online", "last_ok_ts": now, "errors": 0})
            pub("/reports/daily/" + dev, {"v": 1, "gateway": gw, "seq": 100 + d, "ts": now, "device": dev,
                                          "report": "daily", "day": "2026-12-04", "location": "%d号楼" % d,
                                          "readings": 17280, "minutes_in_alarm": 0, "faults": {}, "units": {}})
            if k % 10 == 0 and d < 3:
                sev = "critical" if d == 0 else "major"
                alerts.append({"device": dev, "id": "%s:rule%d:%d" % (dev, d, now), "location": "%d号楼" % d,
                               "rule": "rule%d" % d, "severity": sev,
                               "message": {"zh": "合成告警 %d" % d, "en": "synthetic alert %d" % d},
                               "point": "level", "value": 1.9, "raised_ts": now, "contract": "om",
                               "contractor": "某运维公司", "respond_by_ts": now + 1800000, "escalation": 0,
                               "next_escalation_ts": now + 1800000, "acked": False, "acked_by": "",
                               "acked_ts": None, "flapping": False, "cleared_ts": None})
        pub("/alerts/active", {"v": 1, "gateway": gw, "seq": 0, "ts": now, "last_alert_seq": 0,
                               "count": len(alerts), "alerts": alerts})
    for i in infos:
        i.wait_for_publish()
    c.loop_stop()
    c.disconnect()
    return len(infos)


def top_functions(profile, n=12):
    """Self time by function (and script) from a CDP CPU profile: where the page spends it."""
    nodes = {nd["id"]: nd for nd in profile["nodes"]}
    self_us = {}
    for sample, dt in zip(profile["samples"], profile["timeDeltas"]):
        cf = nodes[sample]["callFrame"]
        key = "%s (%s:%d)" % (cf["functionName"] or "(anonymous)", os.path.basename(cf["url"]) or "-", cf["lineNumber"] + 1)
        self_us[key] = self_us.get(key, 0) + dt
    total = sum(self_us.values()) or 1
    return [(k, round(v / 1000), round(100.0 * v / total, 1))
            for k, v in sorted(self_us.items(), key=lambda kv: -kv[1])[:n]]


def pct(xs, p):
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(len(xs) * p))], 1) if xs else None


def summary(r):
    return {"messages_per_s": round(r["messages_per_s"]), "lag_ms_p50": pct(r["lags"], 0.5),
            "lag_ms_p99": pct(r["lags"], 0.99), "lag_ms_max": round(max(r["lags"] or [0]), 1),
            "frame_ms_p50": pct(r["frames"], 0.5), "frame_ms_p99": pct(r["frames"], 0.99),
            "frame_ms_max": round(max(r["frames"] or [0]), 1), "longtasks": len(r["longtasks"]),
            "longtask_ms_total": round(sum(r["longtasks"])), "heap_mb": r["heap_mb"] and round(r["heap_mb"], 1),
            "dom_nodes": r["dom_nodes"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gateways", type=int, default=200)
    ap.add_argument("--devices", type=int, default=50)
    ap.add_argument("--window", type=float, default=20.0, help="seconds measured in each view")
    ap.add_argument("--out")
    ap.add_argument("--profile", action="store_true", help="print where the page spends its time in each view")
    args = ap.parse_args()
    work = h.Workdir("bench-dashboard")
    broker = browser.dashboard_broker(work, {USER: PASSWORD})
    chrome = None
    procs = []
    try:
        gws = gateway_ids(args.gateways)
        retained = retained_present(broker.port, gws, args.devices)
        chrome = browser.Chromium(work)
        chrome.driver.set_script_timeout(120)  # a page buried in work still answers, late
        t_open = time.monotonic()
        chrome.open(broker.url, USER, PASSWORD)
        n_alerts = args.gateways // 10 * 3 if args.gateways >= 10 else 3
        h.wait_until("the retained present in the page", lambda: chrome.js(
            "return document.querySelectorAll('tr.alert').length") >= n_alerts, 60, 0.2)
        present_s = time.monotonic() - t_open
        # sites: one community opened, as a supervisor would; sites-all: every card open, so the
        # page takes every reading of the city (the worst case).
        views = ["dispatch", "sites", "sites-all", "supervision"]
        stop_at = time.time() + 5 + args.window * len(views) + 10
        counter = multiprocessing.Value("l", 0)
        half = len(gws) // 2
        for share in (gws[:half], gws[half:]):
            p = multiprocessing.Process(target=publisher, args=(broker.port, share, args.devices, stop_at, counter))
            p.start()
            procs.append(p)
        time.sleep(5)  # the publishers reach their rate before the first window
        results = {}
        for v in views:
            t_view = time.monotonic()
            chrome.view(v.split("-")[0])
            if v == "sites":
                chrome.js("document.querySelector('section.card h3').click()")
            elif v == "sites-all":
                chrome.js("document.querySelectorAll('section.card.collapsed h3').forEach(function (e) { e.click(); })")
            print("%s: shown %.1f s after its click" % (v, time.monotonic() - t_view), flush=True)
            chrome.js(MEASURE)
            if args.profile:
                chrome.driver.execute_cdp_cmd("Profiler.enable", {})
                chrome.driver.execute_cdp_cmd("Profiler.start", {})
            time.sleep(args.window)
            results[v] = summary(chrome.js(COLLECT))
            if args.profile:
                prof = chrome.driver.execute_cdp_cmd("Profiler.stop", {})["profile"]
                print("%s: self time, ms and %%" % v)
                for name, ms, share in top_functions(prof):
                    print("  %6d %5.1f%%  %s" % (ms, share, name))
        for p in procs:
            p.join(60)
        expected = args.gateways * (ELEVATORS / ELEVATOR_S + (args.devices - ELEVATORS) / SEWAGE_S)
        out = {"gateways": args.gateways, "devices_per_gateway": args.devices, "retained_messages": retained,
               "present_shown_s": round(present_s, 1), "target_readings_per_s": round(expected),
               "published": counter.value, "loadavg_1m_end": round(os.getloadavg()[0], 1), "views": results}
        js = [os.path.join(browser.DASHBOARD, f) for f in os.listdir(browser.DASHBOARD) if f.endswith((".js", ".css"))]
        out["js_css_bytes"] = sum(os.path.getsize(f) for f in js) + os.path.getsize(
            os.path.join(browser.DASHBOARD, "vendor", "paho-mqtt", "paho-mqtt.js"))
        print(json.dumps(out))
        print("%-12s %8s %8s %8s %8s %8s %8s %8s %9s %7s %6s" % ("view", "msg/s", "lag p50", "lag p99", "lag max",
              "frm p50", "frm p99", "frm max", "longtasks", "heapMB", "nodes"))
        for v, r in results.items():
            print("%-12s %8d %8s %8s %8s %8s %8s %8s %9s %7s %6s" % (
                v, r["messages_per_s"], r["lag_ms_p50"], r["lag_ms_p99"], r["lag_ms_max"], r["frame_ms_p50"],
                r["frame_ms_p99"], r["frame_ms_max"], "%d/%dms" % (r["longtasks"], r["longtask_ms_total"]),
                r["heap_mb"], r["dom_nodes"]))
        if args.out:
            with open(args.out, "w") as f:
                json.dump(out, f, indent=1)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
                p.join()
        if chrome:
            chrome.stop()
        broker.stop()


if __name__ == "__main__":
    main()
