// examples/fashion_mnist's ResNet: torchvision's state_dict keys, ~78 K parameters, the
// shapes through the stages, and callable handles in its forward.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "fashion_mnist/model.h"

namespace fmnist {
namespace {

using ::testing::Contains;

TEST(FashionMnistModel, TorchvisionKeys) {
  auto net = make_resnet();
  std::vector<std::string> keys = net->state_dict().keys();
  for (const char* k :
       {"conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var",
        "bn1.num_batches_tracked", "layer1.0.conv1.weight", "layer1.0.bn1.running_mean",
        "layer1.0.conv2.weight", "layer1.0.bn2.num_batches_tracked", "layer2.0.conv1.weight",
        "layer2.0.downsample.0.weight", "layer2.0.downsample.1.running_var",
        "layer3.0.downsample.1.num_batches_tracked", "fc.weight", "fc.bias"})
    EXPECT_THAT(keys, Contains(k));
  // The identity shortcut of layer1 has no downsample; convolutions have no bias.
  for (const std::string& k : keys) {
    EXPECT_EQ(k.find("layer1.0.downsample"), std::string::npos) << k;
    EXPECT_FALSE(k.find("conv") != std::string::npos && k.ends_with(".bias")) << k;
  }
  EXPECT_EQ(net->state_dict().at("bn1.num_batches_tracked").dtype(), DType::i64);
  EXPECT_EQ(net->state_dict().at("layer2.0.downsample.0.weight").sizes(), (Shape{32, 16, 1, 1}));
}

TEST(FashionMnistModel, ParametersAndShapes) {
  manual_seed(0);
  auto net = make_resnet();
  // conv1 144 + bn 32; layer1 4608 + 64; layer2 13824 + 128 + 512 + 64;
  // layer3 55296 + 256 + 2048 + 128; fc 650.
  EXPECT_EQ(net->num_parameters(), 77'754);
  Tensor y = net->forward(randn({2, 1, 28, 28}));
  EXPECT_EQ(y.sizes(), (Shape{2, 10}));
  net->eval();
  Tensor x = randn({3, 1, 28, 28});
  EXPECT_TRUE(equal((*net)(x), net->forward(x)));
}

}  // namespace
}  // namespace fmnist
