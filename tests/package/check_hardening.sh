#!/bin/sh
# check_hardening: BINARY was built with the release hardening of cmake/hardening.cmake — a
# position-independent executable (ELF type DYN with the PIE flag), full RELRO (a GNU_RELRO
# segment and BIND_NOW), the stack protector (__stack_chk_fail imported) and FORTIFY_SOURCE
# (at least one checked libc call, __*_chk, imported). Reads only the dynamic symbols, so a
# stripped binary (the packaged one) is checked as well.
# usage: check_hardening.sh BINARY
set -u
bin="$1"
failed=0
fail() {
    echo "check_hardening: $bin: $*" >&2
    failed=1
}
command -v readelf >/dev/null || { echo "check_hardening: readelf missing (apt-get install binutils)" >&2; exit 1; }
[ -f "$bin" ] || { echo "check_hardening: $bin missing" >&2; exit 1; }

readelf -h "$bin" | grep -qE '^ *Type: +DYN ' || fail "not position-independent (ELF type is not DYN)"
dynamic=$(readelf -d "$bin")
echo "$dynamic" | grep -qE '\(FLAGS_1\).*\bPIE\b' || fail "no PIE in FLAGS_1 (a shared object, not a PIE executable?)"
echo "$dynamic" | grep -qE '\(BIND_NOW\)|\(FLAGS\).*\bBIND_NOW\b|\(FLAGS_1\).*\bNOW\b' ||
    fail "no BIND_NOW: the GOT stays writable (link with -z now)"
readelf -lW "$bin" | grep -q 'GNU_RELRO' || fail "no GNU_RELRO segment (link with -z relro)"
syms=$(readelf --dyn-syms -W "$bin")
echo "$syms" | grep -q ' __stack_chk_fail' || fail "no __stack_chk_fail: not built with the stack protector"
nchk=$(echo "$syms" | grep -cE ' __[a-z0-9_]+_chk(@|$)')
[ "$nchk" -gt 0 ] || fail "no __*_chk call: not built with _FORTIFY_SOURCE"
[ $failed -eq 0 ] && echo "check_hardening: $bin: PIE, full RELRO, stack protector, $nchk fortified calls"
exit $failed
