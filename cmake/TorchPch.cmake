# nnilib_torch: an interface target that carries LibTorch as a *system*
# dependency (no warnings from its headers) plus the shared precompiled header.
#
# LibTorch headers take ~20 s per translation unit on 2 cores; the PCH brings
# that to ~10 s. It is built once (target nnilib_pch) and reused by every
# target that calls nnilib_use_torch().
add_library(nnilib_torch INTERFACE)
target_include_directories(nnilib_torch SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})
target_link_libraries(nnilib_torch INTERFACE ${TORCH_LIBRARIES})
target_compile_options(nnilib_torch INTERFACE ${TORCH_CXX_FLAGS})

if(NNILIB_USE_PCH)
  add_library(nnilib_pch OBJECT ${PROJECT_SOURCE_DIR}/cmake/pch.cpp)
  target_link_libraries(nnilib_pch PUBLIC nnilib_torch nnilib_warnings)
  target_precompile_headers(nnilib_pch PRIVATE ${PROJECT_SOURCE_DIR}/cmake/torch_pch.h)
endif()

# Make `target` include torch, reusing the shared PCH.
function(nnilib_use_torch target)
  # (Only in this build: an installed module's users get LibTorch's own target.)
  target_link_libraries(${target} PRIVATE $<BUILD_INTERFACE:nnilib_torch>)
  if(NNILIB_USE_PCH)
    target_precompile_headers(${target} REUSE_FROM nnilib_pch)
  endif()
endfunction()
