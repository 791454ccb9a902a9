#!/usr/bin/python3
# bench_wire: bytes per reading on the link between the daemon and the broker, contract v1 against
# v2 at several batch windows and in a backlog drain. The reference community (bench/field/site.py:
# 8 elevators at 500 ms, 2 pumps at 5 s, 10 meters at 60 s on RS-485) runs live; a relay
# (bench/field/relay.py) between the daemon and mosquitto counts every byte each way, so topics,
# MQTT framing, PUBACKs and TCP payload are all in (IP and TCP headers are not). A reading is one
# poll of one device: one outbox row. Prints one JSON object per run and a table; asserts nothing.
#
# usage: bench/bench_wire.py [--build DIR] [--readings N] [--backlog N] [--only v1,v2-0,...] [--out FILE]
import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "compare"))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

RUNS = [("v1", {"payload": "v1"}), ("v2-0", {"payload": "v2", "batch_ms": 0}),
        ("v2-250", {"payload": "v2", "batch_ms": 250}), ("v2-1000", {"payload": "v2", "batch_ms": 1000}),
        ("v2-5000", {"payload": "v2", "batch_ms": 5000}), ("v2-backlog", {"payload": "v2", "batch_ms": 1000}),
        ("v1-backlog", {"payload": "v1"})]


def sent_readings(h, db):
    return h.scalar(db, "SELECT count(*) FROM outbox WHERE kind = 1 AND sent = 1") or 0


def messages(sub):
    return len([t for t, _, _ in sub.received() if t.endswith("/readings")])


def seqs_received(sub):
    out = set()
    for t, m, _ in sub.received():
        if t.endswith("/v2/readings"):
            out.update(r["seq"] for g in m["devices"] for r in g["readings"])
        elif t.endswith("/readings"):
            out.add(m["seq"])
    return out


def snapshot(relay, sub):
    """Bytes at the relay and readings (distinct seqs) and messages at the subscriber, at one
    instant: on loopback a message is at the subscriber within a millisecond of its bytes."""
    c = relay.counts()
    return {"readings": len(seqs_received(sub)), "up": c["up"], "down": c["down"], "messages": messages(sub)}


def figures(name, a, b):
    n = b["readings"] - a["readings"]
    m = b["messages"] - a["messages"]
    up, down = b["up"] - a["up"], b["down"] - a["down"]
    return {"run": name, "readings": n, "messages": m, "readings_per_message": round(n / m, 1) if m else None,
            "up_bytes": up, "down_bytes": down, "up_per_reading": round(up / n, 1) if n else None,
            "both_per_reading": round((up + down) / n, 1) if n else None}


def run(args, h, relay_mod, site_mod, name, mqtt):
    work = h.Workdir("bench-wire-" + name)
    site = site_mod.Site(args.build, work.path)
    broker = relay = d = sub = None
    try:
        site.start_driver()
        broker = h.Broker(work, persistence=True)
        relay = relay_mod.Relay("127.0.0.1", "127.0.0.1", broker.port)
        cfg = site.config(work.file("caretaker.db"), "127.0.0.1", relay.port)
        cfg["mqtt"].update(mqtt, qos=1, metrics_s=3600)  # metrics would count as reading bytes
        db = cfg["store"]["path"]
        sub = h.Subscriber(broker.port, "caretaker/+/+/#", client_id="bench-wire", clean=False)
        d = h.Daemon(work, cfg)
        # Past the start (device states, status): readings flowing.
        h.wait_until("readings flowing", lambda: sent_readings(h, db) >= 40, 60)
        if name.endswith("backlog"):
            broker.stop()
            h.wait_until("the daemon sees the broker gone", lambda: "connection to 127.0.0.1" in d.output(), 30)
            unsent = lambda: h.scalar(db, "SELECT count(*) FROM outbox WHERE kind = 1 AND sent = 0") or 0
            h.wait_until("a backlog", lambda: unsent() >= args.backlog, 600)
            a = snapshot(relay, sub)
            top = h.scalar(db, "SELECT max(seq) FROM outbox")
            broker.start()
            h.wait_until("the backlog drained", lambda: h.scalar(
                db, "SELECT count(*) FROM outbox WHERE sent = 0 AND seq <= ?", (top,)) == 0, 300)
            backlog = h.scalar(db, "SELECT count(*) FROM outbox WHERE kind = 1 AND seq <= ?", (top,))
            h.wait_until("the backlog at the subscriber", lambda: len(seqs_received(sub)) >= backlog, 60)
        else:
            a = snapshot(relay, sub)
            h.wait_until("%d readings" % args.readings,
                         lambda: len(seqs_received(sub)) - a["readings"] >= args.readings, 600)
        b = snapshot(relay, sub)
        r = figures(name, a, b)
        r.update(mqtt)
        return r
    finally:
        for p in (d, sub, relay, broker):
            if p:
                p.stop()
        site.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--readings", type=int, default=400, help="readings measured per live run")
    ap.add_argument("--backlog", type=int, default=1000, help="readings stored while the broker is away")
    ap.add_argument("--only", default="", help="runs by name, comma separated: " + ",".join(n for n, _ in RUNS))
    ap.add_argument("--out")
    args = ap.parse_args()
    args.build = os.path.abspath(args.build)
    os.environ["CARETAKER_BIN"] = os.path.join(args.build, "gateway", "caretaker")
    os.environ["CARETAKER_SIM"] = os.path.join(args.build, "tests", "sim", "caretaker-sim")
    import harness as h
    from field import relay as relay_mod
    from field import site as site_mod
    only = set(filter(None, args.only.split(",")))
    results = []
    for name, mqtt in RUNS:
        if only and name not in only:
            continue
        r = run(args, h, relay_mod, site_mod, name, mqtt)
        print(json.dumps(r), flush=True)
        results.append(r)
    print("\n| run | readings | messages | readings/message | bytes up/reading | bytes both ways/reading |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in results:
        print("| %s | %d | %d | %s | %s | %s |" % (r["run"], r["readings"], r["messages"], r["readings_per_message"],
                                                  r["up_per_reading"], r["both_per_reading"]))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
