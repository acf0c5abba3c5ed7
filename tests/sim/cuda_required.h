// Tests of the cuda device skip, with a message, where there is no GPU, and fail there
// instead when EMBER_REQUIRE_CUDA=1 (scripts/gpu_check.sh sets it on a GPU machine).
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>

#include "tensor/backend.h"

namespace ember::simtest {
inline bool cuda_required() {
  const char* e = std::getenv("EMBER_REQUIRE_CUDA");
  return e != nullptr && e[0] == '1';
}
}  // namespace ember::simtest

#define EMBER_SKIP_WITHOUT_CUDA()                                                              \
  do {                                                                                         \
    if (!::ember::backend_available(::ember::DeviceType::cuda)) {                              \
      if (::ember::simtest::cuda_required())                                                   \
        FAIL() << "EMBER_REQUIRE_CUDA=1 but no cuda device is available";                      \
      GTEST_SKIP()                                                                             \
          << "no cuda device: ember was built without CUDA, or no GPU and driver are visible"; \
    }                                                                                          \
  } while (0)
