#!/usr/bin/python3
# run.py: Caretaker, collectd and Node-RED side by side on the same simulator and the same local
# mosquitto (127.0.0.1 only): delivered readings/s, CPU us per delivered reading, RSS, and
# whether every expected reading arrived. Installs collectd-core (apt) and Node-RED with
# node-red-contrib-modbus (npm, into a scratch directory) when they are missing.
#
# usage: bench/compare/run.py [--build DIR] [--systems caretaker,collectd,nodered]
#                             [--loads 10x1000,50x1000,50x50] [--window S] [--out FILE]
# A load DxMS is D devices of bench/meter14 (14 values each) polled every MS milliseconds.
# The system under test runs on CPU 0 (taskset -c 0); simulator, broker and subscriber on CPU 1.
import argparse
import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

NODERED_VERSION = "4.1.8"
MODBUS_NODES_VERSION = "5.23.3"
COLLECTD = "/usr/sbin/collectd"
TYPES_DB = "/usr/share/collectd/types.db"


# ---------------------------------------------------------------- installs, only when missing

def ensure_collectd():
    # The modbus and mqtt plugins load libmodbus and libmosquitto, which collectd-core only
    # recommends.
    bl.ensure_apt(["collectd-core", "libmodbus5", "libmosquitto1"],
                  [COLLECTD, "/usr/lib/collectd/modbus.so", "/usr/lib/collectd/mqtt.so"],
                  ["modbus", "mosquitto"])


def ensure_nodered(d):
    red = os.path.join(d, "node_modules/node-red/red.js")
    mb = os.path.join(d, "node_modules/node-red-contrib-modbus/package.json")

    def version(path):
        try:
            with open(path) as f:
                return json.load(f).get("version")
        except (OSError, ValueError):
            return None
    if version(os.path.join(d, "node_modules/node-red/package.json")) == NODERED_VERSION \
            and version(mb) == MODBUS_NODES_VERSION:
        return red
    if not shutil.which("node") or not shutil.which("npm"):
        bl.ensure_apt(["nodejs", "npm"], ["/usr/bin/node", "/usr/bin/npm"])
    bl.log(f"installing node-red {NODERED_VERSION} and node-red-contrib-modbus "
           f"{MODBUS_NODES_VERSION} into {d} (npm)")
    os.makedirs(d, exist_ok=True)
    if not os.path.exists(os.path.join(d, "package.json")):
        with open(os.path.join(d, "package.json"), "w") as f:
            json.dump({"name": "caretaker-bench-nodered", "private": True}, f)
    subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--save-exact",
                    f"node-red@{NODERED_VERSION}", f"node-red-contrib-modbus@{MODBUS_NODES_VERSION}"],
                   check=True, cwd=d)
    return red


# ---------------------------------------------------------------- collectd

def collectd_config(path, run_dir, sim_port, mqtt_port, devices, poll_ms):
    """One <Data> per value (collectd's modbus plugin reads each value with its own request)
    and one <Host> per device, so its read threads can poll devices in parallel. The mqtt
    plugin publishes each value as its own message, "time:value", at QoS 1."""
    interval = poll_ms / 1000.0
    out = [f'Hostname "bench"', "FQDNLookup false", f'BaseDir "{run_dir}"',
           f'PIDFile "{run_dir}/collectd.pid"', f'TypesDB "{TYPES_DB}"', f"Interval {interval}",
           "ReadThreads 5", "WriteThreads 5", "", "LoadPlugin modbus", "LoadPlugin mqtt", "",
           "<Plugin modbus>"]
    for i in range(7):
        out += [f'  <Data "f{i + 1}">', f"    RegisterBase {2 * i}", "    RegisterType Float",
                "    RegisterCmd ReadHolding", '    Type "gauge"', f'    Instance "f{i + 1}"',
                "  </Data>"]
    for i in range(7):
        out += [f'  <Data "u{i + 1}">', f"    RegisterBase {14 + i}", "    RegisterType Uint16",
                "    RegisterCmd ReadHolding", '    Type "gauge"', f'    Instance "u{i + 1}"',
                "  </Data>"]
    for u in range(1, devices + 1):
        out += [f'  <Host "d{u}">', '    Address "127.0.0.1"', f"    Port {sim_port}",
                f"    Interval {interval}", f"    <Slave {u}>", f'      Instance "d{u}"']
        out += [f'      Collect "f{i + 1}"' for i in range(7)]
        out += [f'      Collect "u{i + 1}"' for i in range(7)]
        out += ["    </Slave>", "  </Host>"]
    out += ["</Plugin>", "", "<Plugin mqtt>", '  <Publish "bench">', '    Host "127.0.0.1"',
            f"    Port {mqtt_port}", '    ClientId "collectd-bench"', "    QoS 1",
            '    Prefix "collectd"', "    Retain false", "  </Publish>", "</Plugin>", ""]
    with open(path, "w") as f:
        f.write("\n".join(out))


def start_collectd(args, run_dir, sim_port, mqtt_port, devices, poll_ms):
    conf = os.path.join(run_dir, "collectd.conf")
    collectd_config(conf, run_dir, sim_port, mqtt_port, devices, poll_ms)
    return bl.Proc("collectd", bl.taskset(0) + [COLLECTD, "-f", "-C", conf], run_dir)


# ---------------------------------------------------------------- Node-RED

DECODE_JS = """\
// 21 holding registers of bench/meter14: 7 float32 high word first, then 7 uint16.
const r = msg.payload;
const b = Buffer.alloc(4);
const v = {};
for (let i = 0; i < 7; i++) {
    b.writeUInt16BE(r[2 * i], 0);
    b.writeUInt16BE(r[2 * i + 1], 2);
    v['f' + (i + 1)] = b.readFloatBE(0);
}
for (let i = 0; i < 7; i++) v['u' + (i + 1)] = r[14 + i];
const dev = msg.topic;
msg.topic = 'nodered/bench/devices/' + dev + '/readings';
msg.payload = JSON.stringify({ ts: Date.now(), device: dev, values: v });
return msg;
"""


def nodered_flows(path, sim_port, mqtt_port, devices, poll_ms):
    """One modbus-read per device (one request of 21 registers per poll) on one modbus-client,
    one function node decoding the 14 values into one JSON message per poll, like Caretaker's,
    and one mqtt out at QoS 1."""
    nodes = [{"id": "tab", "type": "tab", "label": "bench"},
             {"id": "mbclient", "type": "modbus-client", "name": "sim", "clienttype": "tcp",
              "bufferCommands": True, "stateLogEnabled": False, "queueLogEnabled": False,
              "failureLogEnabled": False, "tcpHost": "127.0.0.1", "tcpPort": str(sim_port),
              "tcpType": "DEFAULT", "serialPort": "/dev/null", "serialType": "RTU-BUFFERD",
              "serialBaudrate": "9600", "serialDatabits": "8", "serialStopbits": "1",
              "serialParity": "none", "serialConnectionDelay": "100",
              "serialAsciiResponseStartDelimiter": "0x3A", "unit_id": "1", "commandDelay": "1",
              "clientTimeout": "1000", "reconnectOnTimeout": True, "reconnectTimeout": "2000",
              "parallelUnitIdsAllowed": True},
             {"id": "broker", "type": "mqtt-broker", "name": "local", "broker": "127.0.0.1",
              "port": str(mqtt_port), "clientid": "nodered-bench", "autoConnect": True,
              "usetls": False, "protocolVersion": "4", "keepalive": "60", "cleansession": True,
              "birthTopic": "", "closeTopic": "", "willTopic": ""},
             {"id": "decode", "type": "function", "z": "tab", "name": "decode meter14",
              "func": DECODE_JS, "outputs": 1, "wires": [["mqttout"]]},
             {"id": "mqttout", "type": "mqtt out", "z": "tab", "name": "", "topic": "", "qos": "1",
              "retain": "false", "broker": "broker", "wires": []}]
    for u in range(1, devices + 1):
        nodes.append({"id": f"read{u}", "type": "modbus-read", "z": "tab", "name": f"d{u}",
                      "topic": f"d{u}", "showStatusActivities": False, "logIOActivities": False,
                      "showErrors": False, "unitid": str(u), "dataType": "HoldingRegister",
                      "adr": "0", "quantity": str(bl.REGISTERS), "rate": str(poll_ms),
                      "rateUnit": "ms", "delayOnStart": False, "startDelayTime": "",
                      "server": "mbclient", "useIOFile": False, "ioFile": "",
                      "useIOForPayload": False, "emptyMsgOnFail": False,
                      "wires": [["decode"], []]})
    with open(path, "w") as f:
        json.dump(nodes, f, indent=1)


def start_nodered(args, run_dir, sim_port, mqtt_port, devices, poll_ms):
    red = ensure_nodered(args.nodered_dir)
    flows = os.path.join(run_dir, "flows.json")
    nodered_flows(flows, sim_port, mqtt_port, devices, poll_ms)
    settings = os.path.join(run_dir, "settings.js")
    with open(settings, "w") as f:
        f.write("module.exports = {\n"
                f"  uiHost: '127.0.0.1', uiPort: {bl.free_port()},\n"
                "  httpAdminRoot: false, httpNodeRoot: false, httpStatic: false,\n"
                f"  flowFile: {json.dumps(flows)}, credentialSecret: false,\n"
                "  logging: { console: { level: 'warn', metrics: false, audit: false } },\n"
                "  externalModules: { autoInstall: false, palette: { allowInstall: false } },\n"
                "  diagnostics: { enabled: false }, telemetry: { enabled: false },\n"
                "};\n")
    # userDir is the install directory: Node-RED finds node-red-contrib-modbus in its
    # node_modules. Everything the run writes goes to run_dir (the flow file) or the scratch dir.
    return bl.Proc("nodered", bl.taskset(0) + ["node", red, "--settings", settings,
                                               "--userDir", args.nodered_dir], run_dir)


# ---------------------------------------------------------------- Caretaker

def start_caretaker(args, run_dir, sim_port, mqtt_port, devices, poll_ms):
    cfg = os.path.join(run_dir, "caretaker.json")
    bl.caretaker_config(cfg, run_dir, mqtt_port, [{"type": "tcp", "port": sim_port, "units": devices}],
                        poll_ms)
    return bl.start_caretaker(args.build, run_dir, cfg, cpu=0)


# system -> (starter, topics subscribed, topics per device, values per message)
SYSTEMS = {
    "caretaker": (start_caretaker, ["caretaker/+/+/devices/+/readings"], 1, bl.VALUES),
    "collectd": (start_collectd, ["collectd/#"], bl.VALUES, 1),
    "nodered": (start_nodered, ["nodered/bench/devices/+/readings"], 1, bl.VALUES),
}


def one_run(args, system, devices, poll_ms):
    start, topics, topics_per_device, per_topic = SYSTEMS[system]
    with bl.Rig(f"bench-{system}-", keep=args.keep) as rig:
        rig.start(args.build, devices, topics, 1)
        target = rig.add(start(args, rig.run_dir, rig.sim_port, rig.mqtt_port, devices, poll_ms))
        r = rig.measure(target, bl.Load(devices, poll_ms, devices * topics_per_device, per_topic), args)
        r.update({"system": system, "devices": devices, "poll_ms": poll_ms})
        return r


def table(results):
    rows = []
    for r in results:
        if "error" in r:
            rows.append([r["system"], f"{r['devices']} x 14 @ {r['poll_ms']} ms failed: {r['error']}"])
            continue
        rows.append([r["system"], f"{r['devices']} x 14 @ {r['poll_ms']} ms", f"{r['delivered_per_s']:.0f}",
                     f"{r['expected_per_s']:.0f}", f"{r['arrived_pct']:.2f} %", r.get("lost_values", ""),
                     f"{r['cpu_us_per_reading']:.2f}; {r['cpu_us_per_reading_stat']:.2f}",
                     f"{r['cpu_pct']:.1f}", f"{r['rss_kib'] / 1024:.1f} / {r['hwm_kib'] / 1024:.1f}"])
    return bl.md_table(["system", "load", "delivered readings/s", "expected/s", "arrived",
                        "read, never delivered", "CPU us/reading (schedstat; stat)",
                        "CPU % of a core", "VmRSS / VmHWM MiB"], rows)


def main():
    ap = argparse.ArgumentParser(description="Caretaker, collectd and Node-RED side by side")
    ap.add_argument("--build", default=os.path.join(bl.ROOT, "build"),
                    help="build tree with gateway/caretaker, tests/sim/caretaker-sim, bench/bench_e2e_sub")
    ap.add_argument("--systems", default="caretaker,collectd,nodered")
    ap.add_argument("--loads", default="10x1000,50x1000,50x50")
    ap.add_argument("--window", type=float, default=30)
    ap.add_argument("--warmup", type=float, default=5)
    ap.add_argument("--grace", type=float, default=3)
    ap.add_argument("--nodered-dir", default="/tmp/caretaker-bench-nodered",
                    help="scratch directory Node-RED and its modbus nodes are installed into")
    ap.add_argument("--keep", action="store_true", help="keep each run's directory (configs, logs)")
    ap.add_argument("--out", help="write the results as JSON")
    args = ap.parse_args()
    args.build = os.path.abspath(args.build)
    systems = args.systems.split(",")
    bl.ensure_tools()
    if "collectd" in systems:
        ensure_collectd()
    if "nodered" in systems:
        ensure_nodered(args.nodered_dir)
    bl.log("machine: " + json.dumps(bl.machine_notes()))
    results = []
    for load in args.loads.split(","):
        devices, poll_ms = (int(x) for x in load.split("x"))
        for system in systems:
            bl.log(f"{system}: {devices} devices x 14 values every {poll_ms} ms, "
                   f"window {args.window} s (load average {bl.loadavg()})")
            try:
                r = one_run(args, system, devices, poll_ms)
            except RuntimeError as e:
                r = {"system": system, "devices": devices, "poll_ms": poll_ms, "error": str(e)[:200]}
            print(json.dumps(r), flush=True)
            results.append(r)
    bl.report(table(results), results, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
