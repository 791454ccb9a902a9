# hardening: the compiler and linker flags every shipped build carries (Release, RelWithDebInfo,
# MinSizeRel; the .deb is RelWithDebInfo): a buffer overflow into the stack aborts instead of
# returning into it (-fstack-protector-strong), libc's string and memory calls check sizes
# known at compile time (_FORTIFY_SOURCE=2, which needs optimisation), the binary loads at a
# random address (PIE), and the relocations and GOT are read-only once loaded (full RELRO:
# -z relro with -z now, all symbols bound at start). Checked on the packaged binary by
# tests/package/check_hardening.sh.
# Not in the sanitized Debug build the tests use: FORTIFY needs -O and its checked calls hide
# the accesses ASan wants to see; the sanitizers catch more there anyway.
option(CARETAKER_HARDEN "Hardening flags in release builds (stack protector, FORTIFY, PIE, full RELRO)" ON)

if(CARETAKER_HARDEN AND NOT CARETAKER_SANITIZE AND CMAKE_BUILD_TYPE MATCHES "^(Release|RelWithDebInfo|MinSizeRel)$")
  # -U first: a compiler that already defines _FORTIFY_SOURCE (another level) would otherwise
  # warn about the redefinition, an error under -Werror.
  add_compile_options(-U_FORTIFY_SOURCE -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE)
  add_link_options(-pie LINKER:-z,relro LINKER:-z,now)
  message(STATUS "hardening: FORTIFY_SOURCE=2, stack protector, PIE, full RELRO")
endif()
