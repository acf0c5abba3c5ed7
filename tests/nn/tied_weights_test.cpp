// Tied weights as PyTorch keeps them: one tensor under two names (a GPT's lm_head.weight is
// its tok_emb.weight). parameters() lists it once; state_dict() and loading use both names;
// safetensors writes it once and gives both keys back.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstring>
#include <filesystem>

#include <ember/ember.h>

namespace ember::nn {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// The smallest tied language model: embedding, a norm, a bias-free head sharing its matrix.
struct TinyLM : Module {
  Ptr<Embedding> tok_emb;
  Ptr<LayerNorm> ln_f;
  Ptr<Linear> lm_head;
  TinyLM() {
    tok_emb = register_module("tok_emb", Embedding::make(5, 3));
    ln_f = register_module("ln_f", LayerNorm::make({3}));
    lm_head = register_module("lm_head", Linear::make(3, 5, /*bias=*/false));
    lm_head->weight = lm_head->replace_parameter("weight", tok_emb->weight);
  }
  Tensor forward(const Tensor& idx) { return lm_head(ln_f(tok_emb(idx))); }
};

std::vector<std::string> names(const std::vector<std::pair<std::string, Tensor>>& v) {
  std::vector<std::string> out;
  for (const auto& [n, t] : v) out.push_back(n);
  return out;
}

TEST(TiedWeights, ListedOnceAsParametersUnderBothNamesInTheStateDict) {
  auto m = std::make_shared<TinyLM>();
  EXPECT_THAT(names(m->named_parameters()),
              ElementsAre("tok_emb.weight", "ln_f.weight", "ln_f.bias"));
  EXPECT_EQ(m->num_parameters(), 15 + 3 + 3);
  StateDict sd = m->state_dict();
  EXPECT_EQ(sd.keys(), (std::vector<std::string>{"tok_emb.weight", "ln_f.weight", "ln_f.bias",
                                                 "lm_head.weight"}));
  // Both entries view the same bytes, as torch's state_dict of a tied model.
  EXPECT_EQ(sd.at("tok_emb.weight").storage(), sd.at("lm_head.weight").storage());
}

TEST(TiedWeights, GradientsFromBothUsesAccumulateInTheOneTensor) {
  auto m = std::make_shared<TinyLM>();
  Tensor idx = from_vector(std::vector<int64_t>{1, 4, 1}, {3});
  m->forward(idx).sum().backward();
  Tensor g = m->tok_emb->weight.grad();
  ASSERT_TRUE(g.defined());
  EXPECT_TRUE(m->lm_head->weight.grad().is_same(g));
  // The head's use alone reaches every row; rows 1 and 4 also get the embedding's gradient,
  // so they differ from what the head alone gives.
  auto head_only = std::make_shared<TinyLM>();
  head_only->load_state_dict(m->state_dict());
  Tensor h = head_only->ln_f(head_only->tok_emb(idx).detach());
  head_only->lm_head(h).sum().backward();
  Tensor gh = head_only->tok_emb->weight.grad();
  EXPECT_TRUE(allclose(g.select(0, 0), gh.select(0, 0)));
  EXPECT_FALSE(allclose(g.select(0, 1), gh.select(0, 1)));
}

TEST(TiedWeights, SharedModulesAppearUnderEveryPrefix) {
  auto enc = Linear::make(2, 2);
  auto root = std::make_shared<Module>();
  root->register_module("a", enc);
  root->register_module("b", enc);
  EXPECT_THAT(names(root->named_parameters()), ElementsAre("a.weight", "a.bias"));
  EXPECT_EQ(root->state_dict().keys(),
            (std::vector<std::string>{"a.weight", "a.bias", "b.weight", "b.bias"}));
}

TEST(TiedWeights, StrictLoadNeedsBothNamesAsPyTorch) {
  auto src = std::make_shared<TinyLM>();
  auto dst = std::make_shared<TinyLM>();
  dst->load_state_dict(src->state_dict());
  EXPECT_TRUE(equal(dst->lm_head->weight, src->tok_emb->weight));

  // Only one of the two names: torch's strict load reports the other as missing.
  StateDict one = src->state_dict();
  one.erase("lm_head.weight");
  EXPECT_THAT([&] { dst->load_state_dict(one); },
              ::testing::ThrowsMessage<ValueError>(HasSubstr("missing keys [lm_head.weight]")));
  // Non-strict: the name that is there fills the one tensor.
  auto fresh = std::make_shared<TinyLM>();
  LoadResult r = fresh->load_state_dict(one, /*strict=*/false);
  EXPECT_THAT(r.missing_keys, ElementsAre("lm_head.weight"));
  EXPECT_TRUE(r.unexpected_keys.empty());
  EXPECT_TRUE(equal(fresh->lm_head->weight, src->tok_emb->weight));

  // Both names with different values: copied in state_dict order, so the last name wins.
  StateDict two = src->state_dict();
  two.insert("lm_head.weight", full({5, 3}, 7.0));
  dst->load_state_dict(two);
  EXPECT_TRUE(equal(dst->tok_emb->weight, full({5, 3}, 7.0)));
}

TEST(TiedWeights, ReplaceParameterErrors) {
  auto lin = Linear::make(2, 2);
  EXPECT_THAT([&] { lin->replace_parameter("nope", zeros({2})); },
              ::testing::ThrowsMessage<IndexError>(HasSubstr("no parameter named 'nope'")));
  Tensor x = randn({2, 2}).requires_grad_();
  EXPECT_THROW(lin->replace_parameter("weight", x * 2), ValueError);
}

TEST(TiedWeights, SafetensorsWritesTheTensorOnceAndLoadsBothKeys) {
  auto src = std::make_shared<TinyLM>();
  const std::string bytes = serialize_safetensors(src->state_dict());
  // One copy of the 5x3 matrix: 15 + 3 + 3 floats of data after the header.
  uint64_t head = 0;
  std::memcpy(&head, bytes.data(), 8);
  EXPECT_EQ(bytes.size() - 8 - head, (15u + 3 + 3) * 4);
  EXPECT_THAT(bytes.substr(8, head), HasSubstr(R"("lm_head.weight":"tok_emb.weight")"));

  SafetensorsFile f =
      parse_safetensors(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  EXPECT_EQ(f.tensors.size(), 4u);
  ASSERT_TRUE(f.tensors.contains("lm_head.weight"));
  EXPECT_TRUE(equal(f.tensors.at("lm_head.weight"), src->tok_emb->weight));
  EXPECT_EQ(f.metadata.at("lm_head.weight"), "tok_emb.weight");

  // Through a file and a strict load into a fresh model.
  auto path = std::filesystem::temp_directory_path() /
              ("ember_tied_" + std::to_string(::getpid()) + ".safetensors");
  save(*src, path.string());
  auto dst = std::make_shared<TinyLM>();
  LoadResult r = load(*dst, path.string());
  EXPECT_TRUE(r.ok());
  EXPECT_TRUE(equal(dst->tok_emb->weight, src->tok_emb->weight));
  EXPECT_TRUE(dst->lm_head->weight.is_same(dst->tok_emb->weight));
  std::filesystem::remove(path);
}

TEST(TiedWeights, SafetensorsKeepsUserMetadataAndCopiesPartialOverlaps) {
  Tensor w = randn({4, 2});
  StateDict d;
  d.insert("w", w);
  d.insert("alias", w.detach());
  d.insert("row", w.select(0, 1));  // overlaps w without being it: written as its own copy
  const std::string bytes = serialize_safetensors(d, {{"alias", "user value"}});
  SafetensorsFile f =
      parse_safetensors(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  // The user's metadata under the alias's name wins (as save_model), so the alias is dropped.
  EXPECT_EQ(f.metadata.at("alias"), "user value");
  EXPECT_FALSE(f.tensors.contains("alias"));
  EXPECT_TRUE(equal(f.tensors.at("row"), w.select(0, 1)));
}

}  // namespace
}  // namespace ember::nn
