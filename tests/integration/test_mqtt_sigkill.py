"""The daemon is killed with SIGKILL while it publishes, then started again: no seq is missing
at the subscriber, the only duplicates are of rows the store had not yet marked sent (those in
flight or acknowledged after the last commit), and a duplicate is the same message again —
a seq is never published twice with different data."""

import json
import signal
import sys

import harness as h

PREFIX = "caretaker/hongmei/gw-test"


def scenario(work):
    path = work.file("scenario.json")
    with open(path, "w") as f:
        json.dump({"devices": [
            {"unit": 1, "driver": "level/ultrasonic-generic", "values": {"decimals": 3, "level": 1.234},
             "waves": {"level": {"base": 1.2, "amplitude": 0.3, "period_s": 3}}},
            {"unit": 2, "driver": "flow/electromagnetic-generic", "values": {"flow": 12.5},
             "waves": {"flow": {"base": 12.5, "amplitude": 2.5, "period_s": 2}}},
        ]}, f)
    return path


def test(started):
    work = h.Workdir("mqtt-kill")
    sim, broker, sub = h.stack(started, work, scenario(work), PREFIX + "/devices/#")
    bus = {"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": sim.tcp_port, "timeout_ms": 500,
           "devices": [
               {"id": "manhole-3", "unit": 1, "driver": "level/ultrasonic-generic", "poll_ms": 50},
               {"id": "flow-main", "unit": 2, "driver": "flow/electromagnetic-generic", "poll_ms": 50},
           ]}
    cfg = h.base_config(work, [bus], mqtt=broker.mqtt(qos=1))
    cfg["store"]["commit_ms"] = 200  # a wider window of acknowledgements not yet committed
    db = cfg["store"]["path"]

    d = h.Daemon(work, cfg)
    started.append(d)
    h.wait_until("60 readings", lambda: len(sub.received("/readings")) >= 60)
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait(10)
    # What survived the kill: committed rows, some of them not yet marked sent
    unsent_at_kill = {s for (s,) in h.query(db, "SELECT seq FROM outbox WHERE sent = 0")}
    sent_at_kill = {s for (s,) in h.query(db, "SELECT seq FROM outbox WHERE sent = 1")}
    before = {m["seq"]: m for _, m, _ in sub.received()}

    d2 = h.Daemon(work, cfg, name="caretaker2")
    started.append(d2)
    last = max(unsent_at_kill | sent_at_kill)
    h.wait_until("40 rows after the restart, all sent",
                 lambda: h.scalar(db, "SELECT count(*) FROM outbox WHERE seq > ? AND sent = 1", (last,)) >= 40 and
                 h.scalar(db, "SELECT count(*) FROM outbox WHERE sent = 0 AND seq <= ?", (last,)) == 0, 60)
    if d2.stop() != 0:
        raise h.TestFailure("restarted daemon exited %s on SIGTERM" % d2.proc.returncode)
    stored = {seq: ts for seq, ts in h.query(db, "SELECT seq, ts FROM outbox WHERE kind IN (1, 2)")}
    h.wait_until("every stored row at the subscriber",
                 lambda: set(stored) <= {m["seq"] for _, m, _ in sub.received()}, 30)

    got = sub.received()
    first, dups = {}, []
    for _, m, _ in got:
        if m["seq"] in first:
            dups.append(m)
            if m != first[m["seq"]]:
                raise h.TestFailure("seq %d published twice with different data:\n%r\n%r" %
                                    (m["seq"], first[m["seq"]], m))
        else:
            first[m["seq"]] = m
    for m in dups:
        if m["seq"] not in unsent_at_kill:
            raise h.TestFailure("seq %d published again though the store had it sent" % m["seq"])
    # A message published before the kill is the row the store kept under that seq
    for seq, m in before.items():
        if stored.get(seq) != m["ts"]:
            raise h.TestFailure("seq %d was published with ts %d, the store has %r" % (seq, m["ts"], stored.get(seq)))
    missing = sorted(set(stored) - set(first))
    if missing:
        raise h.TestFailure("missing seqs %r" % missing[:10])
    print("%d rows, %d duplicates (%d rows were unsent at the kill)" % (len(stored), len(dups), len(unsent_at_kill)))


sys.exit(h.run(test))
