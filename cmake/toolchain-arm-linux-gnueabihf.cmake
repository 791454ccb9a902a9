# toolchain-arm-linux-gnueabihf: cross build for 32-bit ARMv7 boxes (Debian arch armhf). See docs/deploy.md.
set(CMAKE_SYSTEM_PROCESSOR arm)
set(CARETAKER_TRIPLET arm-linux-gnueabihf)
set(CARETAKER_DEB_ARCH armhf)
set(CARETAKER_QEMU qemu-arm)
# 64-bit file offsets, as on every 32-bit build that reads directories: without them readdir()
# fails with EOVERFLOW when the kernel hands out 64-bit directory offsets, which it does to
# qemu-arm on a 64-bit machine (no driver profile would be found there).
set(CARETAKER_CROSS_C_FLAGS "-D_FILE_OFFSET_BITS=64")
include(${CMAKE_CURRENT_LIST_DIR}/cross-debian.cmake)
