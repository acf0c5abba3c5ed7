// Sets the OpenMP thread count for one test and restores it at the end of the scope.
#pragma once

#include <omp.h>

namespace ember::testing_threads {

struct Threads {
  int saved = omp_get_max_threads();
  explicit Threads(int n) { omp_set_num_threads(n); }
  ~Threads() { omp_set_num_threads(saved); }
  Threads(const Threads&) = delete;
  Threads& operator=(const Threads&) = delete;
};

}  // namespace ember::testing_threads
