"""demo_view: prints what Caretaker stores as it arrives, in plain words, one line per poll or
event, until interrupted."""

import json
import os
import sqlite3
import sys
import time

QUALITY = {1: "invalid", 2: "offline"}


def main(db_path):
    while not os.path.exists(db_path):
        time.sleep(0.2)
    last = 0
    while True:
        try:
            con = sqlite3.connect("file:%s?mode=ro" % db_path, uri=True, timeout=5)
            rows = con.execute(
                "SELECT o.seq, o.kind, o.ts, d.name, d.location, o.body FROM outbox o "
                "LEFT JOIN devices d ON d.id = o.device_id WHERE o.seq > ? ORDER BY o.seq", (last,)).fetchall()
            for seq, kind, ts, device, location, body in rows:
                when = time.strftime("%H:%M:%S", time.localtime(ts / 1000))
                where = "%s (%s)" % (device, location) if location else device
                if kind == 1:
                    vals = con.execute(
                        "SELECT p.name, r.value, r.quality, p.unit FROM readings r JOIN points p "
                        "ON p.id = r.point_id WHERE r.seq = ? ORDER BY p.id", (seq,)).fetchall()
                    text = ", ".join("%s %s%s" % (n, "%g" % v if q == 0 else QUALITY.get(q, "?"),
                                                  " " + u if u and q == 0 else "") for n, v, q, u in vals[:8])
                    print("%s  %s: %s" % (when, where, text))
                else:
                    info = json.loads(body) if body else {}
                    print("%s  %s: EVENT %s" % (when, where, ", ".join("%s=%s" % kv for kv in info.items())))
                last = seq
            con.close()
        except sqlite3.OperationalError:
            pass
        sys.stdout.flush()
        time.sleep(0.5)


if __name__ == "__main__":
    try:
        main(sys.argv[1])
    except KeyboardInterrupt:
        pass
