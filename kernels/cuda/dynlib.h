// Opening the CUDA libraries ember calls only on a GPU (cuBLAS, cuDNN) with dlopen on
// first use, so that processes without a GPU never map them (kernels/cuda/cublas.cpp
// says why). Host code of the cuda build only.
#pragma once

#include <dlfcn.h>

#include <string>

#ifndef EMBER_CUDA_LIBDIR
#define EMBER_CUDA_LIBDIR ""
#endif

namespace ember::cuda_impl {

// dlopen(soname), then the CUDA toolkit's library folder of the build; null with *error
// set when neither loads.
inline void* open_cuda_library(const char* soname, std::string* error) {
  void* lib = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr && EMBER_CUDA_LIBDIR[0] != '\0')
    lib = dlopen((std::string(EMBER_CUDA_LIBDIR) + "/" + soname).c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* why = dlerror();
    *error = std::string("cannot load ") + soname + ": " + (why != nullptr ? why : "?");
  }
  return lib;
}

// *out = the function `name` of lib; false when it lacks it.
template <typename F>
bool resolve(void* lib, const char* name, F* out) {
  *out = reinterpret_cast<F>(dlsym(lib, name));
  return *out != nullptr;
}

}  // namespace ember::cuda_impl
