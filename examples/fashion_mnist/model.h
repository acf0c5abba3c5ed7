// A torchvision-style ResNet for 28x28 grey images, built from injected BasicBlocks:
//   conv1 (3x3, 1 -> 16) - bn1 - relu - layer1 (16) - layer2 (32, /2) - layer3 (64, /2)
//   - avgpool (1x1) - flatten - fc (64 -> 10)
// ~78 K parameters. Its state_dict keys are torchvision's (conv1.weight,
// bn1.running_mean, layer2.0.downsample.0.weight, fc.bias, ...), so weights move to a
// torchvision ResNet built with the same widths by name.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <ember/ember.h>

namespace fmnist {

using namespace ember;

// torchvision's initialisation: He normal (fan_out) for convolutions.
inline nn::Ptr<nn::Conv2d> conv(int64_t in, int64_t out, int64_t k, int64_t stride) {
  auto c = nn::Conv2d::make(in, out, k, {.stride = stride, .padding = k / 2, .bias = false});
  nn::init::kaiming_normal_(c->weight, 0.0, nn::init::FanMode::fan_out, "relu");
  return c;
}

// relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)); the shortcut is the identity, or
// downsample = Sequential(conv 1x1 with the stride, BatchNorm2d) when the shape changes.
class BasicBlock : public nn::UnaryModule {
 public:
  BasicBlock(int64_t in_planes, int64_t planes, int64_t stride) {
    conv1 = register_module("conv1", conv(in_planes, planes, 3, stride));
    bn1 = register_module("bn1", nn::BatchNorm2d::make(planes));
    relu = register_module("relu", nn::ReLU::make());
    conv2 = register_module("conv2", conv(planes, planes, 3, 1));
    bn2 = register_module("bn2", nn::BatchNorm2d::make(planes));
    if (stride != 1 || in_planes != planes)
      downsample =
          register_module("downsample", nn::Sequential::make({conv(in_planes, planes, 1, stride),
                                                              nn::BatchNorm2d::make(planes)}));
  }
  static nn::Ptr<BasicBlock> make(int64_t in_planes, int64_t planes, int64_t stride) {
    return std::make_shared<BasicBlock>(in_planes, planes, stride);
  }
  Tensor forward(const Tensor& x) override {  // (N, in, H, W) -> (N, planes, H/s, W/s)
    Tensor out = relu(bn1(conv1(x)));
    out = bn2(conv2(out));
    return relu(out + (downsample ? downsample(x) : x));
  }

  nn::Ptr<nn::Conv2d> conv1, conv2;
  nn::Ptr<nn::BatchNorm2d> bn1, bn2;
  nn::Ptr<nn::ReLU> relu;
  nn::Ptr<nn::Sequential> downsample;  // null for the identity
};

// The stages (layer1, layer2, ...) are built outside and injected: any blocks with one
// tensor in and out will do.
class ResNet : public nn::UnaryModule {
 public:
  // layers: one Sequential of blocks per stage; stem: conv1's output channels; features:
  // the last stage's channels (fc's input).
  ResNet(std::vector<nn::Ptr<nn::Sequential>> layers, int64_t in_channels, int64_t stem,
         int64_t features, int64_t num_classes) {
    conv1 = register_module("conv1", conv(in_channels, stem, 3, 1));
    bn1 = register_module("bn1", nn::BatchNorm2d::make(stem));
    relu = register_module("relu", nn::ReLU::make());
    for (size_t i = 0; i < layers.size(); ++i)
      stages.push_back(register_module("layer" + std::to_string(i + 1), layers[i]));
    avgpool = register_module("avgpool", nn::AdaptiveAvgPool2d::make(1));
    fc = register_module("fc", nn::Linear::make(features, num_classes));
  }
  Tensor forward(const Tensor& x) override {        // (N, 1, 28, 28) -> (N, 10) logits
    Tensor h = relu(bn1(conv1(x)));                 // (N, 16, 28, 28)
    for (const auto& stage : stages) h = stage(h);  // (N, 64, 7, 7)
    return fc(avgpool(h).flatten(1));               // (N, 64) -> (N, 10)
  }

  nn::Ptr<nn::Conv2d> conv1;
  nn::Ptr<nn::BatchNorm2d> bn1;
  nn::Ptr<nn::ReLU> relu;
  std::vector<nn::Ptr<nn::Sequential>> stages;
  nn::Ptr<nn::AdaptiveAvgPool2d> avgpool;
  nn::Ptr<nn::Linear> fc;
};

// The example's model: widths 16/32/64, one BasicBlock per stage, strides 1/2/2.
inline std::shared_ptr<ResNet> make_resnet(int64_t num_classes = 10) {
  std::vector<nn::Ptr<nn::Sequential>> layers;
  int64_t in = 16;
  for (auto [width, stride] : {std::pair<int64_t, int64_t>{16, 1}, {32, 2}, {64, 2}}) {
    layers.push_back(nn::Sequential::make({BasicBlock::make(in, width, stride)}));
    in = width;
  }
  return std::make_shared<ResNet>(std::move(layers), 1, 16, in, num_classes);
}

}  // namespace fmnist
