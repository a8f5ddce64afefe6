# One precompiled header (ATen), built once (on osor_model) and reused by every
# target, so a translation unit pays for the ATen headers only once per build.
set(OSOR_PCH_HEADER "${CMAKE_SOURCE_DIR}/model/aten_pch.h")

function(osor_use_torch target)
  target_link_libraries(${target} PUBLIC "${TORCH_LIBRARIES}")
  target_include_directories(${target} PUBLIC "${CMAKE_SOURCE_DIR}")
  if(target STREQUAL "osor_model")
    target_precompile_headers(${target} PRIVATE "${OSOR_PCH_HEADER}")
  else()
    target_precompile_headers(${target} REUSE_FROM osor_model)
  endif()
endfunction()
