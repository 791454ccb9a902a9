#!/bin/sh
# cross-build: builds Caretaker for an ARM box (arm64 or armhf) with Debian's cross compiler,
# runs the unit tests under qemu-user when it is installed, and makes the .deb.
# usage: tools/cross-build.sh arm64|armhf [BUILD_DIR]    (default BUILD_DIR: build-<arch>)
#
# The target's libraries come from Debian multiarch (apt-get install libmosquitto-dev:arm64 …).
# When apt cannot install them next to the build machine's own (multiarch needs the very same
# version of each library on both architectures, which a half-synced mirror or a newer
# security update on one side breaks), the same packages are downloaded and unpacked into
# BUILD_DIR/sysroot instead, and the build uses that.
set -eu
cd "$(dirname "$0")/.."

arch="${1:-}"
case "$arch" in
arm64) triplet=aarch64-linux-gnu qemu=qemu-aarch64 ;;
armhf) triplet=arm-linux-gnueabihf qemu=qemu-arm ;;
*)
    echo "usage: $0 arm64|armhf [BUILD_DIR]" >&2
    exit 2
    ;;
esac
mkdir -p "${2:-build-$arch}"
build=$(cd "${2:-build-$arch}" && pwd)
libs="libmosquitto-dev libsqlite3-dev libcjson-dev libmodbus-dev libsystemd-dev"
started=$(date +%s)
step() {
    echo "cross-build: [$(($(date +%s) - started)) s] $*" >&2
}
as_root() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "cross-build: needs root for: $*" >&2
        echo "  run it as root, or run: sudo $*" >&2
        exit 1
    fi
    "$@"
}
installed() {
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || return 1
    done
}

export DEBIAN_FRONTEND=noninteractive
if ! command -v "$triplet-gcc" >/dev/null; then
    step "installing the cross compiler"
    as_root apt-get install -y -q --no-install-recommends "gcc-$triplet" "libc6-dev-$arch-cross"
fi

target_libs=""
for p in $libs; do target_libs="$target_libs $p:$arch"; done
sysroot=""
added_arch=0
# shellcheck disable=SC2086
if ! installed $target_libs; then
    if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
        step "adding architecture $arch"
        as_root dpkg --add-architecture "$arch"
        added_arch=1
        as_root apt-get update -q || step "apt-get update reported errors; going on with the lists it has"
    fi
    step "installing$target_libs"
    # shellcheck disable=SC2086
    if ! as_root apt-get install -y -q --no-install-recommends $target_libs; then
        sysroot="$build/sysroot"
        step "multiarch install refused (see above); unpacking the $arch packages into $sysroot"
    fi
fi

if [ -n "$sysroot" ] && [ ! -f "$sysroot/.complete" ]; then
    # The libraries and everything they depend on, for the target architecture only, except
    # the C library and the compiler's runtime: those come with the cross compiler, and a
    # loader from one glibc build with a libc.so.6 from another does not run.
    # shellcheck disable=SC2086
    pkgs=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
        --no-replaces --no-enhances $target_libs | sed -n "s/^\([a-z0-9][a-z0-9.+-]*:$arch\)\$/\1/p" |
        grep -Ev "^(libc6|libc6-dev|libc-dev-bin|linux-libc-dev|libgcc-s1|gcc-12-base):" | sort -u)
    rm -rf "$sysroot" "$build/debs"
    mkdir -p "$sysroot" "$build/debs"
    # shellcheck disable=SC2086
    (cd "$build/debs" && apt-get download -q $pkgs)
    for deb in "$build"/debs/*.deb; do
        dpkg-deb -x "$deb" "$sysroot"
    done
    # Linker scripts and symlinks in the packages name /usr/lib/... absolutely; inside the
    # sysroot those must point into it.
    for f in "$sysroot/usr/lib/$triplet"/*.so; do
        if [ -L "$f" ]; then
            case "$(readlink "$f")" in
            /*) ln -sf "$sysroot$(readlink "$f")" "$f" ;;
            esac
        fi
    done
    touch "$sysroot/.complete"
elif [ -z "$sysroot" ] && [ -f "$build/sysroot/.complete" ]; then
    sysroot="$build/sysroot"
fi
# With a sysroot nothing of the architecture is installed: leave apt as it was, so a mirror's
# broken index for it cannot fail later `apt-get update`s.
if [ -n "$sysroot" ] && [ "$added_arch" = 1 ]; then
    as_root dpkg --remove-architecture "$arch"
    as_root apt-get update -q >/dev/null || true
fi

step "configuring $build"
cmake -S . -B "$build" -DCMAKE_TOOLCHAIN_FILE="cmake/toolchain-$triplet.cmake" \
    -DCARETAKER_SYSROOT="$sysroot" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_INSTALL_PREFIX=/usr \
    -DCARETAKER_BENCH=OFF >"$build.configure.log" 2>&1 || {
    cat "$build.configure.log" >&2
    exit 1
}
step "building"
cmake --build "$build" -j"$(nproc)"

if command -v "$qemu" >/dev/null; then
    step "running the unit tests under $qemu"
    (cd "$build" && ctest -L unit --output-on-failure -j"$(nproc)")
else
    step "$qemu not found (apt-get install qemu-user): unit tests not run"
fi

step "packaging"
cmake --build "$build" --target package
set -- "$build"/caretaker_*_"$arch".deb
dpkg-deb -I "$1" | sed -n 's/^ \(Package\|Version\|Architecture\|Depends\):/  \1:/p' >&2
step "done: $1"
