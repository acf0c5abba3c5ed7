# Warnings for ember's own targets. Third-party headers come in as SYSTEM
# include directories (imported targets), so -Werror applies to our code only.
function(ember_project_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow
    -Wnon-virtual-dtor -Wcast-align -Woverloaded-virtual -Wimplicit-fallthrough)
  # GCC 12 reports std::string concatenation as -Wrestrict overlap (GCC bug 105651).
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    target_compile_options(${target} PRIVATE -Wno-restrict)
  endif()
  if(EMBER_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
