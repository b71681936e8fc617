# Shell completions where the shells look for them, and the Debian package.
# Included by the top CMakeLists.txt, after mq and its man page are installed.

# bash-completion loads completions/<command> from every $XDG_DATA_DIRS
# (/usr/local/share and /usr/share by default).
set(MQ_BASH_COMPLETION_DIR "${CMAKE_INSTALL_DATADIR}/bash-completion/completions"
    CACHE STRING "Where the bash completion goes (relative to the install prefix)")
# fish reads vendor_completions.d under its data directories.
set(MQ_FISH_COMPLETION_DIR "${CMAKE_INSTALL_DATADIR}/fish/vendor_completions.d"
    CACHE STRING "Where the fish completion goes (relative to the install prefix)")
# zsh: Debian's fpath holds /usr/share/zsh/vendor-completions for packages
# and /usr/local/share/zsh/site-functions for the rest, as upstream zsh
# does ($prefix/share/zsh/site-functions). Which one depends on the prefix
# at install time: cpack installs into /usr, a plain install into /usr/local.
set(MQ_ZSH_COMPLETION_DIR "auto"
    CACHE STRING "Where the zsh completion goes (relative to the install prefix); auto: by the prefix")

install(FILES completions/mq.bash DESTINATION ${MQ_BASH_COMPLETION_DIR} RENAME mq)
install(FILES completions/mq.fish DESTINATION ${MQ_FISH_COMPLETION_DIR})
if(MQ_ZSH_COMPLETION_DIR STREQUAL "auto")
  install(CODE [[
    if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
      set(mq_zsh_completion_dir "share/zsh/vendor-completions")
    else()
      set(mq_zsh_completion_dir "share/zsh/site-functions")
    endif()
  ]])
  install(FILES completions/_mq DESTINATION "\${mq_zsh_completion_dir}")
else()
  install(FILES completions/_mq DESTINATION ${MQ_ZSH_COMPLETION_DIR})
endif()

# cpack -G DEB: the dependencies are found by dpkg-shlibdeps from the
# libraries mq links (libpaho-mqtt1.3, librdkafka1, libsqlite3-0, libfmt9,
# libstdc++6, libc6, ...), so they are Debian's runtime packages by name.
set(CPACK_PACKAGE_NAME "mq")
set(CPACK_PACKAGE_VENDOR "mq")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "send, receive and inspect messages on memory, MQTT and Kafka queues")
set(CPACK_PACKAGE_DESCRIPTION
    "mq drives message queues from the shell: one interface over an embedded shared-memory queue, MQTT brokers and Kafka clusters. It prints what it receives as JSON Lines and never loses a message.")
set(CPACK_PACKAGE_CONTACT "mq maintainers <mq@localhost>")
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SECTION "net")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "bash-completion")
# Only what `cmake --install` puts in place: mq, its man page, completions.
set(CPACK_GENERATOR "DEB")
# cpack (and make install) take what is built rather than first building
# everything, test programs included: build mq, then package.
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY TRUE)
include(CPack)
