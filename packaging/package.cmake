# Install rules and the Debian package (CPack DEB): the programs, the default
# config as a conffile, the systemd unit of the server and the maintainer
# scripts that create its user and token. scripts/package.sh builds it in one
# command; the paths in the unit follow CMAKE_INSTALL_PREFIX, and the package
# uses the same prefix, so configure with -DCMAKE_INSTALL_PREFIX=/usr (as
# scripts/package.sh and scripts/build.sh do) for the Debian layout:
#   /usr/bin/chunkex-{server,client,gen}, /etc/chunkex/chunkex.json,
#   /usr/lib/systemd/system/chunkex-server.service.
include(GNUInstallDirs)

# chunkex-flood (hostile connections) and the bench tools stay out: they are
# for tests on one's own machine, not for a server's /usr/bin.
install(TARGETS chunkex-server chunkex-client chunkex-gen chunkex-sim chunkex-diff chunkex-report RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

set(CHUNKEX_BIN_DIR ${CMAKE_INSTALL_FULL_BINDIR})
set(CHUNKEX_CONFIG_DIR ${CMAKE_INSTALL_FULL_SYSCONFDIR}/chunkex) # /etc/chunkex for prefix /usr
set(CHUNKEX_CONFIG_PATH ${CHUNKEX_CONFIG_DIR}/chunkex.json)
set(CHUNKEX_TOKEN_PATH ${CHUNKEX_CONFIG_DIR}/token.env)
set(CHUNKEX_DOC_DIR ${CMAKE_INSTALL_FULL_DOCDIR})
if(NOT CHUNKEX_TOKEN_PATH STREQUAL "/etc/chunkex/token.env")
  # The maintainer scripts create and delete /etc/chunkex/token.env.
  message(STATUS "chunkex: install prefix ${CMAKE_INSTALL_PREFIX}: the unit reads the token from "
                 "${CHUNKEX_TOKEN_PATH}, but only a package built with prefix /usr creates it")
endif()

configure_file(${CMAKE_CURRENT_LIST_DIR}/chunkex-server.service.in
               ${CMAKE_BINARY_DIR}/packaging/chunkex-server.service @ONLY)
install(FILES configs/default.json DESTINATION ${CHUNKEX_CONFIG_DIR} RENAME chunkex.json)
install(FILES ${CMAKE_BINARY_DIR}/packaging/chunkex-server.service
        DESTINATION lib/systemd/system)
install(FILES README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME chunkex)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "simulator of peer-to-peer chunk exchange through a relay server")
string(CONCAT CPACK_PACKAGE_DESCRIPTION
       "Four peers each own a file, and a relay server runs the exchange in\n"
       "lock-step rounds until every peer holds every file, verified by SHA-256.\n"
       "Every component logs each event with a Lamport-style simulated clock, and\n"
       "the same inputs give byte-identical logs.\n"
       "This package holds chunkex-server with its systemd unit, chunkex-client,\n"
       "chunkex-gen, chunkex-sim (the whole exchange in one process), and\n"
       "chunkex-diff and chunkex-report to compare and draw runs.")
set(CPACK_PACKAGE_CONTACT "chunkex maintainers <maintainers@users.noreply.b-seed-5ac0335c.example>")
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT) # chunkex_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Runtime libraries come from dpkg-shlibdeps (libc6, libfmt9, libssl3,
# libstdc++6, libgcc-s1); adduser is for the postinst.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS adduser)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS systemd)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
file(WRITE ${CMAKE_BINARY_DIR}/packaging/conffiles "${CHUNKEX_CONFIG_PATH}\n")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_BINARY_DIR}/packaging/conffiles ${CMAKE_CURRENT_LIST_DIR}/postinst
    ${CMAKE_CURRENT_LIST_DIR}/prerm ${CMAKE_CURRENT_LIST_DIR}/postrm)
include(CPack)
