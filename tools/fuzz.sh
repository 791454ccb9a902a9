#!/bin/sh
# fuzz: builds the libFuzzer targets with clang and runs each for SECONDS (default 60), growing
# its corpus in a scratch copy; a crash leaves its input in the scratch dir to add to the corpus.
#
#   tools/fuzz.sh [SECONDS [TARGET...]]      e.g. tools/fuzz.sh 120 expr rtuframe
#
# FUZZ_BUILD: the clang build directory (default build-fuzz). Exits 77 when clang cannot build
# a libFuzzer program here (ctest counts that as skipped, not passed).
set -eu
seconds=${1:-60}
[ $# -gt 0 ] && shift
top=$(cd "$(dirname "$0")/.." && pwd)
build=${FUZZ_BUILD:-$top/build-fuzz}
cc=${FUZZ_CC:-clang}

probe=$(mktemp -d /tmp/caretaker-fuzz-probe.XXXXXX)
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n);\n%s\n' \
    'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }' \
    >"$probe/p.c"
if ! "$cc" -fsanitize=fuzzer,address,undefined -o "$probe/p" "$probe/p.c" >/dev/null 2>&1; then
    rm -rf "$probe"
    echo "fuzz: $cc cannot build libFuzzer programs (Debian: clang and libclang-rt-14-dev); skipped" >&2
    exit 77
fi
rm -rf "$probe"

if [ $# -eq 0 ]; then
    set -- $(cd "$top/tests/fuzz" && ls fuzz_*.c | sed 's/^fuzz_//; s/\.c$//')
fi
targets=""
for name in "$@"; do targets="$targets fuzz_$name"; done

# Coverage instrumentation for every library the targets link, not only the target's own file:
# without it libFuzzer would be blind inside the parsers.
CC=$cc cmake -S "$top" -B "$build" -DCARETAKER_FUZZ=ON -DCARETAKER_SANITIZE=ON -DCARETAKER_BENCH=OFF \
    -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS=-fsanitize=fuzzer-no-link >/dev/null
# shellcheck disable=SC2086
cmake --build "$build" -j"$(nproc)" --target $targets >"$build/fuzz-build.log" 2>&1 ||
    { cat "$build/fuzz-build.log" >&2; exit 1; }

status=0
for name in "$@"; do
    bin="$build/tests/fuzz/fuzz_$name"
    work=$(mktemp -d /tmp/caretaker-fuzz-"$name".XXXXXX)
    cp -r "$top/tests/fuzz/corpus/$name/." "$work/"
    echo "fuzz $name: $seconds s"
    if ! (cd "$work" && "$bin" -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=1024 \
        "$work" >"$work.log" 2>&1); then
        echo "fuzz $name: FAILED, see $work.log and the crash-* file in $work" >&2
        grep -m 3 -E "ERROR|SUMMARY|runtime error" "$work.log" >&2 || true
        status=1
    else
        grep -E "^Done|#[0-9]+.*DONE" "$work.log" | tail -n 1
        rm -rf "$work" "$work.log"
    fi
done
exit $status
