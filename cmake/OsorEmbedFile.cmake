# Writes a C++ header that holds one file's bytes, so that a page (reports/gallery.html) is edited as a file of
# its own and still compiled into the binary: nothing to install or look for at run time. A build step, run as
#   cmake -DINPUT=<file> -DOUTPUT=<header> -DSYMBOL=<name> -P cmake/OsorEmbedFile.cmake
# The header defines `inline constexpr unsigned char <SYMBOL>[]` in namespace osor::embedded: the file's bytes,
# exactly, with no terminating NUL (sizeof is the file size). Bytes rather than a raw string literal: a literal
# would turn CR LF into LF and break on its own delimiter, an array takes any file as it is.
foreach(var INPUT OUTPUT SYMBOL)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "OsorEmbedFile.cmake: -D${var}=... is required")
  endif()
endforeach()
file(READ "${INPUT}" hex HEX)
if(hex STREQUAL "")
  message(FATAL_ERROR "${INPUT}: empty file, nothing to embed (a C++ array cannot be empty)")
endif()
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
# A line break after each newline byte: one header line per line of the file, not one line of tens of kB.
string(REPLACE "0x0a," "0x0a,\n" bytes "${bytes}")
string(REGEX REPLACE "\n$" "" bytes "${bytes}")
file(WRITE "${OUTPUT}"
     "// Generated at build time from ${INPUT} by cmake/OsorEmbedFile.cmake: edit that file, not this one.\n"
     "#pragma once\n\nnamespace osor::embedded {\n\ninline constexpr unsigned char ${SYMBOL}[] = {\n${bytes}\n};\n\n"
     "}  // namespace osor::embedded\n")
