# The public surface: the installed headers are exactly those include/ember/ember.h
# reaches through its `#include "..."` lines, followed transitively. A header no public
# header includes (tensor/raw.h, tensor/object_pool.h, trainer/trainer_hooks.h, the
# kernels' internals) stays private; making a header public means including it from a
# public one. Computed when installing, so it always follows the sources.

# Install scripts run with no policies set; include() gives this file its own policy scope.
cmake_policy(VERSION 3.25)

# Sets out_var to the root-relative paths reached from `entry` (root-relative), itself
# included. An include resolves against the includer's folder, then the root, then
# include/ (the build's include directories); one that resolves nowhere is an error, since
# an installed copy could not compile it.
function(ember_header_closure root entry out_var)
  set(todo "${entry}")
  set(seen "")
  while(todo)
    list(POP_FRONT todo header)
    if(header IN_LIST seen)
      continue()
    endif()
    list(APPEND seen "${header}")
    get_filename_component(dir "${header}" DIRECTORY)
    file(STRINGS "${root}/${header}" lines REGEX "^[ \t]*#[ \t]*include[ \t]*\"")
    foreach(line IN LISTS lines)
      string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*\"([^\"]+)\".*" "\\1" name "${line}")
      set(found "")
      foreach(candidate "${dir}/${name}" "${name}" "include/${name}")
        cmake_path(SET candidate NORMALIZE "${candidate}")
        if(EXISTS "${root}/${candidate}" AND NOT IS_DIRECTORY "${root}/${candidate}")
          set(found "${candidate}")
          break()
        endif()
      endforeach()
      if(NOT found)
        message(FATAL_ERROR "public header ${header} includes \"${name}\", which is not in the tree")
      endif()
      list(APPEND todo "${found}")
    endforeach()
  endwhile()
  list(SORT seen)
  set(${out_var} "${seen}" PARENT_SCOPE)
endfunction()

# Installs the closure of include/ember/ember.h under <prefix>/<includedir>: include/ember/X
# as ember/X, every other header as ember/<its path> (so "tensor/tensor.h" resolves with
# <includedir>/ember on the include path, as it does in the tree). Run by install(CODE).
function(ember_install_public_headers root includedir)
  ember_header_closure("${root}" include/ember/ember.h headers)
  foreach(header IN LISTS headers)
    if(header MATCHES "^include/(.*)$")
      set(dest "${CMAKE_MATCH_1}")
    else()
      set(dest "ember/${header}")
    endif()
    get_filename_component(dest_dir "${dest}" DIRECTORY)
    file(INSTALL "${root}/${header}" DESTINATION "${CMAKE_INSTALL_PREFIX}/${includedir}/${dest_dir}")
  endforeach()
endfunction()
