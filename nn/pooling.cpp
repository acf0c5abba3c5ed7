#include "nn/pooling.h"

namespace ember::nn {

namespace {

// PyTorch prints what the user passed: one number, or a pair.
std::string size_str(Pair2 p) {
  if (p.h == p.w) return std::to_string(p.h);
  return "(" + std::to_string(p.h) + ", " + std::to_string(p.w) + ")";
}
const char* py_bool(bool b) { return b ? "True" : "False"; }

}  // namespace

std::string MaxPool2d::extra_repr() const {
  return "kernel_size=" + size_str(kernel_size) +
         ", stride=" + size_str(options.stride.value_or(kernel_size)) +
         ", padding=" + size_str(options.padding) + ", dilation=" + size_str(options.dilation) +
         ", ceil_mode=" + py_bool(options.ceil_mode);
}

std::string AvgPool2d::extra_repr() const {
  return "kernel_size=" + size_str(kernel_size) +
         ", stride=" + size_str(options.stride.value_or(kernel_size)) +
         ", padding=" + size_str(options.padding);
}

std::string AdaptiveAvgPool2d::extra_repr() const { return "output_size=" + size_str(output_size); }

std::string AdaptiveMaxPool2d::extra_repr() const { return "output_size=" + size_str(output_size); }

}  // namespace ember::nn
