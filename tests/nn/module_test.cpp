// nn::Module: registration, dotted names of injected nested modules, deduplication,
// cycles, train/eval, to(), freezing, apply, state dicts and pretty printing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <ember/ember.h>

namespace ember::nn {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::vector<std::string> names(const std::vector<std::pair<std::string, Tensor>>& items) {
  std::vector<std::string> out;
  for (const auto& [n, t] : items) out.push_back(n);
  return out;
}

// The seed document's modules, built by injection.
struct ImageEncoder : Module {
  std::shared_ptr<Conv2d> conv;
  std::shared_ptr<Linear> linear;
  ImageEncoder() {
    conv = register_module("conv", Conv2d::make(3, 64, 3));
    linear = register_module("linear", Linear::make(64 * 30 * 30, 128));
  }
};

struct TextDecoder : Module {
  virtual Tensor forward(const Tensor& encoded_image, const Tensor& text) = 0;
};

struct SimpleDecoder : TextDecoder {
  std::shared_ptr<Embedding> embedding;
  std::shared_ptr<Linear> linear;
  SimpleDecoder() {
    embedding = register_module("embedding", Embedding::make(100, 128));
    linear = register_module("linear", Linear::make(128, 100));
  }
  Tensor forward(const Tensor& encoded_image, const Tensor& text) override {
    return linear->forward(embedding->forward(text) + encoded_image.unsqueeze(1));
  }
};

struct Captioner : Module {
  std::shared_ptr<ImageEncoder> image_encoder;
  std::shared_ptr<TextDecoder> text_decoder;
  Captioner(std::shared_ptr<ImageEncoder> enc, std::shared_ptr<TextDecoder> dec) {
    image_encoder = register_module("image_encoder", std::move(enc));
    text_decoder = register_module("text_decoder", std::move(dec));
  }
};

TEST(Module, SeedExampleOneStateDictNamesAndShapes) {
  auto model = std::make_shared<Captioner>(std::make_shared<ImageEncoder>(),
                                           std::make_shared<SimpleDecoder>());
  StateDict sd = model->state_dict();
  std::vector<std::pair<std::string, Shape>> got;
  for (const auto& [k, t] : sd) got.emplace_back(k, t.sizes());
  std::vector<std::pair<std::string, Shape>> want = {{"image_encoder.conv.weight", {64, 3, 3, 3}},
                                                     {"image_encoder.conv.bias", {64}},
                                                     {"image_encoder.linear.weight", {128, 57600}},
                                                     {"image_encoder.linear.bias", {128}},
                                                     {"text_decoder.embedding.weight", {100, 128}},
                                                     {"text_decoder.linear.weight", {100, 128}},
                                                     {"text_decoder.linear.bias", {100}}};
  EXPECT_EQ(got, want);
}

struct Leaf : Module {
  Tensor w;
  Leaf() { w = register_parameter("w", randn({2, 2})); }
};

TEST(Module, DeepNestingGivesDottedNamesInRegistrationOrder) {
  auto root = std::make_shared<Module>();
  auto a = std::make_shared<Module>();
  auto b = std::make_shared<Module>();
  b->register_module("leaf", std::make_shared<Leaf>());
  a->register_module("b", b);
  a->register_parameter("bias", zeros({2}));
  root->register_module("a", a);
  root->register_buffer("steps", zeros({1}));
  // As PyTorch: module by module (named_modules order), each module's own tensors first.
  EXPECT_THAT(names(root->named_parameters()), ElementsAre("a.bias", "a.b.leaf.w"));
  EXPECT_THAT(names(root->named_buffers()), ElementsAre("steps"));
  std::vector<std::string> mods;
  for (auto& [n, m] : root->named_modules()) mods.push_back(n);
  EXPECT_THAT(mods, ElementsAre("", "a", "a.b", "a.b.leaf"));
  EXPECT_EQ(root->get_submodule("a.b.leaf")->name(), "Leaf");
  EXPECT_TRUE(root->get_parameter("a.b.leaf.w")
                  .is_same(std::dynamic_pointer_cast<Leaf>(root->get_submodule("a.b.leaf"))->w));
  EXPECT_THROW(root->get_submodule("a.c"), IndexError);
}

TEST(Module, SharedModulesAndTiedWeightsAreListedOnce) {
  auto encoder = std::make_shared<Leaf>();
  auto head1 = std::make_shared<Module>();
  auto head2 = std::make_shared<Module>();
  head1->register_module("enc", encoder);
  head2->register_module("enc", encoder);  // one encoder injected into two heads
  auto root = std::make_shared<Module>();
  root->register_module("head1", head1);
  root->register_module("head2", head2);
  Tensor tied = randn({3});
  root->register_parameter("p", tied);
  head2->register_parameter("tied", tied);  // the same tensor under a second name
  // root's own "p" comes first; "head2.tied" is p again and is not listed twice.
  EXPECT_THAT(names(root->named_parameters()), ElementsAre("p", "head1.enc.w"));
  EXPECT_EQ(root->parameters().size(), 2u);
  EXPECT_EQ(root->modules().size(), 4u);  // root, head1, enc, head2
  EXPECT_EQ(root->num_parameters(), 4 + 3);
}

TEST(Module, RegistrationErrors) {
  auto m = std::make_shared<Module>();
  m->register_parameter("w", zeros({1}));
  EXPECT_THROW(m->register_parameter("w", zeros({1})), ValueError);
  EXPECT_THROW(m->register_buffer("w", zeros({1})), ValueError);
  EXPECT_THROW(m->register_parameter("a.b", zeros({1})), ValueError);
  EXPECT_THROW(m->register_module("", std::make_shared<Module>()), ValueError);
  EXPECT_THROW(m->register_module("x", std::shared_ptr<Module>()), ValueError);
  Tensor x = randn({2}).requires_grad_();
  EXPECT_THROW(m->register_parameter("nonleaf", x * 2), ValueError);
}

TEST(Module, RegisteringIntoItsOwnSubtreeThrows) {
  auto a = std::make_shared<Module>();
  auto b = std::make_shared<Module>();
  a->register_module("b", b);
  EXPECT_THAT([&] { b->register_module("a", a); },
              ::testing::ThrowsMessage<ValueError>(HasSubstr("cycle")));
  EXPECT_THROW(a->register_module("self", a), ValueError);
}

TEST(Module, RegisterModuleReturnsTheTypedPointer) {
  auto m = std::make_shared<Module>();
  std::shared_ptr<Linear> lin = m->register_module("lin", Linear::make(2, 3));
  EXPECT_EQ(lin->out_features, 3);
  auto replaced = m->replace_module("lin", Linear::make(2, 5));
  EXPECT_EQ(std::dynamic_pointer_cast<Linear>(m->get_submodule("lin"))->out_features, 5);
  EXPECT_EQ(replaced->out_features, 5);
  EXPECT_THROW(m->replace_module("nope", Linear::make(1, 1)), IndexError);
}

TEST(Module, TrainAndEvalPropagate) {
  auto model = std::make_shared<Captioner>(std::make_shared<ImageEncoder>(),
                                           std::make_shared<SimpleDecoder>());
  model->eval();
  for (auto& m : model->modules()) EXPECT_FALSE(m->is_training());
  model->train();
  for (auto& m : model->modules()) EXPECT_TRUE(m->is_training());
}

TEST(Module, ToKeepsTheHandlesUsersHold) {
  auto lin = Linear::make(3, 2);
  Tensor w = lin->weight;  // a handle held outside the module
  std::vector<double> before = w.to_vector<double>();
  lin->to(DType::f64);
  EXPECT_EQ(w.dtype(), DType::f64);
  EXPECT_TRUE(w.is_same(lin->weight));
  EXPECT_TRUE(w.requires_grad());
  std::vector<double> after = w.to_vector<double>();
  ASSERT_EQ(before.size(), after.size());
  for (size_t i = 0; i < before.size(); ++i)
    EXPECT_FLOAT_EQ(static_cast<float>(before[i]), static_cast<float>(after[i]));
  EXPECT_THROW(lin->to(DType::i64), DTypeError);
  lin->to(Device::cpu());  // no-op move keeps everything
  EXPECT_TRUE(w.is_same(lin->weight));
}

TEST(Module, FreezingASubtree) {
  auto model = std::make_shared<Captioner>(std::make_shared<ImageEncoder>(),
                                           std::make_shared<SimpleDecoder>());
  int64_t total = model->num_parameters();
  model->image_encoder->requires_grad_(false);
  EXPECT_EQ(model->num_parameters(true), total - model->image_encoder->num_parameters());
  for (const Tensor& p : model->image_encoder->parameters()) EXPECT_FALSE(p.requires_grad());
  for (const Tensor& p : model->text_decoder->parameters()) EXPECT_TRUE(p.requires_grad());
}

TEST(Module, ZeroGradSetsToNoneOrZeroes) {
  auto lin = Linear::make(2, 2);
  Tensor x = randn({4, 2});
  lin->forward(x).sum().backward();
  ASSERT_TRUE(lin->weight.grad().defined());
  lin->zero_grad(false);
  for (double v : lin->weight.grad().to_vector<double>()) EXPECT_EQ(v, 0.0);
  lin->zero_grad();
  EXPECT_FALSE(lin->weight.grad().defined());
}

TEST(Module, ApplyVisitsChildrenBeforeParents) {
  auto model = std::make_shared<Captioner>(std::make_shared<ImageEncoder>(),
                                           std::make_shared<SimpleDecoder>());
  std::vector<std::string> order;
  model->apply([&](Module& m) { order.push_back(m.name()); });
  ASSERT_FALSE(order.empty());
  EXPECT_EQ(order.back(), "Captioner");
  EXPECT_EQ(order.size(), model->modules().size());
}

TEST(Module, StateDictRoundTripAndStrictErrors) {
  auto a = Linear::make(3, 2);
  auto b = Linear::make(3, 2);
  b->load_state_dict(a->state_dict());
  EXPECT_TRUE(equal(a->weight, b->weight));
  EXPECT_TRUE(equal(a->bias, b->bias));

  StateDict bad = a->state_dict();
  bad.erase("bias");
  bad.insert("extra", zeros({1}));
  bad.insert("weight", zeros({5, 5}));
  try {
    b->load_state_dict(bad);
    FAIL() << "strict load should throw";
  } catch (const ValueError& e) {
    EXPECT_THAT(e.what(), HasSubstr("missing keys [bias]"));
    EXPECT_THAT(e.what(), HasSubstr("unexpected keys [extra]"));
    EXPECT_THAT(e.what(), HasSubstr("weight: expected [2, 3], got [5, 5]"));
  }
  LoadResult r = b->load_state_dict(bad, /*strict=*/false);
  EXPECT_THAT(r.missing_keys, ElementsAre("bias"));
  EXPECT_THAT(r.unexpected_keys, ElementsAre("extra"));
  EXPECT_EQ(r.shape_mismatches.size(), 1u);
}

TEST(Module, NonPersistentBuffersStayOutOfTheStateDict) {
  auto m = std::make_shared<Module>();
  m->register_buffer("kept", ones({2}));
  m->register_buffer("scratch", ones({2}), /*persistent=*/false);
  EXPECT_EQ(m->state_dict().keys(), std::vector<std::string>{"kept"});
  EXPECT_EQ(m->buffers().size(), 2u);
}

TEST(Module, PrettyPrintLikePyTorch) {
  auto model = std::make_shared<Captioner>(std::make_shared<ImageEncoder>(),
                                           std::make_shared<SimpleDecoder>());
  std::string s = model->pretty_print();
  EXPECT_EQ(s,
            "Captioner(\n"
            "  (image_encoder): ImageEncoder(\n"
            "    (conv): Conv2d(3, 64, kernel_size=(3, 3), stride=(1, 1))\n"
            "    (linear): Linear(in_features=57600, out_features=128, bias=True)\n"
            "  )\n"
            "  (text_decoder): SimpleDecoder(\n"
            "    (embedding): Embedding(100, 128)\n"
            "    (linear): Linear(in_features=128, out_features=100, bias=True)\n"
            "  )\n"
            ")");
}

TEST(Containers, PyTorchNaming) {
  auto seq = Sequential::make({Linear::make(4, 8), ReLU::make(), Linear::make(8, 2)});
  EXPECT_THAT(names(seq->named_parameters()),
              ElementsAre("0.weight", "0.bias", "2.weight", "2.bias"));
  EXPECT_EQ(seq->forward(randn({5, 4})).sizes(), (Shape{5, 2}));

  auto root = std::make_shared<Module>();
  auto list = root->register_module(
      "layers", ModuleList::make({Linear::make(2, 2), Linear::make(2, 2, false)}));
  auto dict = root->register_module("heads", ModuleDict::make());
  dict->insert("query", Linear::make(2, 1));
  auto plist = root->register_module("scales", ParameterList::make());
  plist->append(ones({2}));
  auto pdict = root->register_module("extra", ParameterDict::make());
  pdict->insert("alpha", zeros({1}));
  EXPECT_THAT(names(root->named_parameters()),
              ElementsAre("layers.0.weight", "layers.0.bias", "layers.1.weight",
                          "heads.query.weight", "heads.query.bias", "scales.0", "extra.alpha"));
  EXPECT_EQ(list->at<Linear>(1)->in_features, 2);
  EXPECT_THROW(list->at<Conv2d>(0), ValueError);
  EXPECT_THROW((*list)[5], IndexError);
  EXPECT_TRUE((*pdict)["alpha"].requires_grad());
}

// ---- callable handles ----------------------------------------------------------------------

// A parent that holds its children as callable handles.
struct TwoLayer : UnaryModule {
  Ptr<Linear> fc1, fc2;
  TwoLayer() {
    fc1 = register_module("fc1", Linear::make(3, 4));
    fc2 = register_module("fc2", Linear::make(4, 2));
  }
  Tensor forward(const Tensor& x) override { return fc2(relu(fc1(x))); }
};

TEST(ModuleHandles, CallingAHandleIsForward) {
  manual_seed(2);
  Tensor x = randn({5, 3});
  auto lin = Linear::make(3, 4);
  EXPECT_TRUE(equal(lin(x), lin->forward(x)));
  auto conv = Conv2d::make(1, 2, 3, {.padding = 1});
  Tensor img = randn({2, 1, 6, 6});
  EXPECT_TRUE(equal(conv(img), conv->forward(img)));
  // Non-unary forwards: an embedding's indices, attention's three inputs.
  auto emb = Embedding::make(6, 3);
  Tensor idx = from_vector<int64_t>({1, 5, 0});
  EXPECT_TRUE(equal(emb(idx), emb->forward(idx)));
  auto mha = MultiheadAttention::make(4, 2);
  Tensor q = randn({3, 1, 4});
  EXPECT_TRUE(equal(std::get<0>(mha(q, q, q)), std::get<0>(mha->forward(q, q, q))));
  auto net = std::make_shared<TwoLayer>();
  EXPECT_TRUE(equal(net->forward(x), net->fc2->forward(relu(net->fc1->forward(x)))));
}

TEST(ModuleHandles, ConvertWhereSharedPtrsAreTaken) {
  auto lin = Linear::make(3, 4);
  std::shared_ptr<Linear> same = lin;
  std::shared_ptr<Module> base = lin;
  EXPECT_EQ(same.get(), lin.get());
  EXPECT_EQ(base.get(), lin.get());
  // Sequential takes std::shared_ptr<UnaryModule>; the result is callable too.
  auto seq = Sequential::make({lin, ReLU::make(), Linear::make(4, 2)});
  Tensor x = randn({2, 3});
  EXPECT_EQ(seq(x).sizes(), (Shape{2, 2}));
  EXPECT_TRUE(equal(seq(x), seq->forward(x)));
  EXPECT_EQ((*seq)[0].get(), lin.get());
  auto list = ModuleList::make({lin, seq});
  EXPECT_EQ(list->at<Linear>(0).get(), lin.get());
  // register_module returns the handle typed, shared with the tree.
  Module parent;
  Ptr<Linear> child = parent.register_module("child", lin);
  EXPECT_EQ(child.get(), lin.get());
  EXPECT_EQ(parent.get_submodule("child").get(), lin.get());
  Ptr<Module> empty;
  EXPECT_FALSE(empty);
}

}  // namespace
}  // namespace ember::nn
