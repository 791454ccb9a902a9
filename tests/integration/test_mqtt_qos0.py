"""QoS 0 over MQTT 3.1.1 and 5, across a broker restart: a row is marked sent once written to the
socket (docs/mqtt.md), so the readings lost are only some of those written as the broker went
away — none written to the store (every reading polled while the gateway sees it gone is). Those stay unsent while the broker is away and
all arrive after it returns. The broker queues QoS 0 for the persistent subscriber
(queue_qos0_messages), so what is missing is the gateway's doing, not the subscriber's."""

import sys

import harness as h
import mqtt_delivery as md


def test(started):
    for protocol in ("3.1.1", "5"):
        r = md.run(started, protocol, 0, "qos0-v%s" % protocol, inflight=100, backlog_rows=100)
        seen, dups = md.check_payloads(r)
        lost = md.missing(r, seen)
        late = [s for s in lost if s in r["written"]]
        if late:
            raise h.TestFailure("MQTT %s QoS 0: %d readings written while the broker was away never "
                                "arrived, first %r" % (protocol, len(late), late[:10]))
        if not r["backlog"] <= seen:
            raise h.TestFailure("MQTT %s QoS 0: backlog rows missing: %r" % (protocol, sorted(r["backlog"] - seen)[:10]))
        md.check_order(r)
        print("MQTT %s QoS 0: %d readings, %d lost at the outage (after seq %d), %d duplicates"
              % (protocol, len(r["stored"]), len(lost), r["at_loss"], dups))


sys.exit(h.run(test))
