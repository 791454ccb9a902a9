# packaging: what a box needs installed besides the binary and the drivers (the unit, the
# example config as /etc/caretaker/caretaker.json, the docs, the dashboard's files), and the CPack settings that make
# them caretaker_<version>-<release>_<arch>.deb. Build it: see docs/deploy.md.
set(CARETAKER_SYSTEMD_UNIT_DIR "/lib/systemd/system" CACHE PATH "Where the systemd unit is installed")
set(CARETAKER_CONFIG_DIR "/etc/caretaker" CACHE PATH "Where the site's config is installed")
set(CARETAKER_DEB_MAINTAINER "Caretaker maintainers <caretaker@example.org>"
    CACHE STRING "Maintainer field of the .deb")

install(FILES ${PROJECT_SOURCE_DIR}/systemd/caretaker.service DESTINATION ${CARETAKER_SYSTEMD_UNIT_DIR})
install(FILES ${PROJECT_SOURCE_DIR}/config/example.json DESTINATION ${CARETAKER_CONFIG_DIR}
        RENAME caretaker.json)
file(GLOB _caretaker_docs ${PROJECT_SOURCE_DIR}/docs/*.md)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/config/example.json ${_caretaker_docs}
        ${PROJECT_SOURCE_DIR}/systemd/caretaker.service.d/dtu-ports.conf.example
        DESTINATION ${CMAKE_INSTALL_DOCDIR})
# The docs' screenshots, beside the docs that show them (docs/dashboard.md).
install(DIRECTORY ${PROJECT_SOURCE_DIR}/docs/dashboard DESTINATION ${CMAKE_INSTALL_DOCDIR} FILES_MATCHING PATTERN "*.png")
# The reference dashboard: static files a site's mosquitto serves (http_dir) or a web server hosts.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/dashboard/ DESTINATION ${CMAKE_INSTALL_DATADIR}/caretaker/dashboard
        PATTERN "node_modules" EXCLUDE PATTERN "package.json" EXCLUDE PATTERN "package-lock.json" EXCLUDE)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME caretaker)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${CARETAKER_DEB_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "gateway from Modbus meters to SQLite and MQTT for residential estates")
set(CPACK_PACKAGE_DESCRIPTION
    "Caretaker polls Modbus RTU and TCP meters and controllers (sewage flow and level meters,\nelevator controllers), keeps every reading in SQLite and publishes readings and alerts\nover MQTT. It runs as the systemd service caretaker.service.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Debug info stays in the build tree; the boxes keep their SD card for readings.
set(CPACK_STRIP_FILES ON)
# The package's paths are absolute and the compiled-in drivers directory must match them, so
# the prefix is the one the tree was configured with (checked in packaging/cpack-checks.cmake).
set(CPACK_PACKAGING_INSTALL_PREFIX "${CMAKE_INSTALL_PREFIX}")
set(CPACK_CARETAKER_DRIVERS_DIR "${CARETAKER_DRIVERS_DIR}")
set(CPACK_PROJECT_CONFIG_FILE ${PROJECT_SOURCE_DIR}/packaging/cpack-checks.cmake)

# Maintainer scripts and conffiles; strict permissions give the scripts 0755 whatever the
# checkout's modes are.
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/conffiles ${PROJECT_SOURCE_DIR}/packaging/postinst
    ${PROJECT_SOURCE_DIR}/packaging/prerm ${PROJECT_SOURCE_DIR}/packaging/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

# postinst runs adduser. The libraries come from dpkg-shlibdeps, which reads the dpkg database
# of the build machine; a cross build against an unpacked sysroot has no such database, so
# there they are listed, with the versions built against as lower bounds.
if(CMAKE_CROSSCOMPILING)
  set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE ${CARETAKER_DEB_ARCH})
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS OFF)
  set(_deps "adduser" "libc6 (>= 2.34)"
      "libmosquitto1 (>= ${MOSQUITTO_VERSION})" "libsqlite3-0 (>= ${SQLITE_VERSION})"
      "libcjson1 (>= ${CJSON_VERSION})" "libmodbus5 (>= ${MODBUS_VERSION})")
  if(SYSTEMD_FOUND)
    list(APPEND _deps "libsystemd0")
  endif()
  list(JOIN _deps ", " CPACK_DEBIAN_PACKAGE_DEPENDS)
else()
  set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
  set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
endif()

include(CPack)

# The checks of the unit and the package, and the notify wrapper's test, live with the files
# above rather than in tests/CMakeLists.txt.
if(CARETAKER_TESTS)
  add_subdirectory(${PROJECT_SOURCE_DIR}/tests/package ${PROJECT_BINARY_DIR}/tests/package)
endif()
