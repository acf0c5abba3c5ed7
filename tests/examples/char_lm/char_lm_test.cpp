// examples/char_lm's pieces: the fortunes corpus, the byte vocabulary, the random windows,
// the GPT's tied head and shapes, the LSTM/GRU model's keys and carried state, and sampling.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "char_lm/data.h"
#include "char_lm/model.h"
#include "char_lm/rnn_model.h"
#include "char_lm/sample.h"

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

TEST(CharLm, RecurrentModelHasPyTorchKeysAndShapes) {
  RNNLM lstm({.vocab_size = 11, .cell = "lstm", .n_layer = 2, .hidden = 8});
  std::vector<std::string> names;
  for (const auto& [name, p] : lstm.named_parameters()) names.push_back(name);
  EXPECT_THAT(names, ::testing::ElementsAre("embed.weight", "rnn.weight_ih_l0", "rnn.weight_hh_l0",
                                            "rnn.bias_ih_l0", "rnn.bias_hh_l0", "rnn.weight_ih_l1",
                                            "rnn.weight_hh_l1", "rnn.bias_ih_l1", "rnn.bias_hh_l1",
                                            "head.weight", "head.bias"));
  EXPECT_EQ(lstm.state_dict().at("rnn.weight_ih_l0").sizes(), (Shape{32, 8}));
  RNNLM gru({.vocab_size = 11, .cell = "gru", .n_layer = 2, .hidden = 8});
  EXPECT_EQ(gru.state_dict().at("rnn.weight_hh_l1").sizes(), (Shape{24, 8}));
  EXPECT_EQ(gru.state_dict().at("head.weight").sizes(), (Shape{11, 8}));
  Tensor idx = from_vector(std::vector<int64_t>{1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(lstm.forward(idx).sizes(), (Shape{2, 3, 11}));
  EXPECT_EQ(gru.forward(idx).sizes(), (Shape{2, 3, 11}));
  EXPECT_THROW(RNNLM({.vocab_size = 11, .cell = "rnn"}), ValueError);
}

// Sampling feeds the prompt once and then one token per call: the carried state must give
// the logits that one pass over the whole sequence gives.
TEST(CharLm, RecurrentStepCarriesTheState) {
  for (const char* cell : {"lstm", "gru"}) {
    SCOPED_TRACE(cell);
    manual_seed(1);
    RNNLM net({.vocab_size = 7, .cell = cell, .n_layer = 2, .hidden = 6});
    Tensor all = from_vector(std::vector<int64_t>{3, 1, 4, 1, 5, 6}, {1, 6});
    auto [first, s1] = net.step(all.slice(1, 0, 4), RNNState{});
    auto [next, s2] = net.step(all.slice(1, 4, 5), s1);
    auto [last, s3] = net.step(all.slice(1, 5, 6), s2);
    Tensor whole = net.forward(all);  // (1, 6, 7)
    EXPECT_TRUE(allclose(first, whole.slice(1, 0, 4), 1e-5, 1e-6));
    EXPECT_TRUE(allclose(next, whole.slice(1, 4, 5), 1e-5, 1e-6));
    EXPECT_TRUE(allclose(last, whole.slice(1, 5, 6), 1e-5, 1e-6));
    EXPECT_FALSE(allclose(last, net.step(all.slice(1, 5, 6), RNNState{}).first));
  }
}

// top_k = 1 is greedy decoding whatever the generator draws; a larger k draws the same
// characters for the same seed and different ones for another seed.
TEST(CharLm, SamplingIsTopKMultinomialAndSeeded) {
  const Vocab vocab("abcdefghij ");
  for (const char* cell : {"gpt", "lstm"}) {
    SCOPED_TRACE(cell);
    manual_seed(2);
    std::shared_ptr<nn::Module> net;
    std::shared_ptr<RNNLM> rnn;
    Forward forward;
    if (std::string(cell) == "gpt") {
      auto gpt = std::make_shared<GPT>(GPTConfig{
          .vocab_size = vocab.size(), .context = 8, .n_layer = 1, .n_head = 2, .n_embd = 8});
      forward = [gpt](const Tensor& x) { return gpt->forward(x); };
      net = gpt;
    } else {
      rnn = std::make_shared<RNNLM>(RNNLMConfig{.vocab_size = vocab.size(), .hidden = 8});
      forward = [r = rnn](const Tensor& x) { return r->forward(x); };
      net = rnn;
    }
    SampleOptions o{.prompt = "abc", .chars = 12, .temperature = 1.0, .top_k = 1, .seed = 5};
    // greedy by hand: argmax of the last row, the whole sequence re-run each time
    std::vector<int64_t> tokens = vocab.encode("abc");
    for (int i = 0; i < 12; ++i) {
      const auto from = static_cast<ptrdiff_t>(std::max<int64_t>(0, std::ssize(tokens) - 8));
      std::vector<int64_t> w(tokens.begin() + (rnn ? 0 : from), tokens.end());
      Tensor logits = forward(from_vector(w, {1, std::ssize(w)}));
      tokens.push_back(logits.select(1, std::ssize(w) - 1).argmax(1).item<int64_t>());
    }
    EXPECT_EQ(sample(*net, forward, rnn.get(), 8, vocab, o), vocab.decode(tokens));
    o.top_k = 5;
    o.chars = 60;
    const std::string a = sample(*net, forward, rnn.get(), 8, vocab, o);
    EXPECT_EQ(a.size(), 63u);
    EXPECT_EQ(a.substr(0, 3), "abc");
    EXPECT_EQ(sample(*net, forward, rnn.get(), 8, vocab, o), a);
    o.seed = 6;
    EXPECT_NE(sample(*net, forward, rnn.get(), 8, vocab, o), a);
    o.top_k = 100;  // more than the vocabulary: all of it
    EXPECT_EQ(sample(*net, forward, rnn.get(), 8, vocab, o).size(), 63u);
  }
}

}  // namespace
}  // namespace char_lm
