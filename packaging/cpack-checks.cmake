# cpack-checks: refuses to package a tree whose compiled-in paths would not match the package's.
if(NOT CPACK_CARETAKER_DRIVERS_DIR STREQUAL "${CPACK_PACKAGING_INSTALL_PREFIX}/share/caretaker/drivers")
  message(FATAL_ERROR "caretaker: the binary looks for drivers in ${CPACK_CARETAKER_DRIVERS_DIR} but the "
          "package installs them in ${CPACK_PACKAGING_INSTALL_PREFIX}/share/caretaker/drivers. "
          "Configure a fresh build directory with -DCMAKE_INSTALL_PREFIX=/usr (see docs/deploy.md).")
endif()
if(NOT CPACK_PACKAGING_INSTALL_PREFIX STREQUAL "/usr")
  message(FATAL_ERROR "caretaker: the unit runs /usr/bin/caretaker; configure with -DCMAKE_INSTALL_PREFIX=/usr")
endif()
