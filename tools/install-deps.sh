#!/bin/sh
# install-deps: installs the Debian packages Caretaker needs to build, test or demo, when missing.
# As root it runs apt-get; otherwise it prints the exact command and fails.
set -eu
pkgs="build-essential cmake pkg-config libmosquitto-dev libsqlite3-dev libcjson-dev
libsystemd-dev libmodbus-dev mosquitto mosquitto-clients socat python3 python3-paho-mqtt sqlite3 tzdata"
[ "${1:-}" = "--test" ] && pkgs="$pkgs clang clang-format libclang-rt-14-dev valgrind systemd dpkg-dev openssl libfaketime python3-jsonschema
chromium chromium-driver python3-selenium fonts-noto-cjk"
missing=""
for p in $pkgs; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "caretaker: missing Debian packages. Run as root:" >&2
    echo "  apt-get update && apt-get install -y$missing" >&2
    exit 1
fi
echo "caretaker: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
