# One precompiled header (ATen), built once (on osor_model) and reused by every
# target, so a translation unit pays for the ATen headers only once per build.
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
  if(target STREQUAL "osor_model")
    target_precompile_headers(${target} PRIVATE "${OSOR_PCH_HEADER}")
  else()
    target_precompile_headers(${target} REUSE_FROM osor_model)
  endif()
endfunction()
