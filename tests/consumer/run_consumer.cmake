# cmake -P run_consumer.cmake with -D EMBER_BUILD_DIR, CONSUMER_SOURCE_DIR, PREFIX,
# CONSUMER_BUILD_DIR, CONFIG, GENERATOR, CXX_COMPILER (see consumer_test.cmake).
# Installs ember from EMBER_BUILD_DIR into PREFIX, builds the consumer project against
# it and runs it. Every step must succeed; the first failure stops with its output.
cmake_minimum_required(VERSION 3.25)

foreach(var EMBER_BUILD_DIR CONSUMER_SOURCE_DIR PREFIX CONSUMER_BUILD_DIR GENERATOR CXX_COMPILER)
  if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
    message(FATAL_ERROR "run_consumer.cmake: -D${var}=... is required")
  endif()
endforeach()
if(NOT CONFIG)
  set(CONFIG Release)
endif()

function(step what)
  message(STATUS "consumer: ${what}")
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "consumer: ${what} failed (${rc}):\n${out}")
  endif()
  message("${out}")
endfunction()

# Fresh folders: a stale install or cache could hide a broken install rule.
file(REMOVE_RECURSE "${PREFIX}" "${CONSUMER_BUILD_DIR}")

step("install ember into ${PREFIX}"
  ${CMAKE_COMMAND} --install "${EMBER_BUILD_DIR}" --prefix "${PREFIX}" --config "${CONFIG}")
# Installed headers are the API (cmake/EmberPublicHeaders.cmake): the umbrella header is
# there, internal headers are not. The consumer's build below proves the set compiles alone.
if(NOT EXISTS "${PREFIX}/include/ember/ember.h")
  message(FATAL_ERROR "consumer: ember/ember.h was not installed")
endif()
foreach(internal tensor/raw.h tensor/object_pool.h trainer/trainer_hooks.h
        kernels/cpu/cpu_backend.h kernels/cuda/backend.h)
  if(EXISTS "${PREFIX}/include/ember/${internal}")
    message(FATAL_ERROR "consumer: the internal header ${internal} was installed")
  endif()
endforeach()

step("configure the consumer"
  ${CMAKE_COMMAND} -S "${CONSUMER_SOURCE_DIR}" -B "${CONSUMER_BUILD_DIR}" -G "${GENERATOR}"
    "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}" "-DCMAKE_BUILD_TYPE=${CONFIG}"
    "-DCMAKE_PREFIX_PATH=${PREFIX}" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)

# Only the fresh install may satisfy find_package(ember), not some other ember on the
# machine (a system-wide install, a build tree in the package registry).
file(STRINGS "${CONSUMER_BUILD_DIR}/CMakeCache.txt" ember_dir REGEX "^ember_DIR:")
string(REGEX REPLACE "^ember_DIR:[A-Z]+=" "" ember_dir "${ember_dir}")
file(REAL_PATH "${PREFIX}" real_prefix)
file(REAL_PATH "${ember_dir}" real_ember_dir)
string(FIND "${real_ember_dir}/" "${real_prefix}/" at)
if(NOT at EQUAL 0)
  message(FATAL_ERROR "consumer: found ember in '${ember_dir}', not in the install at ${PREFIX}")
endif()

step("build the consumer"
  ${CMAKE_COMMAND} --build "${CONSUMER_BUILD_DIR}" --config "${CONFIG}")

find_program(consumer_exe ember_consumer
  PATHS "${CONSUMER_BUILD_DIR}" "${CONSUMER_BUILD_DIR}/${CONFIG}" NO_DEFAULT_PATH REQUIRED)
step("run ${consumer_exe}" "${consumer_exe}")
