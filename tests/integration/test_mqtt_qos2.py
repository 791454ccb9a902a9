"""QoS 2 over MQTT 3.1.1 and 5, across a broker restart (with persistence): every stored reading
reaches a persistent subscriber of the same protocol, in order per device, as long as the
gateway keeps within what the broker takes in flight. Over MQTT 5 the broker says how many
(receive maximum, mosquitto's max_inflight_messages, 20 by default) and the gateway keeps to it
whatever mqtt.inflight is; over MQTT 3.1.1 it cannot say, and mosquitto drops the QoS 2
messages past its limit while completing their handshake (docs/mqtt.md), so there mqtt.inflight
must stay below it."""

import sys

import harness as h
import mqtt_delivery as md

# (protocol, mqtt.inflight): 5 with a window far above the broker's 20; 3.1.1 within it (the
# rows in flight share the broker's count with metrics, published at the same QoS).
RUNS = (("5", 100), ("3.1.1", 19))


def test(started):
    for protocol, inflight in RUNS:
        r = md.run(started, protocol, 2, "qos2-v%s" % protocol, inflight=inflight, backlog_rows=100)
        seen, dups = md.check_payloads(r)
        lost = md.missing(r, seen)
        if lost:
            raise h.TestFailure("MQTT %s QoS 2, inflight %d: %d of %d stored readings never arrived, first %r "
                                "(see %s)" % (protocol, inflight, len(lost), len(r["stored"]), lost[:10],
                                              r["broker_log"]))
        md.check_order(r)
        print("MQTT %s QoS 2: %d readings, %d duplicates, backlog of %d replayed"
              % (protocol, len(r["stored"]), dups, len(r["backlog"])))


sys.exit(h.run(test))
