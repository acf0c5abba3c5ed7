// One side's op-family Setup factories, each making nothing, for a program that links only
// the other library: workloads.cpp names both sides' factories, and such a program never
// calls the stubbed side's (libtorch_standalone stubs ember_side, ember_standalone
// torch_side). The list is workload.h's.
#pragma once

#include "workload.h"

#define EMBER_BENCH_STUB_SIDE(side)                        \
  namespace ember_bench::side {                            \
  Setup add(Dims, Dims) { return {}; }                     \
  Setup matmul(int64_t, int64_t, int64_t) { return {}; }   \
  Setup conv2d_fwdbwd(Dims, Dims, int64_t) { return {}; }  \
  Setup attention_fwdbwd(Dims, double) { return {}; }      \
  Setup adam_step(int64_t, int64_t) { return {}; }         \
  Setup sgd_momentum_step(int64_t, int64_t) { return {}; } \
  Setup seed_train_step(bool) { return {}; }               \
  Setup resnet_train_step() { return {}; }                 \
  Setup pool2d_fwdbwd(Dims, bool) { return {}; }           \
  Setup gpt_train_step() { return {}; }                    \
  }
