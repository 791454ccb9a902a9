"""The gateway's health on metrics, every mqtt.metrics_s: per device the polls and the round
trips. A meter the simulator answers 80 ms late shows round trips of at least 80 ms (last, max
and the running total over its replies: the delay is a floor no scheduling can lower; there is
no ceiling, a busy machine only adds to it) and, well inside its timeout, no timeout; a silent
one shows timeouts and no replies; a sample later counts more polls than an earlier one."""

import sys

import harness as h

PREFIX = "caretaker/hongmei/gw-test"


def test(started):
    work = h.Workdir("metrics")
    scen = h.scenario(work, [{"unit": u, "driver": "level/ultrasonic-generic", "values": {"decimals": 2, "level": 0.5}}
                             for u in (1, 2)])
    sim, broker, sub = h.stack(started, work, scen, PREFIX + "/metrics")
    sim.cmd("behave 1 slow 80")
    sim.cmd("behave 2 silent")
    # The slow meter's timeout is far above its delay, so no load on the machine makes a timeout
    # of it; the mute one has a bus of its own, so its timeouts delay nobody.
    buses = [{"id": "lan", "type": "tcp", "host": "127.0.0.1", "port": sim.tcp_port, "timeout_ms": 3000,
              "devices": [{"id": "slow-meter", "unit": 1, "driver": "level/ultrasonic-generic", "poll_ms": 200}]},
             {"id": "lan-2", "type": "tcp", "host": "127.0.0.1", "port": sim.tcp_port, "timeout_ms": 300,
              "devices": [{"id": "mute-meter", "unit": 2, "driver": "level/ultrasonic-generic", "poll_ms": 200}]}]
    cfg = h.base_config(work, buses, mqtt=broker.mqtt(metrics_s=1))
    d = h.Daemon(work, cfg)
    started.append(d)

    def samples():
        return [m for _, m, _ in sub.received("/metrics") if m["devices"]["slow-meter"]["replies"] >= 3]

    got = h.wait_until("two metrics samples with 3 replies of the slow meter", lambda: len(samples()) >= 2 and samples())
    first, last = got[0], got[-1]
    slow, mute = last["devices"]["slow-meter"], last["devices"]["mute-meter"]
    # Each counter is read on its own while replies come in: only bounds that hold between them
    if not (slow["rtt_us_last"] >= 80000 and slow["rtt_us_max"] >= 80000 and
            slow["rtt_us_total"] >= 80000 * slow["replies"]):
        raise h.TestFailure("slow meter's round trips %r" % slow)
    if slow["polls_ok"] < 3 or slow["timeouts"] != 0:
        raise h.TestFailure("slow meter %r" % slow)
    if mute["replies"] != 0 or mute["rtt_us_total"] != 0 or mute["timeouts"] < 1:
        raise h.TestFailure("mute meter %r" % mute)
    if not last["ts"] > first["ts"] or not slow["replies"] > first["devices"]["slow-meter"]["replies"]:
        raise h.TestFailure("samples %r then %r" % (first, last))
    if d.stop() != 0:
        raise h.TestFailure("daemon exited %s" % d.proc.returncode)
    print("slow meter: %d replies, last %d us, max %d us, mean %d us" %
          (slow["replies"], slow["rtt_us_last"], slow["rtt_us_max"], slow["rtt_us_total"] // slow["replies"]))


sys.exit(h.run(test))
