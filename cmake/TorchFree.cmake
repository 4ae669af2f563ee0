# Builds without LibTorch: NNILIB_WITH_TORCH=OFF (where LibTorch is absent), and the
# sanitizer builds NNILIB_FUZZ (libFuzzer, clang++) and NNILIB_SANITIZE (ASan + UBSan, gcc
# or clang), in which a LibTorch compiled without ASan must not be linked into a
# sanitized binary. Included by the top-level CMakeLists.txt instead of
# find_package(Torch): LibTorch is not looked for at all. Targets that need it are
# still defined (their CMakeLists are shared with the normal build) but are taken
# out of `all` (and out of `cmake --install`) by nnilib_exclude_torch_targets();
# building one fails at once.
# Scripts: scripts/fuzz.sh (build-fuzz/), scripts/sanitize.sh (build-asan/);
# tests/install/check_torch_free.sh (NNILIB_WITH_TORCH=OFF).

if(NNILIB_FUZZ AND NNILIB_SANITIZE)
  message(FATAL_ERROR "NNILIB_FUZZ and NNILIB_SANITIZE are separate builds: choose one")
endif()
if(NNILIB_FUZZ AND NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "NNILIB_FUZZ needs clang++ (libFuzzer): -DCMAKE_CXX_COMPILER=clang++")
endif()

# Normal variables shadow the cache options for this build only.
set(NNILIB_USE_PCH OFF)      # the PCH is LibTorch's
set(NNILIB_BUILD_BENCH OFF)  # benchmarks measure LibTorch training
set(TORCH_INCLUDE_DIRS "")   # nnilib_torch (cmake/TorchPch.cmake) stays an empty interface
set(TORCH_LIBRARIES "")
set(TORCH_CXX_FLAGS "")

if(NOT NNILIB_FUZZ AND NOT NNILIB_SANITIZE)
  message(STATUS "nnilib: build without LibTorch (NNILIB_WITH_TORCH=OFF)")
else()
  # Every translation unit of the build is instrumented (nnilib::core, the tests, the
  # fuzz targets); Debian's libraries (yaml-cpp, SQLite, zlib, cpp-httplib) are linked
  # as they are. A UBSan report aborts like an ASan one, so tests and fuzzers fail.
  set(_nnilib_san -fsanitize=address,undefined -fno-sanitize-recover=undefined
                  -fno-omit-frame-pointer)
  if(NNILIB_FUZZ)
    # Coverage for libFuzzer; the fuzz targets link -fsanitize=fuzzer (its main()).
    list(APPEND _nnilib_san -fsanitize=fuzzer-no-link)
  endif()
  add_compile_options(${_nnilib_san})
  add_link_options(-fsanitize=address,undefined)
  message(STATUS "nnilib: torch-free sanitizer build (${_nnilib_san})")
endif()

# Takes every target that links LibTorch (nnilib_torch), or depends on such a
# target (e.g. a test that runs fmnist-trial), out of `all`.
function(nnilib_exclude_torch_targets)
  set(targets "")
  set(dirs ${PROJECT_SOURCE_DIR})
  while(dirs)
    list(POP_FRONT dirs dir)
    get_property(t DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
    get_property(sub DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
    list(APPEND targets ${t})
    list(APPEND dirs ${sub})
  endwhile()

  set(torch nnilib_torch nnilib_pch)
  set(changed TRUE)
  while(changed)
    set(changed FALSE)
    foreach(target IN LISTS targets)
      if(target IN_LIST torch)
        continue()
      endif()
      get_target_property(links ${target} LINK_LIBRARIES)
      get_target_property(interface ${target} INTERFACE_LINK_LIBRARIES)
      get_target_property(deps ${target} MANUALLY_ADDED_DEPENDENCIES)
      foreach(dep IN LISTS links interface deps)
        string(REGEX REPLACE "^\\$<BUILD_INTERFACE:(.*)>$" "\\1" dep "${dep}")
        if(TARGET "${dep}")
          get_target_property(aliased ${dep} ALIASED_TARGET)
          if(aliased)
            set(dep ${aliased})
          endif()
        endif()
        if(dep IN_LIST torch)
          list(APPEND torch ${target})
          set(changed TRUE)
          break()
        endif()
      endforeach()
    endforeach()
  endwhile()

  set(excluded "")
  foreach(target IN LISTS torch)
    if(TARGET ${target} AND NOT target STREQUAL "nnilib_torch")
      set_property(TARGET ${target} PROPERTY EXCLUDE_FROM_ALL TRUE)
      list(APPEND excluded ${target})
    endif()
  endforeach()
  list(JOIN excluded " " excluded)
  message(STATUS "nnilib: needs LibTorch, not built: ${excluded}")
endfunction()
