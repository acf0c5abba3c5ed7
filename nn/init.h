// nn::init: in-place initialisers with PyTorch's fan computations and gains.
// They run without recording a graph, so they work on parameters that require grad.
#pragma once

#include <string_view>
#include <utility>

#include "tensor/tensor.h"

namespace ember::nn::init {

// (fan_in, fan_out) of a weight: dims 1 and 0 times the receptive field (dims 2...).
std::pair<int64_t, int64_t> calculate_fan_in_and_fan_out(const Tensor& w);
// The recommended gain for a nonlinearity: linear, conv*, sigmoid 1; tanh 5/3; relu sqrt(2);
// leaky_relu sqrt(2 / (1 + slope^2)); selu 3/4.
double calculate_gain(std::string_view nonlinearity, double param = 0.01);

enum class FanMode { fan_in, fan_out };

Tensor& uniform_(Tensor& t, double a = 0.0, double b = 1.0);
Tensor& normal_(Tensor& t, double mean = 0.0, double std = 1.0);
Tensor& constant_(Tensor& t, double value);
Tensor& zeros_(Tensor& t);
Tensor& ones_(Tensor& t);
Tensor& xavier_uniform_(Tensor& t, double gain = 1.0);
Tensor& xavier_normal_(Tensor& t, double gain = 1.0);
Tensor& kaiming_uniform_(Tensor& t, double a = 0.0, FanMode mode = FanMode::fan_in,
                         std::string_view nonlinearity = "leaky_relu");
Tensor& kaiming_normal_(Tensor& t, double a = 0.0, FanMode mode = FanMode::fan_in,
                        std::string_view nonlinearity = "leaky_relu");
// Normal(mean, std) truncated to [a, b] (values redrawn until they fall inside).
Tensor& trunc_normal_(Tensor& t, double mean = 0.0, double std = 1.0, double a = -2.0,
                      double b = 2.0);

}  // namespace ember::nn::init
