#!/bin/sh
# check_deb: builds the .deb the way docs/deploy.md says, then checks its control fields,
# conffiles, maintainer scripts, that every file a box needs is in it, byte for byte, and that
# its binary carries the release hardening (check_hardening.sh).
# usage: check_deb.sh SOURCE_DIR BUILD_DIR
set -u
src="$1"
build="$2"
failed=0
fail() {
    echo "check_deb: $*" >&2
    failed=1
}
for tool in cmake cpack dpkg-deb dpkg-shlibdeps; do
    command -v $tool >/dev/null || { echo "check_deb: $tool missing (apt-get install cmake dpkg-dev)" >&2; exit 1; }
done

cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
    -DCARETAKER_TESTS=OFF -DCARETAKER_BENCH=OFF >"$build.log" 2>&1 &&
    rm -f "$build"/caretaker_*.deb &&
    cmake --build "$build" --target package -j"$(nproc)" >>"$build.log" 2>&1 || {
    tail -40 "$build.log" >&2
    echo "check_deb: building the package failed (log: $build.log)" >&2
    exit 1
}
# One package, named by dpkg's convention.
set -- "$build"/caretaker_*.deb
[ $# -eq 1 ] && [ -f "$1" ] || { echo "check_deb: expected one caretaker_*.deb in $build, found: $*" >&2; exit 1; }
deb="$1"
arch=$(dpkg --print-architecture)
case "$deb" in
*/caretaker_*-1_"$arch".deb) ;;
*) fail "file name $deb is not caretaker_<version>-1_$arch.deb" ;;
esac

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
dpkg-deb -x "$deb" "$tmp/root" && dpkg-deb -e "$deb" "$tmp/control" || { echo "check_deb: dpkg-deb cannot unpack $deb" >&2; exit 1; }

# Control fields.
[ "$(dpkg-deb -f "$deb" Package)" = caretaker ] || fail "Package is not caretaker"
[ "$(dpkg-deb -f "$deb" Architecture)" = "$arch" ] || fail "Architecture is not $arch"
[ -n "$(dpkg-deb -f "$deb" Maintainer)" ] || fail "no Maintainer"
depends=$(dpkg-deb -f "$deb" Depends)
# adduser for the postinst, and the package of every library the binary is linked with
# (libsystemd0 only when built with it: the linker drops unused ones).
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
sonames=$(readelf -d "$tmp/root/usr/bin/caretaker" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
for so in libmosquitto.so.1 libsqlite3.so.0 libcjson.so.1 libmodbus.so.5; do
    echo "$sonames" | grep -qxF "$so" || fail "usr/bin/caretaker is not linked with $so: $sonames"
done
needed=adduser
for so in $sonames; do
    p=$(dpkg -S "*/$multiarch/$so" 2>/dev/null | sed -n '1s/:.*//p')
    [ -n "$p" ] || { fail "no installed package holds $so"; continue; }
    needed="$needed $p"
done
for p in $needed; do
    # Each entry is "name" or "name (>= version)", comma separated.
    echo ", $depends," | grep -qE ", $p( \([^)]*\))?," || fail "Depends lacks $p: $depends"
done
echo "$depends" | grep -q 'libasan\|libubsan' && fail "Depends names a sanitizer runtime: $depends"

# Files a box needs, compared with their sources.
cmp -s "$tmp/root/usr/bin/caretaker" /dev/null && fail "usr/bin/caretaker is empty"
[ -x "$tmp/root/usr/bin/caretaker" ] || fail "no executable usr/bin/caretaker"
# The release hardening (cmake/hardening.cmake) survives into the stripped, packaged binary.
sh "$(dirname "$0")/check_hardening.sh" "$tmp/root/usr/bin/caretaker" || failed=1
cmp -s "$src/systemd/caretaker.service" "$tmp/root/lib/systemd/system/caretaker.service" ||
    fail "lib/systemd/system/caretaker.service differs from systemd/caretaker.service or is missing"
cmp -s "$src/config/example.json" "$tmp/root/etc/caretaker/caretaker.json" ||
    fail "etc/caretaker/caretaker.json differs from config/example.json or is missing"
for f in README.md deploy.md; do
    [ -s "$tmp/root/usr/share/doc/caretaker/$f" ] || fail "usr/share/doc/caretaker/$f missing"
done
# The unit's comment points there.
cmp -s "$src/systemd/caretaker.service.d/dtu-ports.conf.example" "$tmp/root/usr/share/doc/caretaker/dtu-ports.conf.example" ||
    fail "usr/share/doc/caretaker/dtu-ports.conf.example differs from systemd/caretaker.service.d/ or is missing"
# The dashboard, every file as in the source tree but the npm files, and the docs' screenshots.
for f in $(cd "$src/dashboard" && find . -type f ! -path './node_modules/*' ! -name 'package*.json'); do
    cmp -s "$src/dashboard/$f" "$tmp/root/usr/share/caretaker/dashboard/$f" || fail "dashboard $f missing or different"
done
for f in dispatch sites supervision; do
    [ -s "$tmp/root/usr/share/doc/caretaker/dashboard/$f.png" ] || fail "usr/share/doc/caretaker/dashboard/$f.png missing"
done
ndrivers=0
for f in $(cd "$src/drivers" && find . -name '*.json'); do
    ndrivers=$((ndrivers + 1))
    cmp -s "$src/drivers/$f" "$tmp/root/usr/share/caretaker/drivers/$f" || fail "driver $f missing or different"
done
[ $ndrivers -gt 0 ] || fail "no driver profiles found in $src/drivers"
# The unit runs the packaged binary on the packaged config.
exec_start=$(sed -n 's/^ExecStart=//p' "$src/systemd/caretaker.service")
# shellcheck disable=SC2086 # split into the program and its arguments
set -- $exec_start
[ -x "$tmp/root$1" ] || fail "ExecStart runs $1, which the package does not install"
[ -f "$tmp/root$4" ] || fail "ExecStart reads $4, which the package does not install"
# The binary looks for drivers where the package puts them.
help=$("$tmp/root/usr/bin/caretaker" --help 2>&1)
echo "$help" | grep -q '(default /usr/share/caretaker/drivers)' ||
    fail "packaged binary's default drivers directory is not /usr/share/caretaker/drivers: $help"
dpkg-deb -c "$deb" | awk '$2 != "root/root" { bad = 1; print "check_deb: not owned by root: " $0 } END { exit bad }' >&2 ||
    failed=1

# Conffiles: exactly the config, so an upgrade never overwrites a site's edits.
[ "$(cat "$tmp/control/conffiles" 2>/dev/null)" = /etc/caretaker/caretaker.json ] ||
    fail "conffiles is not exactly /etc/caretaker/caretaker.json: $(cat "$tmp/control/conffiles" 2>/dev/null)"
for s in postinst prerm postrm; do
    cmp -s "$src/packaging/$s" "$tmp/control/$s" || fail "control/$s differs from packaging/$s or is missing"
    [ -x "$tmp/control/$s" ] || fail "control/$s is not executable"
    sh -n "$tmp/control/$s" || fail "control/$s: syntax error"
done
grep -q 'adduser --system --group --home /var/lib/caretaker' "$tmp/control/postinst" || fail "postinst does not create the user"
grep -q 'usermod -aG dialout caretaker' "$tmp/control/postinst" || fail "postinst does not add the user to dialout"

[ $failed -eq 0 ] && echo "check_deb: $deb: $(dpkg-deb -f "$deb" Version), Depends: $depends"
exit $failed
