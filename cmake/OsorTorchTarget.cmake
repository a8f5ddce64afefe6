# One precompiled header (ATen), built once (on osor_pch) and reused by every target, so a translation unit pays
# for the ATen headers only once per build. osor_pch has one empty source that never changes: CMake lists every
# source's PCH options in its target's flags.make and rebuilds the .gch when that file changes, and GCC's .gch is
# not byte-reproducible, so a PCH owned by a globbing target (osor_model) was rebuilt whenever a .cpp was added
# and every cached compile missed.
set(OSOR_PCH_HEADER "${CMAKE_SOURCE_DIR}/model/aten_pch.h")

function(osor_use_torch target)
  target_link_libraries(${target} PUBLIC "${TORCH_LIBRARIES}")
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "EXECUTABLE")
    # The pip torch 2.x libraries export their own copy of std::filesystem (libtorch.so); listed before them,
    # libstdc++ is the one the dynamic linker binds (libtorch's remove_all jumps to a null pointer from here).
    target_link_options(${target} PRIVATE "LINKER:--push-state,--no-as-needed" "-lstdc++" "LINKER:--pop-state")
  endif()
  target_include_directories(${target} PUBLIC "${CMAKE_SOURCE_DIR}")
  if(target STREQUAL "osor_pch")
    target_precompile_headers(${target} PRIVATE "${OSOR_PCH_HEADER}")
  else()
    target_precompile_headers(${target} REUSE_FROM osor_pch)
  endif()
endfunction()
