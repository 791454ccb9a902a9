"""A corrupt database file at start — an SD card that lost power mid-write, a file overwritten
by something else. The daemon does not refuse to run; it moves the corrupt
file aside (kept next to the configured path, name starting with "<path>.", bytes unchanged, for
a later look), creates a fresh store at the path whose seqs continue above the old ones,
raises an alert that says so, and polls as usual. Two kinds of damage: a file that is not a database at all, and Caretaker's own
database with pages overwritten in the middle (only found when its tables are read)."""

import glob
import os
import sqlite3
import sys

import harness as h


def readings(db):
    """Readings in the store; None while the file at the path is not a database."""
    try:
        return h.scalar(db, "SELECT count(*) FROM outbox WHERE kind = 1") or 0
    except sqlite3.DatabaseError:
        return None


def damage_random(db):
    with open(db, "wb") as f:
        f.write(bytes((i * 151 + 7) % 256 for i in range(65536)))


def damage_pages(db):
    """Pages 3 and 4 (of 4096 bytes) overwritten: the header is intact, the b-trees are not."""
    with open(db, "r+b") as f:
        f.seek(2 * 4096)
        f.write(bytes((i * 37 + 11) % 256 for i in range(2 * 4096)))


def one_case(started, sim, name, damage):
    work = h.Workdir("fault-corrupt-" + name)
    bus = {"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": sim.tcp_port, "timeout_ms": 500,
           # Readings count polls here: every poll stored and published in full (report_max_s 0).
           "devices": [{"id": "manhole-3", "unit": 1, "driver": "level/ultrasonic-generic", "poll_ms": 50,
                        "report_max_s": 0}]}
    cfg = h.base_config(work, [bus])
    db = cfg["store"]["path"]
    first = h.Daemon(work, cfg, name="before")
    started.append(first)
    h.wait_until("200 readings before the damage",
                 lambda: (readings(db) or 0) >= 200)
    if first.stop() != 0:
        raise h.TestFailure("%s: first daemon exited %s" % (name, first.proc.returncode))
    started.remove(first)
    old_max = h.scalar(db, "SELECT max(seq) FROM outbox")
    for extra in glob.glob(db + "-*"):  # a clean stop leaves no WAL to replay; make sure
        os.unlink(extra)
    damage(db)
    with open(db, "rb") as f:
        damaged = f.read()

    d = h.Daemon(work, cfg, name="after")
    started.append(d)
    def fresh():
        if not d.running():
            raise h.TestFailure("%s: the daemon exited %s instead of starting on a fresh store:\n%s" %
                                (name, d.proc.returncode, d.output()))
        # The old file still answers plain counts until it is moved: wait for the move first.
        moved = [p for p in glob.glob(db + ".corrupt-*") if not p.endswith(("-wal", "-shm"))]
        return bool(moved) and (readings(db) or 0) >= 20

    h.wait_until("%s: the daemon running on a fresh store with 20 readings" % name, fresh, 20)
    if h.latest(db, "manhole-3", "level") != (1.23, 0):
        raise h.TestFailure("%s: latest level %r" % (name, h.latest(db, "manhole-3", "level")))
    kept = [p for p in glob.glob(db + ".*") if open(p, "rb").read() == damaged]
    if not kept:
        raise h.TestFailure("%s: the corrupt file was not kept beside the store (files: %r)" %
                            (name, sorted(os.listdir(work.path))))
    events = h.query(db, "SELECT kind, body FROM outbox WHERE kind IN (3, 4) AND body LIKE '%corrupt%'")
    if not events:
        raise h.TestFailure("%s: no event or alert about the corrupt store in the fresh outbox" % name)
    # Consumers drop a (gateway, seq) they have seen: the fresh store must not reuse one.
    new_min = h.scalar(db, "SELECT min(seq) FROM outbox")
    if not new_min > old_max:
        raise h.TestFailure("%s: the fresh store's first seq %s is not above the old store's last %s" %
                            (name, new_min, old_max))
    if os.path.basename(kept[0]) not in d.output():
        raise h.TestFailure("%s: the log does not say where the corrupt file went:\n%s" % (name, d.output()))
    if d.stop() != 0:
        raise h.TestFailure("%s: daemon exited %s on SIGTERM" % (name, d.proc.returncode))
    started.remove(d)
    print("%s: moved aside to %s, fresh store, event %s" % (name, os.path.basename(kept[0]), events[0][1]))


def test(started):
    work = h.Workdir("fault-corrupt")
    scen = h.scenario(work, [{"unit": 1, "driver": "level/ultrasonic-generic", "values": {"decimals": 2, "level": 1.23}}])
    sim = h.Sim(work, scen, tcp=True)
    started.append(sim)
    one_case(started, sim, "not-a-database", damage_random)
    one_case(started, sim, "damaged-pages", damage_pages)


sys.exit(h.run(test))
