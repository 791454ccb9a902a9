"""The store on a nearly full disk.

1. The file's own ceiling (max_mb, SQLite's max_page_count): a 1 MB store nearly full of
   unsent readings (the broker away for days), then polled hard. Eviction makes room: unsent
   readings evicted are counted in the store (meta evicted_unsent) and raised as a
   buffer_overflow event, the file stays under its ceiling, and polling goes on — new
   readings keep being stored after the eviction.
2. A real full filesystem (a small tmpfs, when the test runs as root and may mount): with
   max_mb far above the free space, the disk fills first. The store takes the free space as
   its ceiling: the oldest unsent readings give way, counted, with a buffer_overflow event; no
   commit fails and no new reading is lost; every device keeps being polled and stored; once
   space is freed the store grows again."""

import os
import re
import sqlite3
import subprocess
import sys

import harness as h

DEVICES = 6


def bus_for(sim, poll_ms=50):
    return {"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": sim.tcp_port, "timeout_ms": 500,
            # Readings count polls here: every poll stored and published in full (report_max_s 0).
            "devices": [{"id": "manhole-%d" % u, "unit": u, "driver": "level/ultrasonic-generic", "poll_ms": poll_ms,
                         "report_max_s": 0}
                        for u in range(1, DEVICES + 1)]}


def fill(db, target_bytes):
    """Unsent readings of manhole-1 as the daemon stores them, until the file reaches target."""
    con = sqlite3.connect(db)
    dev = con.execute("SELECT id FROM devices WHERE name = 'manhole-1'").fetchone()[0]
    points = [p for (p,) in con.execute("SELECT id FROM points WHERE device_id = ? ORDER BY id", (dev,))]
    seq = con.execute("SELECT max(seq) FROM outbox").fetchone()[0] or 0
    page = con.execute("PRAGMA page_size").fetchone()[0]
    ts = 1700000000000
    while con.execute("PRAGMA page_count").fetchone()[0] * page < target_bytes:
        outbox, values = [], []
        for _ in range(200):
            seq += 1
            outbox.append((seq, 1, dev, ts + seq, 0, None))
            values += [(seq, p, float(seq % 97), 0) for p in points]
        con.executemany("INSERT INTO outbox(seq, kind, device_id, ts, sent, body) VALUES(?,?,?,?,?,?)", outbox)
        con.executemany("INSERT INTO readings(seq, point_id, value, quality) VALUES(?,?,?,?)", values)
        con.execute("INSERT OR REPLACE INTO meta(key, value) VALUES('last_seq', ?)", (seq,))
        con.commit()
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return seq


def page_ceiling(started, sim, work):
    cfg = h.base_config(work, [bus_for(sim)])
    cfg["store"]["max_mb"] = 1
    db = cfg["store"]["path"]
    first = h.Daemon(work, cfg, name="register")
    started.append(first)
    h.wait_until("the schema and devices", lambda: h.scalar(db, "SELECT count(*) FROM devices") == DEVICES)
    if first.stop() != 0:
        raise h.TestFailure("first daemon exited %s" % first.proc.returncode)
    started.remove(first)
    filled_to = fill(db, 900 * 1024)  # 88 %: the next few hundred readings cross 90 %

    d = h.Daemon(work, cfg, name="ceiling")
    started.append(d)
    evicted = lambda: h.scalar(db, "SELECT value FROM meta WHERE key = 'evicted_unsent'") or 0
    h.wait_until("unsent readings evicted", lambda: evicted() > 0, 60)
    after = h.scalar(db, "SELECT max(seq) FROM outbox")
    h.wait_until("polling to go on after the eviction: 200 more readings",
                 lambda: (h.scalar(db, "SELECT count(*) FROM outbox WHERE kind = 1 AND seq > ?", (after,)) or 0)
                 >= 200, 60)
    events = h.query(db, "SELECT body FROM outbox WHERE kind = 3 AND body LIKE '%buffer_overflow%'")
    if not events:
        raise h.TestFailure("no buffer_overflow event after %d readings were evicted" % evicted())
    for u in range(2, DEVICES + 1):
        if h.latest(db, "manhole-%d" % u, "level") != (0.25 * u, 0):
            raise h.TestFailure("manhole-%d: latest level %r" % (u, h.latest(db, "manhole-%d" % u, "level")))
    if d.stop() != 0:
        raise h.TestFailure("daemon exited %s on SIGTERM" % d.proc.returncode)
    started.remove(d)
    size = os.path.getsize(db)
    if size > 1 << 20:
        raise h.TestFailure("the store is %d bytes, over its 1 MB ceiling" % size)
    print("page ceiling: filled to seq %d, %d unsent readings evicted, %d buffer_overflow events, file %d bytes" %
          (filled_to, evicted(), len(events), size))


def can_mount():
    return os.geteuid() == 0 and subprocess.call(["mount", "--version"], stdout=subprocess.DEVNULL,
                                                 stderr=subprocess.DEVNULL) == 0


class Tmpfs:
    def __init__(self, path, size):
        os.makedirs(path)
        self.path = path
        subprocess.check_call(["mount", "-t", "tmpfs", "-o", "size=%s" % size, "tmpfs", path])

    def free(self):
        st = os.statvfs(self.path)
        return st.f_bavail * st.f_frsize

    def stop(self):
        subprocess.call(["umount", "-l", self.path])


def real_disk_full(started, sim, work):
    try:
        fs = Tmpfs(work.file("disk"), "3m")
    except (subprocess.CalledProcessError, OSError) as e:
        print("real disk full: skipped, cannot mount a tmpfs here (%s)" % e)
        return
    started.append(fs)
    ballast = os.path.join(fs.path, "ballast")
    with open(ballast, "wb") as f:  # leaves about 400 kB for the store, its WAL and journal
        f.write(b"\0" * (fs.free() - 400 * 1024))
    cfg = h.base_config(work, [bus_for(sim)])
    cfg["store"]["path"] = os.path.join(fs.path, "caretaker.db")
    db = cfg["store"]["path"]
    d = h.Daemon(work, cfg, name="diskfull")
    started.append(d)
    evicted = lambda: h.scalar(db, "SELECT value FROM meta WHERE key = 'evicted_unsent'") or 0
    h.wait_until("unsent readings evicted as the disk fills", lambda: evicted() > 0, 120)
    if not d.running():
        raise h.TestFailure("daemon died on a full disk:\n" + d.output()[-3000:])
    # The disk stays full: readings keep being stored (the oldest give way), none is lost.
    before, stored_before = sim.stats(), h.scalar(db, "SELECT max(seq) FROM outbox") or 0
    h.wait_until("every device polled 20 more times, its readings stored, on the full disk",
                 lambda: all(sim.stats().get(u, 0) >= before.get(u, 0) + 20 for u in range(1, DEVICES + 1))
                 and (h.scalar(db, "SELECT max(seq) FROM outbox") or 0) >= stored_before + 20 * DEVICES, 60)
    for u in range(1, DEVICES + 1):
        if h.latest(db, "manhole-%d" % u, "level") != (0.25 * u, 0):
            raise h.TestFailure("manhole-%d: latest level %r" % (u, h.latest(db, "manhole-%d" % u, "level")))
    events = h.query(db, "SELECT body FROM outbox WHERE kind = 3 AND body LIKE '%buffer_overflow%'")
    if not events:
        raise h.TestFailure("no buffer_overflow event after %d readings were evicted" % evicted())
    free_full = fs.free()
    full_log = d.output()
    lost = sum(int(n) for n in re.findall(r"store: (\d+) messages lost", full_log))
    failed = full_log.count("commit failed")
    if lost or failed:
        raise h.TestFailure("%d commits failed, %d messages lost on the full disk:\n%s" % (failed, lost, full_log[-3000:]))
    stored_full = h.scalar(db, "SELECT max(seq) FROM outbox") or 0
    os.unlink(ballast)
    h.wait_until("readings stored once space is freed",
                 lambda: (h.scalar(db, "SELECT max(seq) FROM outbox") or 0) > stored_full + 100, 60)
    code = d.stop()
    if code != 0:
        raise h.TestFailure("daemon exited %s on SIGTERM:\n%s" % (code, open(d.log_path).read()[-3000:]))
    print("real disk full: %d unsent readings evicted to keep %d kB free, %d buffer_overflow events, "
          "%d log lines, no commit failed, no message lost" %
          (evicted(), free_full // 1024, len(events), len([l for l in full_log.splitlines() if "store:" in l])))


def test(started):
    work = h.Workdir("fault-disk")
    scen = h.scenario(work, [{"unit": u, "driver": "level/ultrasonic-generic",
                              "values": {"decimals": 2, "level": 0.25 * u}} for u in range(1, DEVICES + 1)])
    sim = h.Sim(work, scen, tcp=True)
    started.append(sim)
    page_ceiling(started, sim, work)
    if can_mount():
        real_disk_full(started, sim, work)
    else:
        print("real disk full: skipped (needs root to mount a tmpfs)")


sys.exit(h.run(test))
