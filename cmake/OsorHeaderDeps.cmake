# Header-only dependencies (nlohmann/json, CLI11, doctest, Eigen) come from their installed packages (Debian:
# nlohmann-json3-dev, libcli11-dev, doctest-dev, libeigen3-dev). A machine that has neither the packages nor a
# network (the GPU machine of scripts/gpu_check.sh) points OSOR_VENDOR_INCLUDE_DIR at a copy of the headers made
# by scripts/bundle_header_deps.sh; the same target names are then defined over that folder.
set(OSOR_VENDOR_INCLUDE_DIR "" CACHE PATH
    "Folder holding nlohmann/, CLI/, doctest/ and Eigen/ headers, used for each package that is not installed")

# osor_header_package(<package> <target> <header> [find_package arguments...]): find_package, else an INTERFACE
# target <target> over the folder (vendor folder first) that holds <header>. A macro, so that the package's
# variables (e.g. doctest_FOUND) reach the caller.
macro(osor_header_package package target header)
  if(NOT TARGET ${target})
    find_package(${package} ${ARGN} QUIET)
  endif()
  if(NOT TARGET ${target})
    find_path(OSOR_${package}_INCLUDE_DIR ${header} HINTS "${OSOR_VENDOR_INCLUDE_DIR}" PATH_SUFFIXES eigen3)
    if(NOT OSOR_${package}_INCLUDE_DIR)
      message(FATAL_ERROR "${package} not found: install its package, or set OSOR_VENDOR_INCLUDE_DIR to a folder "
                          "holding ${header} (scripts/bundle_header_deps.sh makes one)")
    endif()
    add_library(${target} INTERFACE IMPORTED GLOBAL)
    set_target_properties(${target} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${OSOR_${package}_INCLUDE_DIR}")
    message(STATUS "${package}: no package found, headers from ${OSOR_${package}_INCLUDE_DIR}")
  endif()
endmacro()
