"""QoS 1 over MQTT 3.1.1 and 5, across a broker restart (with persistence): every stored reading
reaches a persistent subscriber of the same protocol — at least once, first arrivals in order per
device, a duplicate carrying the same data."""

import sys

import harness as h
import mqtt_delivery as md


def test(started):
    for protocol in ("3.1.1", "5"):
        # Above the broker's 20 in flight: QoS 1 has no incoming quota to exceed.
        r = md.run(started, protocol, 1, "qos1-v%s" % protocol, inflight=100, backlog_rows=100)
        seen, dups = md.check_payloads(r)
        lost = md.missing(r, seen)
        if lost:
            raise h.TestFailure("MQTT %s QoS 1: %d of %d stored readings never arrived, first %r"
                                % (protocol, len(lost), len(r["stored"]), lost[:10]))
        md.check_order(r)
        print("MQTT %s QoS 1: %d readings, %d duplicates, backlog of %d replayed"
              % (protocol, len(r["stored"]), dups, len(r["backlog"])))


sys.exit(h.run(test))
