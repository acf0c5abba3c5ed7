# Included by tests/CMakeLists.txt (not in sanitizer builds). Adds the ctest test
# `consumer_install`: install this build into <build>/consumer-prefix, then configure,
# build and run tests/consumer against it, as a project outside ember's tree would.
# The work is done by run_consumer.cmake, in script mode, so any failed step fails
# the test with that step's output.
add_test(NAME consumer_install
  COMMAND ${CMAKE_COMMAND}
    -DEMBER_BUILD_DIR=${PROJECT_BINARY_DIR}
    -DCONSUMER_SOURCE_DIR=${CMAKE_CURRENT_LIST_DIR}
    -DPREFIX=${PROJECT_BINARY_DIR}/consumer-prefix
    -DCONSUMER_BUILD_DIR=${PROJECT_BINARY_DIR}/consumer-build
    -DCONFIG=$<CONFIG>
    -DGENERATOR=${CMAKE_GENERATOR}
    -DCXX_COMPILER=${CMAKE_CXX_COMPILER}
    -P ${CMAKE_CURRENT_LIST_DIR}/run_consumer.cmake)
set_tests_properties(consumer_install PROPERTIES
  LABELS install
  TIMEOUT 600  # configures and builds a second project from scratch
  # Two runs of this test (ctest -j, repeated invocations) would share the folders.
  RESOURCE_LOCK ember_consumer_dirs)
