# Warnings for ember's own targets. Third-party headers come in as SYSTEM
# include directories (imported targets), so -Werror applies to our code only.
function(ember_project_warnings target)
  # Host-compiler flags: CUDA sources get their own (see the top-level CMakeLists.txt).
  set(flags -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align -Woverloaded-virtual
    -Wimplicit-fallthrough)
  # GCC 12 reports std::string concatenation as -Wrestrict overlap (GCC bug 105651).
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    list(APPEND flags -Wno-restrict)
  endif()
  if(EMBER_WERROR)
    list(APPEND flags -Werror)
  endif()
  target_compile_options(${target} PRIVATE "$<$<COMPILE_LANGUAGE:CXX>:${flags}>")
endfunction()
