"""Retention with a 1 MB store and a backlog bigger than that: sent readings are evicted
first, then the oldest unsent ones, never an event; the unsent readings lost are counted in
the store, raised as one buffer_overflow event, reported in metrics, and the rest is delivered,
events before readings."""

import json
import sqlite3
import sys

import harness as h

PREFIX = "caretaker/hongmei/gw-test"
SENT, UNSENT = 300, 12000


def scenario(work):
    path = work.file("scenario.json")
    with open(path, "w") as f:
        json.dump({"devices": [{"unit": 1, "driver": "level/ultrasonic-generic",
                                "values": {"decimals": 3, "level": 1.5}}]}, f)
    return path


def fill(db):
    """A day of backlog as the daemon would have stored it: SENT readings already sent, one
    event not yet sent, then UNSENT readings never sent (a broker away for a long time)."""
    con = sqlite3.connect(db)
    dev = con.execute("SELECT id FROM devices WHERE name = 'manhole-3'").fetchone()[0]
    points = [p for (p,) in con.execute("SELECT id FROM points WHERE device_id = ? ORDER BY id", (dev,))]
    seq = con.execute("SELECT max(seq) FROM outbox").fetchone()[0] or 0
    ts = 1700000000000
    outbox, values = [], []
    for i in range(SENT + 1 + UNSENT):
        seq += 1
        if i == SENT:
            outbox.append((seq, 3, dev, ts + i, 0, '{"event":"point_missing","point":"status"}'))
            event = seq
            continue
        outbox.append((seq, 1, dev, ts + i, 1 if i < SENT else 0, None))
        values += [(seq, p, float(i % 97), 0) for p in points]
    con.executemany("INSERT INTO outbox(seq, kind, device_id, ts, sent, body) VALUES(?,?,?,?,?,?)", outbox)
    con.executemany("INSERT INTO readings(seq, point_id, value, quality) VALUES(?,?,?,?)", values)
    con.execute("INSERT OR REPLACE INTO meta(key, value) VALUES('last_seq', ?)", (seq,))
    con.commit()
    size = con.execute("PRAGMA page_count").fetchone()[0] * con.execute("PRAGMA page_size").fetchone()[0]
    con.close()
    if size <= 1 << 20:
        raise h.TestFailure("the filled store is only %d bytes, not over 1 MB" % size)
    return event, seq


def test(started):
    work = h.Workdir("mqtt-retention")
    sim, broker, sub = h.stack(started, work, scenario(work), PREFIX + "/#")
    bus = {"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": sim.tcp_port, "timeout_ms": 500,
           "devices": [{"id": "manhole-3", "unit": 1, "driver": "level/ultrasonic-generic", "poll_ms": 200}]}
    cfg = h.base_config(work, [bus])
    db = cfg["store"]["path"]
    first = h.Daemon(work, cfg, name="first")  # creates the schema and registers the device
    started.append(first)
    h.wait_until("a first reading", lambda: h.latest(db, "manhole-3", "level"))
    first.stop()
    event, filled_to = fill(db)
    # The unsent readings oldest first (the first run's own come first: no broker in its config)
    unsent = [s for (s,) in h.query(db, "SELECT seq FROM outbox WHERE kind = 1 AND sent = 0 ORDER BY seq")]

    cfg["store"]["max_mb"] = 1
    cfg["mqtt"] = broker.mqtt(inflight=200)
    d = h.Daemon(work, cfg)
    started.append(d)

    # The store is brought under 1 MB at start, before anything is published
    overflow = h.wait_until("the buffer_overflow event", lambda: [m for t, m, _ in sub.received("/events")
                                                                  if m.get("event") == "buffer_overflow"])[0]
    evicted = h.scalar(db, "SELECT value FROM meta WHERE key = 'evicted_unsent'")
    if not evicted or overflow["evicted"] != evicted or overflow["evicted_total"] != evicted:
        raise h.TestFailure("overflow event %r, store count %r" % (overflow, evicted))
    if overflow.get("device") is not None or overflow["v"] != 1 or overflow["gateway"] != "gw-test":
        raise h.TestFailure("overflow event %r" % overflow)
    # Sent readings went first, every one of them; the event stayed; the unsent readings lost
    # are the oldest: what is left of the backlog starts right after them, without a gap
    if h.scalar(db, "SELECT count(*) FROM outbox WHERE seq <= ? AND kind = 1 AND seq < ?", (filled_to, event)):
        raise h.TestFailure("sent readings were kept while unsent ones were evicted")
    if h.scalar(db, "SELECT count(*) FROM outbox WHERE seq = ? AND kind = 3", (event,)) != 1:
        raise h.TestFailure("the event was evicted")
    kept = {s for (s,) in h.query(db, "SELECT seq FROM outbox WHERE kind = 1 AND seq <= ?", (filled_to,))}
    if not 0 < evicted < len(unsent) or kept != set(unsent[evicted:]):
        raise h.TestFailure("evicted %d of %d unsent readings, but kept %d, oldest %r (expected from seq %r)" %
                            (evicted, len(unsent), len(kept), min(kept or [None]), unsent[evicted:evicted + 1]))
    # The file was filled past max_mb before the limit was set: it keeps its size (SQLite does
    # not shrink a file), but the pages in use are brought under 80 % of the limit
    used = (h.scalar(db, "PRAGMA page_count") - h.scalar(db, "PRAGMA freelist_count")) * \
        h.scalar(db, "PRAGMA page_size")
    if used > (1 << 20) * 80 // 100:
        raise h.TestFailure("%d bytes in use, over 80 %% of max_mb 1" % used)

    # Metrics at connect report the count; the event went out before any reading of the backlog
    metrics = h.wait_until("metrics", lambda: [m for t, m, _ in sub.received("/metrics")])[0]
    if metrics["store"]["evicted_unsent"] != evicted or metrics["store"]["max_bytes"] != 1 << 20:
        raise h.TestFailure("metrics store %r" % metrics["store"])
    order = [m for t, m, _ in sub.received() if t.endswith("/events") or t.endswith("/readings")]
    first_reading = next(i for i, m in enumerate(order) if "values" in m)
    events_at = [i for i, m in enumerate(order) if m.get("event") in ("buffer_overflow", "point_missing")]
    if len(events_at) != 2 or max(events_at) > first_reading:
        raise h.TestFailure("events at %r, first reading at %d" % (events_at, first_reading))

    # Everything left is delivered; nothing evicted is
    h.wait_until("the backlog delivered", lambda: h.scalar(db, "SELECT count(*) FROM outbox WHERE sent = 0 "
                                                               "AND seq <= ?", (filled_to,)) == 0, 120)
    h.wait_until("every reading left at the subscriber",
                 lambda: kept <= {m["seq"] for _, m, _ in sub.received("/readings")}, 60)
    got = {m["seq"] for _, m, _ in sub.received("/readings")}
    if got & set(unsent[:evicted]):
        raise h.TestFailure("an evicted reading was published")
    print("evicted %d unsent readings of %d, delivered %d" % (evicted, len(unsent), len(kept)))
    if d.stop() != 0:
        raise h.TestFailure("daemon exited %s" % d.proc.returncode)


sys.exit(h.run(test))
