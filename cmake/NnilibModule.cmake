# nnilib_module(): one library target per module, whose include roots the build enforces.
#
#   nnilib_module(<name> FOLDER <folder> [TORCH]
#                 HEADERS <public headers, relative to include/nnilib/<folder>>
#                 SOURCES <sources, relative to src/<folder>>
#                 [DEPS <targets whose public headers this module's public headers use>]
#                 [PRIVATE_DEPS <targets only its sources use>]
#                 [PACKAGES <find_dependency() arguments its users need, e.g. "ZLIB">])
#
# Defines nnilib_<name> (alias nnilib::<name>). Its public include root is
# <build>/include-roots/<name>: a directory holding nnilib/<folder>/<header> links to
# exactly the HEADERS, so a target sees the public headers of the modules it links and
# no others. Its sources also see their folder's private headers ("<folder>/x.h")
# through <build>/private-roots/<name>, which holds only src/<folder>. A source that
# includes a header its module may not see does not compile (tests/layering checks that
# it fails). TORCH: the module includes LibTorch (and reuses the shared PCH).
# docs/architecture.md draws the layers these links make.
#
# `cmake --install` puts a module's library, its public headers (exactly the HEADERS) and
# its CMake targets (nnilib-<name>-targets.cmake: nnilib::<name>) under the
# prefix; nnilibConfig.cmake (cmake/nnilibConfig.cmake.in) loads a component with the
# modules it links and find_dependency()s only their PACKAGES.
set(NNILIB_ROOTS_DIR ${PROJECT_BINARY_DIR}/include-roots)
set(NNILIB_PRIVATE_ROOTS_DIR ${PROJECT_BINARY_DIR}/private-roots)

function(nnilib_module name)
  cmake_parse_arguments(M "TORCH" "FOLDER" "HEADERS;SOURCES;DEPS;PRIVATE_DEPS;PACKAGES" ${ARGN})
  if(NOT M_FOLDER OR NOT M_SOURCES)
    message(FATAL_ERROR "nnilib_module(${name}): FOLDER and SOURCES are required")
  endif()
  set(target nnilib_${name})
  list(TRANSFORM M_SOURCES PREPEND ${CMAKE_CURRENT_SOURCE_DIR}/src/${M_FOLDER}/)
  add_library(${target} STATIC ${M_SOURCES})
  add_library(nnilib::${name} ALIAS ${target})

  # The public root: links to this module's headers only (rebuilt at every configure, so
  # a header taken out of HEADERS disappears from the root).
  set(root ${NNILIB_ROOTS_DIR}/${name})
  file(REMOVE_RECURSE ${root})
  file(MAKE_DIRECTORY ${root}/nnilib/${M_FOLDER})
  foreach(header IN LISTS M_HEADERS)
    set(file ${CMAKE_CURRENT_SOURCE_DIR}/include/nnilib/${M_FOLDER}/${header})
    if(NOT EXISTS ${file})
      message(FATAL_ERROR "nnilib_module(${name}): no public header ${file}")
    endif()
    file(CREATE_LINK ${file} ${root}/nnilib/${M_FOLDER}/${header} SYMBOLIC)
  endforeach()
  target_include_directories(${target} PUBLIC $<BUILD_INTERFACE:${root}>
                                              $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)

  # The private root: src/<folder> alone, as "<folder>/x.h".
  set(private_root ${NNILIB_PRIVATE_ROOTS_DIR}/${name})
  file(REMOVE_RECURSE ${private_root})
  file(MAKE_DIRECTORY ${private_root})
  file(CREATE_LINK ${CMAKE_CURRENT_SOURCE_DIR}/src/${M_FOLDER} ${private_root}/${M_FOLDER}
       SYMBOLIC)
  target_include_directories(${target} PRIVATE ${private_root})

  target_link_libraries(${target} PUBLIC ${M_DEPS} PRIVATE ${M_PRIVATE_DEPS}
                                                          $<BUILD_INTERFACE:nnilib_warnings>)
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${name})
  if(M_TORCH)
    nnilib_use_torch(${target})
    # Its public headers include torch: consumers compile against LibTorch too, here
    # through nnilib_torch, installed through LibTorch's own target `torch`, which the
    # package config finds (find_dependency(Torch)).
    target_link_libraries(${target} INTERFACE $<BUILD_INTERFACE:nnilib_torch>
                                              $<INSTALL_INTERFACE:torch>)
    list(APPEND M_PACKAGES Torch)
    if(NOT NNILIB_WITH_TORCH OR NNILIB_SANITIZE OR NNILIB_FUZZ)
      return()  # not built without LibTorch, so not installed
    endif()
  endif()

  # Installed: the library, its public headers, its targets; what the package config
  # needs to load it (the modules it links, the packages its users need).
  install(TARGETS ${target} EXPORT nnilib-${name}
          ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT devel)
  set(headers ${M_HEADERS})
  list(TRANSFORM headers PREPEND ${CMAKE_CURRENT_SOURCE_DIR}/include/nnilib/${M_FOLDER}/)
  install(FILES ${headers} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/nnilib/${M_FOLDER}
          COMPONENT devel)
  install(EXPORT nnilib-${name} NAMESPACE nnilib:: FILE nnilib-${name}-targets.cmake
          DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/nnilib COMPONENT devel)
  set(modules "")
  foreach(dep IN LISTS M_DEPS M_PRIVATE_DEPS)
    if(dep MATCHES "^nnilib_(.+)$" AND NOT dep STREQUAL "nnilib_httplib")
      list(APPEND modules ${CMAKE_MATCH_1})
    endif()
  endforeach()
  set_property(GLOBAL APPEND PROPERTY NNILIB_INSTALLED_MODULES ${name})
  set_property(GLOBAL PROPERTY NNILIB_MODULE_DEPS_${name} ${modules})
  set_property(GLOBAL PROPERTY NNILIB_MODULE_PACKAGES_${name} ${M_PACKAGES})
endfunction()

# Lets `target` (a test or benchmark of a module's internals) include the private headers
# of `module` ("<folder>/x.h").
function(nnilib_private_headers target module)
  target_include_directories(${target} PRIVATE ${NNILIB_PRIVATE_ROOTS_DIR}/${module})
endfunction()
