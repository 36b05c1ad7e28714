# tools/install.cmake: what `cmake --install` puts where (GNUInstallDirs): the programs,
# libkq.a and its public headers, the pkg-config file kq.pc, the man pages, bash and zsh
# completions, and the editor plugins. Included last by the top CMakeLists.txt, once every
# target exists.

# The programs built in this tree (kqd only once tools/kqd.c exists).
set(KQ_INSTALL_PROGRAMS)
foreach(prog kq kq-index kqd)
  if(TARGET ${prog})
    list(APPEND KQ_INSTALL_PROGRAMS ${prog})
  endif()
endforeach()
install(TARGETS libkq ${KQ_INSTALL_PROGRAMS}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY ${CMAKE_SOURCE_DIR}/include/kq DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.h")

# kq.pc. libkq is static, so what it links goes in Requires.private and Libs.private,
# read from libkq's link interface: PkgConfig::X targets become the pkg-config modules
# they were found as, library files and plain names become -l flags.
set(KQ_PC_REQUIRES)
set(KQ_PC_LIBS_PRIVATE)
get_target_property(kq_pc_links libkq INTERFACE_LINK_LIBRARIES)
foreach(lib ${kq_pc_links})
  if(lib MATCHES "^PkgConfig::(.+)$")
    if(NOT ${CMAKE_MATCH_1}_MODULE_NAME)
      message(FATAL_ERROR "kq.pc: no pkg-config module name for ${lib}")
    endif()
    list(APPEND KQ_PC_REQUIRES ${${CMAKE_MATCH_1}_MODULE_NAME})
  elseif(lib STREQUAL "Threads::Threads")
    list(APPEND KQ_PC_LIBS_PRIVATE -pthread)
  elseif(lib MATCHES "^/.*/lib([^/]+)\\.(so|a)(\\..*)?$")
    list(APPEND KQ_PC_LIBS_PRIVATE -l${CMAKE_MATCH_1})
  elseif(lib MATCHES "^[A-Za-z0-9_+-]+$" AND NOT TARGET ${lib})
    list(APPEND KQ_PC_LIBS_PRIVATE -l${lib})
  else()
    message(FATAL_ERROR "kq.pc: do not know how to write libkq's dependency '${lib}'")
  endif()
endforeach()
list(REMOVE_DUPLICATES KQ_PC_REQUIRES)
list(REMOVE_DUPLICATES KQ_PC_LIBS_PRIVATE)
string(REPLACE ";" " " KQ_PC_REQUIRES "${KQ_PC_REQUIRES}")
string(REPLACE ";" " " KQ_PC_LIBS_PRIVATE "${KQ_PC_LIBS_PRIVATE}")
set(KQ_PC_VERSION ${PROJECT_VERSION})
foreach(d LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${d}}")
    set(KQ_PC_${d} "${CMAKE_INSTALL_${d}}")
  else()
    set(KQ_PC_${d} "\${prefix}/${CMAKE_INSTALL_${d}}")
  endif()
endforeach()
# The prefix is the one of `cmake --install` (which --prefix may change), so the file is
# written at install time; everything else is known now.
set(KQ_PC_PREFIX "@KQ_PC_PREFIX@")
configure_file(${CMAKE_CURRENT_LIST_DIR}/kq.pc.in ${CMAKE_BINARY_DIR}/kq.pc.in @ONLY)
install(CODE "set(KQ_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  configure_file(\"${CMAKE_BINARY_DIR}/kq.pc.in\" \"${CMAKE_BINARY_DIR}/kq.pc\" @ONLY)")
install(FILES ${CMAKE_BINARY_DIR}/kq.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# Man pages: tools/man/<name>.<section>, the version filled in.
set(KQ_VERSION ${PROJECT_VERSION})
file(GLOB kq_man_pages CONFIGURE_DEPENDS ${CMAKE_CURRENT_LIST_DIR}/man/*.[1-8])
foreach(page ${kq_man_pages})
  get_filename_component(name ${page} NAME)
  string(REGEX REPLACE "^.*\\.([1-8])$" "\\1" section ${name})
  configure_file(${page} ${CMAKE_BINARY_DIR}/man/${name} @ONLY)
  install(FILES ${CMAKE_BINARY_DIR}/man/${name} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
endforeach()

# Shell completions: one bash file serves the three programs (bash-completion loads it by
# the command's name); zsh's _kq names all three in its #compdef line.
foreach(prog kq kq-index kqd)
  install(FILES ${CMAKE_CURRENT_LIST_DIR}/completions/kq.bash
          DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME ${prog})
endforeach()
install(FILES ${CMAKE_CURRENT_LIST_DIR}/completions/_kq
        DESTINATION ${CMAKE_INSTALL_DATADIR}/zsh/site-functions)

# kqd's systemd units are templates to copy and edit (kqd.socket says how): examples.
foreach(unit kqd.socket kqd.service)
  if(EXISTS ${CMAKE_CURRENT_LIST_DIR}/${unit})
    install(FILES ${CMAKE_CURRENT_LIST_DIR}/${unit} DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
  endif()
endforeach()

# Editor plugins: Neovim's as an optional package (`:packadd kq`), Emacs's on the
# site-lisp load path.
install(DIRECTORY ${CMAKE_CURRENT_LIST_DIR}/editors/nvim/
        DESTINATION ${CMAKE_INSTALL_DATADIR}/nvim/site/pack/kq/opt/kq)
install(FILES ${CMAKE_CURRENT_LIST_DIR}/editors/emacs/kq.el
        DESTINATION ${CMAKE_INSTALL_DATADIR}/emacs/site-lisp)
