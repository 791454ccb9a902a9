# cross-debian: the shared part of the cross toolchain files — Debian's cross compiler for
# CARETAKER_TRIPLET, the target's libraries from Debian multiarch (/usr/lib/<triplet>), or from
# an unpacked sysroot when CARETAKER_SYSROOT is set, and qemu-user to run the unit tests.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_C_COMPILER ${CARETAKER_TRIPLET}-gcc)
set(CMAKE_LIBRARY_ARCHITECTURE ${CARETAKER_TRIPLET})

# try_compile() reads this file again in a fresh project: pass the sysroot on to it.
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES CARETAKER_SYSROOT)
if(NOT DEFINED CARETAKER_SYSROOT AND DEFINED ENV{CARETAKER_SYSROOT})
  set(CARETAKER_SYSROOT "$ENV{CARETAKER_SYSROOT}")
endif()
set(_root "${CARETAKER_SYSROOT}")

# pkg-config must see only the target's .pc files, never the build machine's.
set(CMAKE_C_FLAGS_INIT "${CARETAKER_CROSS_C_FLAGS}")

set(ENV{PKG_CONFIG_LIBDIR} "${_root}/usr/lib/${CARETAKER_TRIPLET}/pkgconfig:${_root}/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")
if(_root)
  set(ENV{PKG_CONFIG_SYSROOT_DIR} "${_root}")
  set(CMAKE_FIND_ROOT_PATH "${_root}")
  # The C library comes with the cross compiler; the sysroot adds the other libraries' headers
  # after it (pkg-config drops -I/usr/include as a system path, so it is named here).
  string(APPEND CMAKE_C_FLAGS_INIT " -idirafter ${_root}/usr/include")
endif()
# Libraries that the linked ones need in turn (libssl behind libmosquitto, liblzma and libzstd
# behind libsystemd) are only looked up, not linked: tell the linker where.
set(CMAKE_EXE_LINKER_FLAGS_INIT
    "-Wl,-rpath-link,${_root}/usr/lib/${CARETAKER_TRIPLET} -Wl,-rpath-link,${_root}/lib/${CARETAKER_TRIPLET}")

set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)

# ctest runs the target's test binaries through qemu-user when it is installed. The loader and
# libc come from Debian's cross libc (/usr/<triplet>); the other libraries from multiarch or
# the sysroot.
find_program(CARETAKER_QEMU_PATH ${CARETAKER_QEMU})
if(CARETAKER_QEMU_PATH)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${CARETAKER_QEMU_PATH} -L /usr/${CARETAKER_TRIPLET}
      -E "LD_LIBRARY_PATH=${_root}/usr/lib/${CARETAKER_TRIPLET}:${_root}/lib/${CARETAKER_TRIPLET}")
endif()
