# procstat: what one process costs the box, read from /proc: CPU, disk writes, memory, wake-ups.
import os

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _status_fields(path, names):
    out = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in names:
                out[k] = int(v.split()[0])
    return out


def sample(pid):
    """One reading of the counters that only grow (CPU, bytes written, context switches) and
    of the memory now. Threads that ended before the sample take their switches with them, so
    the daemon's long-lived threads are what the wake-ups count."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    s = {"ticks": int(fields[11]) + int(fields[12]), "run_ns": 0, "switches": 0, "threads": 0}
    with open(f"/proc/{pid}/io") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("write_bytes", "cancelled_write_bytes", "read_bytes", "wchar"):
                s[k] = int(v)
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                s["run_ns"] += int(f.read().split()[0])
            sw = _status_fields(f"/proc/{pid}/task/{tid}/status",
                                ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"))
        except OSError:  # the thread ended between the listing and the read
            continue
        s["switches"] += sum(sw.values())
        s["threads"] += 1
    mem = _status_fields(f"/proc/{pid}/status", ("VmRSS", "VmHWM"))
    s["rss_kib"], s["hwm_kib"] = mem.get("VmRSS", 0), mem.get("VmHWM", 0)
    return s


def costs(s0, s1, secs):
    """Rates over the interval between two samples taken secs apart."""
    written = (s1["write_bytes"] - s0["write_bytes"]) - (s1["cancelled_write_bytes"] - s0["cancelled_write_bytes"])
    return {
        "cpu_pct": round(100.0 * (s1["run_ns"] - s0["run_ns"]) / 1e9 / secs, 3),
        "cpu_pct_ticks": round(100.0 * (s1["ticks"] - s0["ticks"]) / CLK_TCK / secs, 3),
        "disk_write_bytes_per_s": round(written / secs, 1),
        "write_syscall_bytes_per_s": round((s1["wchar"] - s0["wchar"]) / secs, 1),
        "wakeups_per_s": round((s1["switches"] - s0["switches"]) / secs, 2),
        "threads": s1["threads"],
        "rss_kib": s1["rss_kib"], "hwm_kib": s1["hwm_kib"],
    }
