// examples/char_lm's pieces: the fortunes corpus, the byte vocabulary, the random windows,
// and the GPT's tied head and shapes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "char_lm/data.h"
#include "char_lm/model.h"

namespace char_lm {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

TEST(CharLm, LoadsDataFilesOnlyAndDropsSeparators) {
  fs::path dir = fs::temp_directory_path() / ("ember_fortunes_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "b") << "second\n%\nthird\n";
  std::ofstream(dir / "a") << "first\nline two\n%\n";
  std::ofstream(dir / "a.dat") << "index bytes";
  std::ofstream(dir / "a.u8") << "link";
  EXPECT_EQ(load_fortunes(dir.string()), "first\nline two\nsecond\nthird\n");
  fs::remove_all(dir);
  EXPECT_THAT([&] { load_fortunes(dir.string()); },
              ::testing::ThrowsMessage<ValueError>(HasSubstr("fortunes package")));
}

TEST(CharLm, VocabularyIsTheBytesSeen) {
  Vocab v("hello world");
  EXPECT_EQ(v.size(), 8);  // ' ', d, e, h, l, o, r, w
  EXPECT_EQ(v.encode("dew"), (std::vector<int64_t>{1, 2, 7}));
  EXPECT_EQ(v.decode(v.encode("lower")), "lower");
  EXPECT_THROW(v.encode("x"), ValueError);
}

TEST(CharLm, WindowsAreShiftedByOneAndFixedPerIndex) {
  auto tokens = std::make_shared<const std::vector<int64_t>>([] {
    std::vector<int64_t> t(1000);
    for (size_t i = 0; i < t.size(); ++i) t[i] = static_cast<int64_t>(i);
    return t;
  }());
  Windows w(tokens, 16, 100, 7);
  auto [x, y] = w.get_batch({3, 4, 3}).unpack<2>();
  ASSERT_EQ(x.sizes(), (Shape{3, 16}));
  EXPECT_TRUE(equal(y, x + 1));                        // the next character
  EXPECT_TRUE(equal(x.select(0, 0), x.select(0, 2)));  // same index, same window
  EXPECT_FALSE(equal(x.select(0, 0), x.select(0, 1)));
  EXPECT_TRUE(equal(x.select(0, 1).slice(0, 1, 16), x.select(0, 1).slice(0, 0, 15) + 1));
  EXPECT_THROW(Windows(tokens, 1000, 1, 0), ValueError);
}

TEST(CharLm, GptTiesItsHeadAndChecksTheContext) {
  GPT net({.vocab_size = 11, .context = 8, .n_layer = 2, .n_head = 2, .n_embd = 16});
  EXPECT_TRUE(net.lm_head->weight.is_same(net.wte->weight));
  // 12 C^2 + 13 C per block, the embeddings, ln_f; the head adds nothing.
  const int64_t C = 16;
  EXPECT_EQ(net.num_parameters(), 2 * (12 * C * C + 13 * C) + 11 * C + 8 * C + 2 * C);
  nn::StateDict sd = net.state_dict();
  EXPECT_TRUE(sd.contains("lm_head.weight"));
  EXPECT_TRUE(sd.contains("wte.weight"));
  Tensor idx = from_vector(std::vector<int64_t>{1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(net.forward(idx).sizes(), (Shape{2, 3, 11}));
  EXPECT_THROW(net.forward(zeros({1, 9}, {.dtype = DType::i64})), ValueError);
  EXPECT_THROW(GPT({.vocab_size = 11, .n_head = 3, .n_embd = 16}), ValueError);
}

TEST(CharLm, GptIsCausal) {
  manual_seed(0);
  GPT net({.vocab_size = 5, .context = 6, .n_layer = 1, .n_head = 2, .n_embd = 8});
  Tensor a = from_vector(std::vector<int64_t>{1, 2, 3, 4}, {1, 4});
  Tensor b = from_vector(std::vector<int64_t>{1, 2, 0, 0}, {1, 4});
  // The first two positions see only the first two tokens, which a and b share.
  EXPECT_TRUE(allclose(net.forward(a).slice(1, 0, 2), net.forward(b).slice(1, 0, 2), 1e-5, 1e-6));
  EXPECT_FALSE(allclose(net.forward(a).slice(1, 2, 4), net.forward(b).slice(1, 2, 4)));
}

}  // namespace
}  // namespace char_lm
