#!/bin/sh
# demo: starts a local mosquitto and the device simulator (an elevator over TCP, a manhole and a
# flow meter on a serial line), runs Caretaker on config/demo.json, and shows what it publishes —
# readings, device state, alerts with their contractor and deadline — in plain words. The same
# mosquitto serves the dashboard (dashboard/) on a WebSockets listener; its URL and a login are
# printed.
# Ctrl-C stops everything it started, by PID.
set -eu
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/caretaker-demo.XXXXXX)
pids=""
stopped=""
cleanup() {
    # dash runs the EXIT trap after an INT one even when the handler cleared it
    [ -n "$stopped" ] && return
    stopped=1
    trap - INT TERM EXIT
    for p in $pids; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    echo "demo stopped; its files are in $work"
}
trap cleanup INT TERM EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

mqtt_port=$(free_port)
web_port=$(free_port)
# The dashboard's login is checked by the broker; mosquitto 2.0.11 binds a WebSockets listener
# to every interface whatever address is given, so it asks for a password.
web_password=$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
mosquitto_passwd -b -c "$work/dashboard.passwd" demo "$web_password"
chmod 600 "$work/dashboard.passwd"
cat >"$work/mosquitto.conf" <<EOF
user $(id -un)
per_listener_settings true
listener $mqtt_port 127.0.0.1
allow_anonymous true
listener $web_port
protocol websockets
http_dir $top/dashboard
allow_anonymous false
password_file $work/dashboard.passwd
EOF
mosquitto -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 &
pids="$pids $!"

socat pty,raw,echo=0,link="$work/tty-sim" pty,raw,echo=0,link="$work/tty-gw" 2>"$work/socat.log" &
pids="$pids $!"
i=0
while [ ! -e "$work/tty-sim" ] || [ ! -e "$work/tty-gw" ]; do
    i=$((i + 1)); [ $i -gt 100 ] && { echo "socat did not create the serial pair" >&2; exit 1; }
    sleep 0.1
done

# The simulator stays up with stdin closed; it prints READY with the TCP port it picked.
"$build/tests/sim/caretaker-sim" --drivers "$top/drivers" --tcp 0 --rtu "$work/tty-sim" \
    "$top/tests/sim/scenarios/demo.json" >"$work/sim.out" 2>"$work/sim.log" </dev/null &
pids="$pids $!"
i=0
until grep -q '^READY' "$work/sim.out" 2>/dev/null; do
    i=$((i + 1)); [ $i -gt 100 ] && { echo "the simulator did not start: $(cat "$work/sim.log")" >&2; exit 1; }
    sleep 0.1
done
sim_port=$(sed -n 's/^READY tcp=\([0-9]*\).*/\1/p' "$work/sim.out")

sed -e "s|@WORK@|$work|g" -e "s|@SIM_PORT@|$sim_port|g" -e "s|@MQTT_PORT@|$mqtt_port|g" "$top/config/demo.json" >"$work/demo.json"
"$build/gateway/caretaker" check -c "$work/demo.json" -d "$top/drivers"
"$build/gateway/caretaker" run -c "$work/demo.json" -d "$top/drivers" 2>"$work/caretaker.log" &
pids="$pids $!"
echo "Caretaker is running (log: $work/caretaker.log). Ctrl-C to stop."
echo "Dashboard: http://127.0.0.1:$web_port/  (user demo, password $web_password)"
# Debian's python3 has python3-paho-mqtt; another python3 first on PATH may not.
/usr/bin/python3 "$top/tools/demo_view.py" "$mqtt_port" caretaker/hongmei/gw-demo "$work/demo.json" &
viewer=$!
pids="$pids $viewer"
wait "$viewer"
