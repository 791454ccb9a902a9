#!/bin/sh
# check_unit: caretaker.service is well formed (systemd-analyze verify prints nothing), keeps
# what the daemon relies on, bounds its memory, tasks and descriptors, and its exposure by
# systemd-analyze security is 2.0 or lower; the DTU ports drop-in example is well formed too.
# usage: check_unit.sh SOURCE_DIR
set -u
unit="$1/systemd/caretaker.service"
failed=0
fail() {
    echo "check_unit: $*" >&2
    failed=1
}

command -v systemd-analyze >/dev/null || { echo "check_unit: systemd-analyze missing (apt-get install systemd)" >&2; exit 1; }
[ -f "$unit" ] || { echo "check_unit: $unit missing" >&2; exit 1; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

# verify wants the ExecStart binary to exist on this machine; everything else is checked as is.
sed 's#^ExecStart=/usr/bin/caretaker #ExecStart=/bin/true #' "$unit" >"$tmp/caretaker.service"
grep -q '^ExecStart=/bin/true ' "$tmp/caretaker.service" || fail "no ExecStart=/usr/bin/caretaker line"
if ! systemd-analyze verify --man=no "$tmp/caretaker.service" >"$tmp/verify" 2>&1 || [ -s "$tmp/verify" ]; then
    fail "systemd-analyze verify complains:"
    cat "$tmp/verify" >&2
fi

# The contract with the daemon and the package, line by line.
# shellcheck disable=SC2016 # $MAINPID is literal text of the unit
for line in 'Type=notify' 'NotifyAccess=main' 'Restart=on-failure' 'User=caretaker' \
    'SupplementaryGroups=dialout' 'StateDirectory=caretaker' 'ConfigurationDirectory=caretaker' \
    'ExecStart=/usr/bin/caretaker run -c /etc/caretaker/caretaker.json' \
    'ExecReload=/bin/kill -HUP $MAINPID' 'ProtectSystem=strict' 'DevicePolicy=closed' \
    'CapabilityBoundingSet=' 'SystemCallArchitectures=native'; do
    grep -qxF "$line" "$unit" || fail "missing line: $line"
done
grep -qE '^WatchdogSec=[1-9][0-9]*s$' "$unit" || fail "missing WatchdogSec=<N>s"
grep -q '^DynamicUser=yes' "$unit" && fail "DynamicUser=yes: the database needs a stable owner"
# Resource bounds, each a plain number (with a unit suffix for memory), never infinity.
grep -qE '^MemoryMax=[1-9][0-9]*[KMG]$' "$unit" || fail "missing MemoryMax=<N>[KMG]"
grep -qE '^TasksMax=[1-9][0-9]*$' "$unit" || fail "missing TasksMax=<N>"
grep -qE '^LimitNOFILE=[1-9][0-9]*$' "$unit" || fail "missing LimitNOFILE=<N>"

# The drop-in example: verified as part of the unit (verify reads no drop-in directory).
dropin="$1/systemd/caretaker.service.d/dtu-ports.conf.example"
if [ -f "$dropin" ]; then
    grep -qxF 'SocketBindDeny=any' "$dropin" || fail "$dropin: no SocketBindDeny=any"
    grep -qE '^SocketBindAllow=tcp:[0-9]+$' "$dropin" || fail "$dropin: no SocketBindAllow=tcp:<port>"
    mkdir "$tmp/with-dropin" && cat "$tmp/caretaker.service" "$dropin" >"$tmp/with-dropin/caretaker.service"
    if ! systemd-analyze verify --man=no "$tmp/with-dropin/caretaker.service" >"$tmp/verify-dropin" 2>&1 ||
        [ -s "$tmp/verify-dropin" ]; then
        fail "systemd-analyze verify complains about the unit with $dropin:"
        cat "$tmp/verify-dropin" >&2
    fi
else
    fail "$dropin missing"
fi

# Overall exposure: "→ Overall exposure level for caretaker.service: 1.6 OK"
systemd-analyze security --offline=yes "$unit" >"$tmp/security" 2>&1
score=$(sed -n 's/.*Overall exposure level for caretaker\.service: \([0-9][0-9]*\.[0-9]\).*/\1/p' "$tmp/security")
if [ -z "$score" ]; then
    fail "no overall exposure in systemd-analyze security output:"
    cat "$tmp/security" >&2
elif ! awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }'; then
    fail "exposure $score is above 2.0:"
    grep '✗' "$tmp/security" >&2
else
    echo "check_unit: exposure $score"
fi
# A key systemd does not know is ignored with only a warning, and its hardening with it.
if grep -q "caretaker.service:[0-9]*:" "$tmp/security"; then
    fail "systemd-analyze security warns about the unit:"
    grep "caretaker.service:[0-9]*:" "$tmp/security" >&2
fi
exit $failed
