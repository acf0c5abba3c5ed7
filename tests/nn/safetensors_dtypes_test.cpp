// safetensors with the dtypes of issue 16: BF16, F16, I32, I8 and U8 tensors in a file
// written byte by byte as Python's safetensors writes it load by name with their values,
// and ember writes them back under the same dtype names.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include <ember/ember.h>

namespace ember::nn {
namespace {

using ::testing::HasSubstr;

template <typename T>
void append(std::string& out, std::initializer_list<T> values) {
  for (T v : values) out.append(reinterpret_cast<const char*>(&v), sizeof v);
}

std::vector<double> values_of(const Tensor& t) {
  return t.to(DType::f64).to(Device::cpu()).to_vector<double>();
}

TEST(SafetensorsDTypes, LoadsAHandWrittenFileByName) {
  // Little-endian payloads: bf16 1.0, -2.5, 0.1 (0x3dcd, the nearest bf16); f16 1.0, 65504,
  // -0.5 and 2^-24 (the least subnormal); i32 -7, 100000; i8 -128, 0, 127; u8 0, 255.
  std::string data;
  append<uint16_t>(data, {0x3f80, 0xc020, 0x3dcd});
  append<uint16_t>(data, {0x3c00, 0x7bff, 0xb800, 0x0001});
  append<int32_t>(data, {-7, 100000});
  append<int8_t>(data, {-128, 0, 127});
  append<uint8_t>(data, {0, 255});
  std::string header = R"({"__metadata__":{"format":"pt"},)"
                       R"("w":{"dtype":"BF16","shape":[3],"data_offsets":[0,6]},)"
                       R"("h":{"dtype":"F16","shape":[2,2],"data_offsets":[6,14]},)"
                       R"("i":{"dtype":"I32","shape":[2],"data_offsets":[14,22]},)"
                       R"("c":{"dtype":"I8","shape":[3],"data_offsets":[22,25]},)"
                       R"("u":{"dtype":"U8","shape":[2],"data_offsets":[25,27]}})";
  while (header.size() % 8 != 0) header.push_back(' ');
  uint64_t n = header.size();
  std::string file(reinterpret_cast<const char*>(&n), 8);
  file += header + data;
  for (Device dev : {Device::cpu(), Device::sim()}) {
    SafetensorsFile f =
        parse_safetensors(reinterpret_cast<const uint8_t*>(file.data()), file.size(), dev);
    const StateDict& t = f.tensors;
    ASSERT_EQ(t.keys(), (std::vector<std::string>{"w", "h", "i", "c", "u"}));
    EXPECT_EQ(t.at("w").dtype(), DType::bf16);
    EXPECT_EQ(t.at("w").device(), dev);
    EXPECT_EQ(values_of(t.at("w")), (std::vector<double>{1.0, -2.5, 0.10009765625}));
    EXPECT_EQ(t.at("h").dtype(), DType::f16);
    EXPECT_EQ(t.at("h").sizes(), (Shape{2, 2}));
    EXPECT_EQ(values_of(t.at("h")), (std::vector<double>{1.0, 65504.0, -0.5, 0x1p-24}));
    EXPECT_EQ(t.at("i").dtype(), DType::i32);
    EXPECT_EQ(values_of(t.at("i")), (std::vector<double>{-7, 100000}));
    EXPECT_EQ(t.at("c").dtype(), DType::i8);
    EXPECT_EQ(values_of(t.at("c")), (std::vector<double>{-128, 0, 127}));
    EXPECT_EQ(t.at("u").dtype(), DType::u8);
    EXPECT_EQ(values_of(t.at("u")), (std::vector<double>{0, 255}));

    // Written back: the same dtype names and the same bytes.
    std::string again = serialize_safetensors(t);
    EXPECT_THAT(again, HasSubstr(R"("dtype":"BF16")"));
    EXPECT_THAT(again, HasSubstr(R"("dtype":"F16")"));
    EXPECT_THAT(again, HasSubstr(R"("dtype":"I32")"));
    EXPECT_THAT(again, HasSubstr(R"("dtype":"I8")"));
    EXPECT_THAT(again, HasSubstr(R"("dtype":"U8")"));
    SafetensorsFile g =
        parse_safetensors(reinterpret_cast<const uint8_t*>(again.data()), again.size());
    for (const std::string& name : t.keys()) {
      const Tensor a = t.at(name).to(Device::cpu()), b = g.tensors.at(name);
      ASSERT_EQ(a.dtype(), b.dtype()) << name;
      EXPECT_EQ(std::memcmp(a.raw_data(), b.raw_data(), a.numel() * a.element_size()), 0) << name;
    }
  }
}

// A size that does not match the dtype's width is still caught for the new dtypes.
TEST(SafetensorsDTypes, WrongByteCountNamesTheDtype) {
  std::string header = R"({"w":{"dtype":"BF16","shape":[3],"data_offsets":[0,4]}})";
  uint64_t n = header.size();
  std::string file(reinterpret_cast<const char*>(&n), 8);
  file += header + std::string(4, '\0');
  try {
    parse_safetensors(reinterpret_cast<const uint8_t*>(file.data()), file.size());
    ADD_FAILURE() << "accepted 4 bytes for 3 bf16 values";
  } catch (const ValueError& e) {
    EXPECT_THAT(e.what(), HasSubstr("of BF16"));
  }
}

}  // namespace
}  // namespace ember::nn
