#!/bin/sh
# fuzz: builds the libFuzzer targets with clang and runs each for SECONDS (default 60), growing
# its corpus in a scratch copy; a crash leaves its input in the scratch dir to add to the corpus.
set -eu
seconds=${1:-60}
top=$(cd "$(dirname "$0")/.." && pwd)
build=${FUZZ_BUILD:-$top/build-fuzz}
CC=clang cmake -S "$top" -B "$build" -DCARETAKER_FUZZ=ON -DCARETAKER_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
status=0
for bin in "$build"/tests/fuzz/fuzz_*; do
    name=$(basename "$bin" | sed 's/^fuzz_//')
    work=$(mktemp -d /tmp/caretaker-fuzz-"$name".XXXXXX)
    cp -r "$top/tests/fuzz/corpus/$name/." "$work/"
    echo "fuzz $name: $seconds s"
    if ! (cd "$work" && "$bin" -max_total_time="$seconds" -max_len=65536 -timeout=10 "$work" >"$work.log" 2>&1); then
        echo "fuzz $name: FAILED, see $work.log and the crash-* file in $work" >&2
        status=1
    else
        tail -n 1 "$work.log"
        rm -rf "$work" "$work.log"
    fi
done
exit $status
