# The Debian package (CPack DEB): `bash scripts/package.sh` configures a build with
# CMAKE_INSTALL_PREFIX=/usr and runs cpack; see packaging/README.md.
#
#   /usr/bin/evergreen
#   /usr/lib/evergreen/runtime/{python,nodejs,java,executable}
#   /usr/include/greengrasssdk.h, /usr/lib/libaws-greengrass-core-sdk-c.so   (cc ... -laws-greengrass-core-sdk-c)
#   /usr/share/evergreen/examples/, /usr/share/evergreen/evergreen.default
#   /usr/lib/systemd/system/evergreen.service
#   /usr/share/doc/evergreen/{copyright,CHANGELOG.md,NOTICE,README.md,packaging-README.md}
#   /usr/share/man/man1/evergreen.1.gz
# Maintainer scripts: packaging/debian/{postinst,prerm,postrm}.

set(EVG_SERVICE_PREFIX /usr CACHE STRING "Prefix the systemd unit's ExecStart points into")
configure_file(${CMAKE_CURRENT_LIST_DIR}/evergreen.service.in
               ${CMAKE_BINARY_DIR}/packaging/evergreen.service @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/packaging/evergreen.service
        DESTINATION lib/systemd/system COMPONENT service)
install(FILES ${CMAKE_CURRENT_LIST_DIR}/evergreen.default
        DESTINATION ${CMAKE_INSTALL_DATADIR}/evergreen COMPONENT service)
install(FILES ${CMAKE_CURRENT_LIST_DIR}/copyright
        DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/evergreen COMPONENT service)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/CHANGELOG.md
              ${PROJECT_SOURCE_DIR}/NOTICE
        DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/evergreen COMPONENT service)
install(FILES ${CMAKE_CURRENT_LIST_DIR}/README.md RENAME packaging-README.md
        DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/evergreen COMPONENT service)
install(FILES ${CMAKE_CURRENT_LIST_DIR}/evergreen.1
        DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT service)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME evergreen)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "AWS IoT Greengrass v1 compatible core")
set(CPACK_PACKAGE_DESCRIPTION
    "Evergreen runs AWS IoT Greengrass v1 Lambda functions unmodified: an embedded MQTT broker, \
the v1 subscription router, the v1 SDK IPC server, a worker supervisor for Python, Node.js, Java \
and C functions, a durable cloud spooler, shadows and secrets.")
set(CPACK_PACKAGE_CONTACT "Evergreen maintainers <evergreen-maintainers@users.noreply.github.com>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://github.com/evergreen-iot/evergreen")
# Shared libraries (libc6, libstdc++6, libssl3, libsqlite3-0, libsystemd0, ...) from
# dpkg-shlibdeps; what the maintainer scripts and the runtimes call, by hand.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, passwd, python3 (>= 3.7), libarchive13, libsystemd0")  # dlopen()ed: src/functions, src/daemon
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "nodejs, default-jre-headless | java8-runtime-headless")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "mosquitto-clients, prometheus, gcc")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_CURRENT_LIST_DIR}/debian/postinst ${CMAKE_CURRENT_LIST_DIR}/debian/prerm
    ${CMAKE_CURRENT_LIST_DIR}/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
set(CPACK_STRIP_FILES ON)
include(CPack)
