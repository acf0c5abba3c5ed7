// Philox on the GPU devices gives the cpu's numbers bit for bit, for the same seed and
// offset: every distribution, dtype and a size that spans several blocks.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "cuda_required.h"
#include "tensor/ops.h"
#include "tensor/raw.h"

namespace ember::simtest {
namespace {

template <typename T>
bool same_bits(const Tensor& a, const Tensor& b) {
  std::vector<T> x = a.cpu().to_vector<T>(), y = b.cpu().to_vector<T>();
  return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * sizeof(T)) == 0;
}

struct Draw {
  const char* name;
  RandomDist dist;
  DType dtype;
  double a, b;
};

class PhiloxOnDevice : public ::testing::TestWithParam<Device> {};

TEST_P(PhiloxOnDevice, MatchesTheCpuBitForBit) {
  const Device device = GetParam();
  if (device.is_cuda()) EMBER_SKIP_WITHOUT_CUDA();
  const Draw draws[] = {
      {"uniform f32", RandomDist::uniform, DType::f32, -2.0, 3.0},
      {"uniform f64", RandomDist::uniform, DType::f64, 0.0, 1.0},
      {"normal f32", RandomDist::normal, DType::f32, 1.0, 2.0},
      {"normal f64", RandomDist::normal, DType::f64, 0.0, 1.0},
      {"randint i64", RandomDist::randint, DType::i64, -50.0, 1000.0},
      {"randint f32", RandomDist::randint, DType::f32, 0.0, 10.0},
  };
  for (uint64_t seed : {0ull, 42ull, 0xDEADBEEFCAFEull}) {
    for (const Draw& d : draws) {
      Tensor c = raw::empty({3, 3001}, d.dtype, Device::cpu());
      Tensor g = raw::empty({3, 3001}, d.dtype, device);
      manual_seed(seed);
      raw::random_(c, d.dist, d.a, d.b);
      raw::random_(c, d.dist, d.a, d.b);  // a second op: offset 1
      manual_seed(seed);
      raw::random_(g, d.dist, d.a, d.b);
      raw::random_(g, d.dist, d.a, d.b);
      const bool same = d.dtype == DType::f32   ? same_bits<float>(c, g)
                        : d.dtype == DType::f64 ? same_bits<double>(c, g)
                                                : same_bits<int64_t>(c, g);
      // On a GPU, normal draws may differ in the last ulp of its f64 log and cos.
      if (device.is_cuda() && d.dist == RandomDist::normal) {
        EXPECT_TRUE(allclose(c, g.cpu(), 1e-6, 1e-6)) << d.name << " seed " << seed;
      } else {
        EXPECT_TRUE(same) << d.name << " seed " << seed;
      }
    }
  }
}

std::string device_name(const ::testing::TestParamInfo<Device>& p) {
  return p.param.is_cuda() ? "cuda" : "sim";
}

INSTANTIATE_TEST_SUITE_P(Devices, PhiloxOnDevice, ::testing::Values(Device::sim(), Device::cuda()),
                         device_name);

}  // namespace
}  // namespace ember::simtest
