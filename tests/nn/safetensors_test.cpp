// safetensors: round trips, module save/load, atomic writes, and corrupt files.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include <ember/ember.h>

namespace ember::nn {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

fs::path temp_dir() {
  fs::path d = fs::temp_directory_path() / ("ember_st_" + std::to_string(::getpid()));
  fs::create_directories(d);
  return d;
}

std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(Safetensors, RoundTripsEveryDtypeShapeAndMetadata) {
  StateDict d;
  d.insert("a.weight", randn({3, 4}));
  d.insert("b", randn({2}, {.dtype = DType::f64}));
  d.insert("ids", randint(-5, 5, {2, 2, 2}));
  d.insert("mask", rand({5}) > 0.5);
  d.insert("scalar", full({}, 7.5));
  d.insert("empty", zeros({0, 3}));
  d.insert("strided", randn({4, 3}).transpose(0, 1));  // saved contiguous
  fs::path p = temp_dir() / "all.safetensors";
  save_safetensors(p.string(), d, {{"format", "pt"}, {"epoch", "3"}});
  SafetensorsFile f = load_safetensors(p.string());
  EXPECT_EQ(f.tensors.keys(), d.keys());
  for (const auto& [k, t] : d) {
    const Tensor& u = f.tensors.at(k);
    EXPECT_EQ(u.dtype(), t.dtype()) << k;
    EXPECT_TRUE(equal(u, t)) << k;
  }
  EXPECT_EQ(f.metadata.at("format"), "pt");
  EXPECT_EQ(f.metadata.at("epoch"), "3");
  // Header length is a multiple of 8, so the data is aligned.
  std::string bytes = read_all(p);
  uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);
}

TEST(Safetensors, ModuleSaveAndLoad) {
  auto a = Sequential::make({Linear::make(4, 3), ReLU::make(), Linear::make(3, 2)});
  auto b = Sequential::make({Linear::make(4, 3), ReLU::make(), Linear::make(3, 2)});
  fs::path p = temp_dir() / "model.safetensors";
  save(*a, p.string());
  LoadResult r = load(*b, p.string());
  EXPECT_TRUE(r.ok());
  Tensor x = randn({5, 4});
  EXPECT_TRUE(equal(a->forward(x), b->forward(x)));
  auto other = Sequential::make({Linear::make(4, 3)});
  EXPECT_THAT(
      [&] { load(*other, p.string()); },
      ::testing::ThrowsMessage<ValueError>(HasSubstr("unexpected keys [2.weight, 2.bias]")));
}

TEST(Safetensors, FailedSaveLeavesTheExistingFileIntact) {
  fs::path dir = temp_dir();
  fs::path p = dir / "keep.safetensors";
  StateDict good;
  good.insert("w", ones({2}));
  save_safetensors(p.string(), good);
  std::string before = read_all(p);
  StateDict bad;
  bad.insert("w", zeros({3}));
  bad.insert("broken", Tensor());  // fails half way through
  EXPECT_THROW(save_safetensors(p.string(), bad), ValueError);
  EXPECT_EQ(read_all(p), before);
  EXPECT_THROW(save_safetensors((dir / "no_such_dir" / "x.safetensors").string(), good),
               ValueError);
  for (const auto& e : fs::directory_iterator(dir))
    EXPECT_EQ(e.path().filename().string().find(".tmp."), std::string::npos)
        << "left behind: " << e.path();
}

// Builds a file from a raw header and data, for the corrupt-file cases.
std::string make_file(const std::string& header, const std::string& data,
                      int64_t claimed_len = -1) {
  uint64_t n = claimed_len >= 0 ? static_cast<uint64_t>(claimed_len) : header.size();
  std::string out(reinterpret_cast<const char*>(&n), 8);
  return out + header + data;
}

void expect_corrupt(const std::string& bytes, const std::string& why) {
  try {
    parse_safetensors(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
    ADD_FAILURE() << "accepted a corrupt file (" << why << ")";
  } catch (const ValueError& e) {
    EXPECT_THAT(e.what(), HasSubstr(why));
  }
}

TEST(Safetensors, CorruptFilesAreErrorsNotCrashes) {
  const std::string f32x2(8, '\0');
  expect_corrupt("abc", "shorter than");
  expect_corrupt(make_file("{}", "", 1ll << 40), "exceeds the 100 MiB limit");
  expect_corrupt(make_file("{}", "", 1000), "runs past the end");
  expect_corrupt(make_file("{\"a\": ", ""), "not valid JSON");
  expect_corrupt(make_file("[1, 2]", ""), "not a JSON object");
  expect_corrupt(make_file(R"({"a": {"dtype": "F32", "shape": [2]}})", f32x2),
                 "needs dtype, shape and data_offsets");
  expect_corrupt(
      make_file(R"({"a": {"dtype": "Q7", "shape": [2], "data_offsets": [0, 8]}})", f32x2),
      "unsupported dtype");
  expect_corrupt(
      make_file(R"({"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}})", f32x2),
      "shape holds");
  expect_corrupt(
      make_file(R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 16]}})", f32x2),
      "fall outside");
  expect_corrupt(
      make_file(R"({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})", f32x2),
      "has 8 bytes for shape [3]");
  expect_corrupt(
      make_file(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})", f32x2),
      "does not start where");
  expect_corrupt(
      make_file(R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}})", f32x2),
      "no tensor covers");
  expect_corrupt(
      make_file(
          R"({"a": {"dtype": "F32", "shape": [4611686018427387904, 4], "data_offsets": [0, 8]}})",
          f32x2),
      "too large");
  expect_corrupt(make_file(R"({"a": {"dtype": "BOOL", "shape": [1], "data_offsets": [0, 1]}})",
                           std::string(1, '\x02')),
                 "neither 0 nor 1");
  expect_corrupt(make_file(R"({"__metadata__": {"k": 3}})", ""), "is not a string");
  // Every truncation of a valid file is refused cleanly.
  StateDict d;
  d.insert("w", randn({3, 2}));
  std::string good = serialize_safetensors(d, {{"m", "v"}});
  for (size_t cut = 0; cut < good.size(); ++cut) {
    std::string t = good.substr(0, cut);
    EXPECT_THROW(parse_safetensors(reinterpret_cast<const uint8_t*>(t.data()), t.size()),
                 ValueError)
        << "cut at " << cut;
  }
  EXPECT_THROW(load_safetensors("/nonexistent/file.safetensors"), ValueError);
}

}  // namespace
}  // namespace ember::nn
