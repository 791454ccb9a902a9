# toolchain-aarch64-linux-gnu: cross build for arm64 boxes (Debian arch arm64). See docs/deploy.md.
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CARETAKER_TRIPLET aarch64-linux-gnu)
set(CARETAKER_DEB_ARCH arm64)
set(CARETAKER_QEMU qemu-aarch64)
include(${CMAKE_CURRENT_LIST_DIR}/cross-debian.cmake)
