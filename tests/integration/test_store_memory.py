"""Readings held in memory until the broker acknowledges them (docs/store.md, Durability).

With the broker up and acknowledging, readings flow and none is written: the outbox holds no
reading row, and the daemon's writes to disk (/proc/PID/io write_bytes) stay far under what one
group commit per store.commit_ms cost for the same polls (at least three 4 KiB pages a commit:
the outbox's last leaf, the readings' last leaf, the meta row). With the broker away, every
reading is written, one outbox row per poll with its values in the body and no `readings` row;
when it is back, each of them is delivered once and marked sent. A SIGTERM during a second outage
keeps everything: every seq handed out to a reading was delivered or written, and every poll
the simulator answered is one of them."""

import signal
import sys

import harness as h

PREFIX = "caretaker/hongmei/gw-test"
DEVICES = 2
POLL_MS = 50
COMMIT_MS = 250
POLLS = 400
OLD_PAGES_PER_COMMIT = 3
PAGE = 4096


def write_bytes(pid):
    with open("/proc/%d/io" % pid) as f:
        for line in f:
            if line.startswith("write_bytes:"):
                return int(line.split()[1])
    raise h.TestFailure("no write_bytes in /proc/%d/io" % pid)


def served(sim):
    return sum(sim.stats().values())


def test(started):
    work = h.Workdir("store-memory")
    # The level profile's registers are one read: one request served per poll
    scen = h.scenario(work, [{"unit": u, "driver": "level/ultrasonic-generic",
                              "values": {"decimals": 2, "level": 0.25 * u},
                              "waves": {"level": {"base": 0.25 * u, "amplitude": 0.1, "period_s": 3}}}
                             for u in range(1, DEVICES + 1)])
    sim, broker, sub = h.stack(started, work, scen, PREFIX + "/#")
    bus = {"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": sim.tcp_port, "timeout_ms": 500,
           "devices": [{"id": "manhole-%d" % u, "unit": u, "driver": "level/ultrasonic-generic", "poll_ms": POLL_MS,
                        "report_max_s": 0} for u in range(1, DEVICES + 1)]}  # every poll a reading
    cfg = h.base_config(work, [bus], mqtt=broker.mqtt(qos=1, keepalive_s=5))
    cfg["store"]["commit_ms"] = COMMIT_MS
    db = cfg["store"]["path"]
    s_start = served(sim)
    d = h.Daemon(work, cfg)
    started.append(d)
    readings = lambda: [m for _, m, _ in sub.received("/readings")]
    stored = lambda: h.scalar(db, "SELECT count(*) FROM outbox WHERE kind = 1") or 0

    # (a) The broker acknowledges: nothing of the readings reaches the file
    h.wait_until("20 readings delivered", lambda: len(readings()) >= 20)
    w0, n0 = write_bytes(d.proc.pid), len(readings())
    h.wait_until("%d more readings delivered" % POLLS, lambda: len(readings()) >= n0 + POLLS, 60)
    w1, n1 = write_bytes(d.proc.pid), len(readings())
    if stored():
        raise h.TestFailure("%d readings written while the broker acknowledged them" % stored())
    polls = n1 - n0
    old = polls * POLL_MS // (DEVICES * COMMIT_MS) * OLD_PAGES_PER_COMMIT * PAGE
    if w1 - w0 >= old // 5:
        raise h.TestFailure("%d bytes written for %d polls delivered; one commit per %d ms wrote at least %d"
                            % (w1 - w0, polls, COMMIT_MS, old))
    print("broker up: %d polls delivered, %d bytes written (one commit per %d ms: at least %d), no reading row"
          % (polls, w1 - w0, COMMIT_MS, old))

    # (b) The broker goes away: every poll is written, one row each
    broker.stop()
    h.wait_until("the daemon to see the broker gone", lambda: "connection to 127.0.0.1" in d.output())
    h.wait_until("100 readings written", lambda: stored() >= 100, 30)
    rows = h.scalar(db, "SELECT count(*) FROM outbox WHERE kind = 1")
    polled = h.scalar(db, "SELECT count(DISTINCT seq) FROM reading_values")
    bodies = h.scalar(db, "SELECT count(*) FROM outbox WHERE kind = 1 AND body LIKE '[[%'")
    old_rows = h.scalar(db, "SELECT count(*) FROM readings")
    if not rows == polled == bodies or old_rows:
        raise h.TestFailure("%d reading rows for %d polls, %d with their values in the body, %d readings rows"
                            % (rows, polled, bodies, old_rows))
    values = h.scalar(db, "SELECT count(*) FROM reading_values WHERE point = 'level' AND quality = 0")
    if values < rows:
        raise h.TestFailure("%d rows, %d level values readable in reading_values" % (rows, values))
    broker.start()
    h.wait_until("the written readings delivered and marked sent",
                 lambda: h.scalar(db, "SELECT count(*) FROM outbox WHERE sent = 0") == 0, 60)
    written = {s for (s,) in h.query(db, "SELECT seq FROM outbox WHERE kind = 1")}
    h.wait_until("every written reading at the subscriber", lambda: written <= {m["seq"] for m in readings()}, 30)
    times = {}
    for m in readings():
        if m["seq"] in written:
            times[m["seq"]] = times.get(m["seq"], 0) + 1
    twice = sorted(s for s, n in times.items() if n > 1)
    if twice:
        raise h.TestFailure("%d written readings delivered more than once, first %r" % (len(twice), twice[:10]))
    print("broker away: %d polls written as %d rows, each delivered once after it came back" % (polled, rows))

    # (d) A SIGTERM while the broker is away again: the readings held in memory are written
    told = d.output().count("connection to 127.0.0.1")
    broker.stop()
    h.wait_until("the daemon to see the broker gone again", lambda: d.output().count("connection to 127.0.0.1") > told)
    # Right after a write, the readings of the next second are in memory alone
    spilled = stored()
    h.wait_until("a first write of the outage", lambda: stored() > spilled, 30)
    before = stored()
    if d.stop(sig=signal.SIGTERM) != 0:
        raise h.TestFailure("daemon exited %s on SIGTERM" % d.proc.returncode)
    started.remove(d)
    others = {s for (s,) in h.query(db, "SELECT seq FROM outbox WHERE kind <> 1")}
    top = h.scalar(db, "SELECT value FROM meta WHERE key = 'last_seq'")
    handed = set(range(1, top + 1)) - others
    written = {s for (s,) in h.query(db, "SELECT seq FROM outbox WHERE kind = 1")}
    delivered = {m["seq"] for m in readings()}
    lost = sorted(handed - written - delivered)
    if lost:
        raise h.TestFailure("%d readings neither delivered nor written after SIGTERM, first %r" % (len(lost), lost[:10]))
    polls_served = served(sim) - s_start
    if polls_served - len(handed) > DEVICES:
        raise h.TestFailure("%d polls served, %d readings handed out" % (polls_served, len(handed)))
    print("SIGTERM in an outage: %d readings written at the stop, all %d handed out delivered or written, "
          "%d polls served" % (stored() - before, len(handed), polls_served))


sys.exit(h.run(test))
