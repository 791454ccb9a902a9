#!/bin/sh
# vendor-dashboard: refreshes dashboard/vendor/ from the npm registry at the versions pinned by
# dashboard/package-lock.json (npm ci checks each package's integrity hash), with its licences.
# The page itself never downloads anything: what this copies is committed and served as is.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$top/dashboard/package.json" "$top/dashboard/package-lock.json" "$tmp/"
(cd "$tmp" && npm ci --no-audit --no-fund --ignore-scripts)
dst="$top/dashboard/vendor/paho-mqtt"
mkdir -p "$dst"
for f in paho-mqtt.js epl-v10 edl-v10 about.html; do
    cp "$tmp/node_modules/paho-mqtt/$f" "$dst/$f"
done
echo "dashboard/vendor refreshed from package-lock.json"
