// The IDX reader of examples/fashion_mnist on small files it writes: good (plain and
// gzipped), another magic, truncated, trailing bytes, not gzip, missing; each error names
// the file and what is wrong.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "fashion_mnist/idx.h"

namespace fmnist {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

class Idx : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("ember_idx_test_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
            "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // The error message of f(), or "" when it does not throw an ember::Error.
  template <typename F>
  static std::string error_of(F f) {
    try {
      f();
    } catch (const ember::Error& e) {
      return e.what();
    }
    return "";
  }

  // 2 images of 2x3 and their labels.
  const std::vector<uint8_t> pixels_ = {0, 51, 255, 102, 3, 7, 9, 11, 13, 200, 17, 19};
  const std::vector<uint8_t> labels_ = {3, 9};
  fs::path dir_;
};

TEST_F(Idx, ReadsPlainAndGzippedFiles) {
  for (const char* ext : {"", ".gz"}) {
    std::string img = path(std::string("img") + ext), lab = path(std::string("lab") + ext);
    write_idx(img, kIdxImagesMagic, {2, 2, 3}, pixels_);
    write_idx(lab, kIdxLabelsMagic, {2}, labels_);
    ember::Tensor x = read_idx_images(img);  // (2, 2, 3)
    EXPECT_EQ(x.sizes(), (ember::Shape{2, 2, 3})) << ext;
    EXPECT_EQ(x.dtype(), ember::DType::f32);
    EXPECT_FLOAT_EQ(x.select(0, 0).select(0, 0).select(0, 2).item<float>(), 1.0f);
    EXPECT_FLOAT_EQ(x.select(0, 1).select(0, 1).select(0, 0).item<float>(), 200.0f / 255.0f);
    ember::Tensor y = read_idx_labels(lab);
    EXPECT_EQ(y.dtype(), ember::DType::i64);
    EXPECT_EQ(y.select(0, 1).item<int64_t>(), 9);
  }
  // The gzipped file really is compressed (gzip's magic), so zlib did the reading.
  std::ifstream f(path("img.gz"), std::ios::binary);
  EXPECT_EQ(f.get(), 0x1f);
  EXPECT_EQ(f.get(), 0x8b);
}

TEST_F(Idx, WrongMagicIsNamed) {
  std::string p = path("swapped.gz");
  write_idx(p, kIdxLabelsMagic, {2}, labels_);
  std::string e = error_of([&] { read_idx_images(p); });
  EXPECT_THAT(e, HasSubstr(p));
  EXPECT_THAT(e, HasSubstr("magic number 0x00000801, expected 0x00000803"));
  write_idx(p, 0x00000d03, {2, 2, 3}, pixels_);  // f32 elements: not what the reader takes
  EXPECT_THAT(error_of([&] { read_idx_images(p); }), HasSubstr("0x00000d03"));
}

TEST_F(Idx, TruncatedDataIsNamed) {
  std::string p = path("short.gz");
  std::vector<uint8_t> fewer(pixels_.begin(), pixels_.end() - 5);
  write_idx(p, kIdxImagesMagic, {2, 2, 3}, fewer);
  std::string e = error_of([&] { read_idx_images(p); });
  EXPECT_THAT(e, HasSubstr(p));
  EXPECT_THAT(e, HasSubstr("truncated: the data needs 12 bytes, the file has 7"));
  // A file cut inside its header.
  write_idx(p, kIdxImagesMagic, {}, {});
  EXPECT_THAT(error_of([&] { read_idx_images(p); }), HasSubstr("truncated: the dims"));
  // An empty file.
  std::ofstream(path("empty")).close();
  EXPECT_THAT(error_of([&] { read_idx_labels(path("empty")); }),
              HasSubstr("truncated: the magic number"));
}

TEST_F(Idx, CorruptFilesAreNamed) {
  std::string p = path("long");
  std::vector<uint8_t> more = pixels_;
  more.push_back(1);
  write_idx(p, kIdxImagesMagic, {2, 2, 3}, more);
  EXPECT_THAT(error_of([&] { read_idx_images(p); }), HasSubstr("bytes after its 12 data bytes"));
  write_idx(p, kIdxImagesMagic, {2, 0, 3}, {});
  EXPECT_THAT(error_of([&] { read_idx_images(p); }), HasSubstr("dim 1 of size 0"));
  write_idx(p, kIdxLabelsMagic, {2}, {3, 10});  // 10 classes: labels 0..9
  EXPECT_THAT(error_of([&] { read_idx_labels(p); }), HasSubstr("label 10 at 1"));
  // A gzip stream whose compressed bytes are damaged.
  std::string gz = path("bad.gz");
  std::vector<uint8_t> big(4096);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<uint8_t>(i * 7 % 251);
  write_idx(gz, kIdxLabelsMagic, {4096}, big);
  std::fstream f(gz, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(20);
  for (int i = 0; i < 64; ++i) f.put(static_cast<char>(0xA5));
  f.close();
  std::string e = error_of([&] { read_idx_labels(gz, 256); });
  EXPECT_THAT(e, HasSubstr(gz));
  EXPECT_THAT(e, ::testing::AnyOf(HasSubstr("corrupt"), HasSubstr("truncated")));
}

TEST_F(Idx, MissingFileIsNamed) {
  std::string p = path("nope-ubyte.gz");
  std::string e = error_of([&] { read_idx_images(p); });
  EXPECT_THAT(e, HasSubstr(p));
  EXPECT_THAT(e, HasSubstr("no such file"));
}

}  // namespace
}  // namespace fmnist
