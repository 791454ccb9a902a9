# link4g: the emulated 4G link's network: a namespace for the gateway side joined to this one by
# a veth pair on a private /30, with tbf shaping each direction's rate. Needs root; every packet
# stays on this machine. Latency, jitter and loss are the relay's (relay.py): this kernel has no
# netem.
import os
import subprocess

NET = "10.254.231"  # a /30: .1 here (relay and broker side), .2 in the namespace (the gateway)


def _ip(*args, ns=None, check=True):
    argv = (["ip", "netns", "exec", ns] if ns else []) + list(args)
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if check and r.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(argv), r.stderr.strip()))
    return r


class Link:
    """`ip netns exec <ns>` runs a program on the gateway side; it reaches this side at
    self.here. up_kbit shapes gateway -> here, down_kbit here -> gateway; queue_ms is how long
    tbf lets a packet wait for its turn before dropping it (the bottleneck's buffer)."""

    def __init__(self, up_kbit=2000, down_kbit=10000, queue_ms=200):
        if os.geteuid() != 0:
            raise RuntimeError("the emulated 4G link needs root (ip netns, veth, tc); run as root or skip it with --only costs")
        tag = str(os.getpid() % 100000)
        self.ns = "ct4g-" + tag
        self.veth_here, self.veth_gw = "ct4g%sh" % tag, "ct4g%sg" % tag
        self.here, self.gw = NET + ".1", NET + ".2"
        self.shaping = {"up_kbit": up_kbit, "down_kbit": down_kbit, "queue_ms": queue_ms}
        self.made = False
        try:
            _ip("ip", "netns", "add", self.ns)
            self.made = True
            _ip("ip", "link", "add", self.veth_here, "type", "veth", "peer", "name", self.veth_gw)
            _ip("ip", "link", "set", self.veth_gw, "netns", self.ns)
            _ip("ip", "addr", "add", self.here + "/30", "dev", self.veth_here)
            _ip("ip", "link", "set", self.veth_here, "up")
            _ip("ip", "addr", "add", self.gw + "/30", "dev", self.veth_gw, ns=self.ns)
            _ip("ip", "link", "set", self.veth_gw, "up", ns=self.ns)
            _ip("ip", "link", "set", "lo", "up", ns=self.ns)
            self._tbf(self.veth_gw, up_kbit, queue_ms, self.ns)
            self._tbf(self.veth_here, down_kbit, queue_ms, None)
        except Exception:
            self.stop()
            raise

    @staticmethod
    def _tbf(dev, kbit, queue_ms, ns):
        # A bucket of 10 ms at the rate (at least two full frames) keeps bursts at the rate.
        burst = max(3200, kbit * 1000 // 8 // 100)
        _ip("tc", "qdisc", "add", "dev", dev, "root", "tbf", "rate", "%dkbit" % kbit,
            "burst", str(burst), "latency", "%dms" % queue_ms, ns=ns)

    def prefix(self):
        return ["ip", "netns", "exec", self.ns]

    def qdisc_stats(self):
        out = {}
        for name, dev, ns in (("up", self.veth_gw, self.ns), ("down", self.veth_here, None)):
            r = _ip("tc", "-s", "qdisc", "show", "dev", dev, ns=ns, check=False)
            out[name] = " ".join(r.stdout.split())
        return out

    def stop(self):
        _ip("ip", "link", "del", self.veth_here, check=False)  # takes its peer with it
        if self.made:
            _ip("ip", "netns", "del", self.ns, check=False)
            self.made = False
