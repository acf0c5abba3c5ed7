// Every kind of user mistake throws the right ember::Error subtype, and the message
// names the op and the offending shapes or values.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <typeinfo>

#include "ember/ember.h"

namespace ember {
namespace {

using ::testing::AllOf;
using ::testing::AnyOf;
using ::testing::HasSubstr;

std::string kind_name(const std::exception& e) {
  if (dynamic_cast<const ShapeError*>(&e)) return "ShapeError";
  if (dynamic_cast<const DTypeError*>(&e)) return "DTypeError";
  if (dynamic_cast<const DeviceError*>(&e)) return "DeviceError";
  if (dynamic_cast<const IndexError*>(&e)) return "IndexError";
  if (dynamic_cast<const ValueError*>(&e)) return "ValueError";
  if (dynamic_cast<const InternalError*>(&e)) return "InternalError";
  if (dynamic_cast<const Error*>(&e)) return "ember::Error";
  return std::string("non-ember exception ") + typeid(e).name();
}

// The message of the E that f throws; records a failure (and returns "") when f throws
// nothing or something else.
template <typename E, typename F>
std::string error_message(F&& f, const char* expected_kind) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected " << expected_kind << ", got " << kind_name(e) << ": " << e.what();
    return "";
  }
  ADD_FAILURE() << "expected " << expected_kind << ", nothing was thrown";
  return "";
}

#define EXPECT_EMBER_ERROR(Kind, stmt, ...)                               \
  do {                                                                    \
    SCOPED_TRACE(#stmt);                                                  \
    std::string msg_ = error_message<Kind>([&] { (void)(stmt); }, #Kind); \
    if (!msg_.empty()) {                                                  \
      EXPECT_THAT(msg_, AllOf(__VA_ARGS__));                              \
    }                                                                     \
  } while (0)

Tensor f32(const Shape& s) { return ones(s); }

// ---- shapes ----------------------------------------------------------------------------

TEST(Errors, BroadcastMismatchNamesOpAndBothShapes) {
  EXPECT_EMBER_ERROR(ShapeError, add(f32({2, 3}), f32({4})), HasSubstr("add"), HasSubstr("[2, 3]"),
                     HasSubstr("[4]"));
  EXPECT_EMBER_ERROR(ShapeError, f32({2, 3}) * f32({3, 2}), HasSubstr("mul"), HasSubstr("[2, 3]"),
                     HasSubstr("[3, 2]"));
  EXPECT_EMBER_ERROR(ShapeError, sub(f32({5}), f32({4})), HasSubstr("sub"), HasSubstr("[5]"),
                     HasSubstr("[4]"));
  EXPECT_EMBER_ERROR(ShapeError, maximum(f32({2, 3}), f32({2})), HasSubstr("maximum"),
                     HasSubstr("[2, 3]"));
  EXPECT_EMBER_ERROR(ShapeError, lt(f32({2, 3}), f32({2})), HasSubstr("lt"), HasSubstr("[2, 3]"),
                     HasSubstr("[2]"));
  EXPECT_EMBER_ERROR(ShapeError, pow(f32({3}), f32({2})), HasSubstr("pow"), HasSubstr("[3]"),
                     HasSubstr("[2]"));
  Tensor cond = ones({3}, {.dtype = DType::b8});
  EXPECT_EMBER_ERROR(ShapeError, where(cond, f32({2}), f32({2})), HasSubstr("where"),
                     HasSubstr("[3]"), HasSubstr("[2]"));
  EXPECT_EMBER_ERROR(ShapeError, masked_fill(f32({2, 3}), ones({4}, {.dtype = DType::b8}), 0.0),
                     HasSubstr("masked_fill"), HasSubstr("[2, 3]"), HasSubstr("[4]"));
}

TEST(Errors, InPlaceCannotGrowTheDestination) {
  Tensor a = f32({3});
  EXPECT_EMBER_ERROR(ShapeError, a.add_(f32({2, 3})), HasSubstr("add"), HasSubstr("[2, 3]"),
                     HasSubstr("[3]"));
  EXPECT_EMBER_ERROR(ShapeError, a.copy_(f32({4})), HasSubstr("copy_"), HasSubstr("[4]"),
                     HasSubstr("[3]"));
}

TEST(Errors, MatmulInnerDimMismatch) {
  EXPECT_EMBER_ERROR(ShapeError, matmul(f32({2, 3}), f32({4, 5})), HasSubstr("matmul"),
                     HasSubstr("[2, 3]"), HasSubstr("[4, 5]"));
  EXPECT_EMBER_ERROR(ShapeError, matmul(f32({3}), f32({4})), HasSubstr("matmul"), HasSubstr("[3]"),
                     HasSubstr("[4]"));
  EXPECT_EMBER_ERROR(ShapeError, f32({2, 3}).matmul(f32({2})), HasSubstr("matmul"),
                     HasSubstr("[2, 3]"), HasSubstr("[2]"));
  EXPECT_EMBER_ERROR(ShapeError, matmul(f32({2, 3, 4}), f32({3, 4, 5})), HasSubstr("matmul"),
                     HasSubstr("[2, 3, 4]"), HasSubstr("[3, 4, 5]"));
  EXPECT_EMBER_ERROR(ShapeError, matmul(f32({}), f32({3})), HasSubstr("matmul"), HasSubstr("[]"));
}

TEST(Errors, ViewOfIncompatibleShape) {
  EXPECT_EMBER_ERROR(ShapeError, f32({2, 3}).view({4, 2}), HasSubstr("view"), HasSubstr("[4, 2]"),
                     AnyOf(HasSubstr("[2, 3]"), HasSubstr("6")));
  EXPECT_EMBER_ERROR(ShapeError, f32({2, 3}).view({-1, 4}), HasSubstr("view"),
                     HasSubstr("[-1, 4]"));
  EXPECT_EMBER_ERROR(ShapeError, f32({2, 3}).view({-1, -1}), HasSubstr("view"),
                     HasSubstr("[-1, -1]"));
  EXPECT_EMBER_ERROR(ShapeError, f32({2, 3}).reshape({5}), HasSubstr("reshape"), HasSubstr("[5]"));
  // A transposed tensor's strides cannot be viewed as one flat dim (reshape copies instead).
  EXPECT_EMBER_ERROR(ShapeError, f32({2, 3}).t().view({6}), HasSubstr("view"), HasSubstr("[3, 2]"));
  EXPECT_EMBER_ERROR(ShapeError, f32({2, 3}).expand({4, 3}), HasSubstr("expand"),
                     HasSubstr("[2, 3]"), HasSubstr("[4, 3]"));
  EXPECT_EMBER_ERROR(ShapeError, f32({2, 3}).expand({3}), HasSubstr("expand"), HasSubstr("[2, 3]"),
                     HasSubstr("[3]"));
}

TEST(Errors, WritingIntoAnExpandedTensor) {
  // Several elements share one memory location: a write would race with itself.
  Tensor e = zeros({1, 3}).expand({2, 3});
  EXPECT_EMBER_ERROR(ValueError, e.copy_(ones({2, 3})), HasSubstr("copy_"), HasSubstr("[2, 3]"));
  EXPECT_EMBER_ERROR(ValueError, e.add_(ones({2, 3})), HasSubstr("add"), HasSubstr("[2, 3]"));
}

TEST(Errors, OtherBadViews) {
  EXPECT_EMBER_ERROR(Error, f32({2, 3, 4}).t(), HasSubstr("[2, 3, 4]"));
  EXPECT_EMBER_ERROR(ValueError, f32({2, 3}).view({-2, 3}), HasSubstr("view"), HasSubstr("-2"));
  float buf[6] = {};
  EXPECT_EMBER_ERROR(ShapeError, from_blob(buf, {2, 3}, Strides{1}, DType::f32),
                     HasSubstr("from_blob"), HasSubstr("[2, 3]"));
  EXPECT_EMBER_ERROR(DTypeError, ones({2}, {.dtype = DType::i64}).requires_grad_(),
                     HasSubstr("requires_grad_"), HasSubstr("i64"));
}

TEST(Errors, CatAndStack) {
  EXPECT_EMBER_ERROR(ShapeError, cat({f32({2, 3}), f32({2, 4})}, 0), HasSubstr("cat"),
                     HasSubstr("[2, 3]"), HasSubstr("[2, 4]"));
  EXPECT_EMBER_ERROR(ShapeError, cat({f32({2, 3}), f32({3})}, 0), HasSubstr("cat"),
                     HasSubstr("[2, 3]"), HasSubstr("[3]"));
  EXPECT_EMBER_ERROR(ShapeError, stack({f32({2, 3}), f32({3, 2})}, 0), HasSubstr("stack"),
                     HasSubstr("[2, 3]"), HasSubstr("[3, 2]"));
  // Mixed dtypes are not an error: cat promotes as PyTorch does (registry case cat/..f64..).
  EXPECT_EMBER_ERROR(ValueError, cat({}), HasSubstr("cat"));
  EXPECT_EMBER_ERROR(ValueError, stack({}), HasSubstr("stack"));
  EXPECT_EMBER_ERROR(IndexError, cat({f32({2, 3}), f32({2, 3})}, 2), HasSubstr("cat"),
                     HasSubstr("2"));
}

TEST(Errors, FromVectorWithWrongElementCount) {
  EXPECT_EMBER_ERROR(ShapeError, from_vector<float>({1.f, 2.f, 3.f}, {2, 2}),
                     HasSubstr("from_vector"), HasSubstr("3"), HasSubstr("[2, 2]"));
}

TEST(Errors, GatherAndScatterShapes) {
  Tensor idx = zeros({2}, {.dtype = DType::i64});
  EXPECT_EMBER_ERROR(ShapeError, gather(f32({2, 3}), 1, idx), HasSubstr("gather"), HasSubstr("[2]"),
                     HasSubstr("[2, 3]"));
  EXPECT_EMBER_ERROR(ShapeError, tril(f32({3})), HasSubstr("tril"), HasSubstr("[3]"));
  EXPECT_EMBER_ERROR(ShapeError, triu(f32({})), HasSubstr("triu"));
}

// ---- dims ------------------------------------------------------------------------------

TEST(Errors, DimOutOfRange) {
  Tensor x = f32({2, 3});
  EXPECT_EMBER_ERROR(IndexError, sum(x, {2}), HasSubstr("sum"), HasSubstr("2"));
  EXPECT_EMBER_ERROR(IndexError, mean(x, {-3}), HasSubstr("mean"), HasSubstr("-3"));
  EXPECT_EMBER_ERROR(IndexError, softmax(x, 2), HasSubstr("softmax"), HasSubstr("2"));
  EXPECT_EMBER_ERROR(IndexError, log_softmax(x, -3), HasSubstr("log_softmax"), HasSubstr("-3"));
  EXPECT_EMBER_ERROR(IndexError, x.transpose(0, 5), HasSubstr("transpose"), HasSubstr("5"));
  EXPECT_EMBER_ERROR(IndexError, x.unsqueeze(3), HasSubstr("unsqueeze"), HasSubstr("3"));
  EXPECT_EMBER_ERROR(IndexError, x.squeeze(4), HasSubstr("squeeze"), HasSubstr("4"));
  EXPECT_EMBER_ERROR(IndexError, max(x, 2), HasSubstr("max"), HasSubstr("2"));
  EXPECT_EMBER_ERROR(IndexError, argmin(x, -5), HasSubstr("argmin"), HasSubstr("-5"));
  EXPECT_EMBER_ERROR(IndexError, x.size(2), HasSubstr("2"));
  EXPECT_EMBER_ERROR(IndexError, x.flatten(0, 7), HasSubstr("flatten"), HasSubstr("7"));
  EXPECT_EMBER_ERROR(IndexError, chunk(x, 2, 2), HasSubstr("chunk"), HasSubstr("2"));
}

TEST(Errors, DuplicateDims) {
  Tensor x = f32({2, 3, 4});
  EXPECT_EMBER_ERROR(IndexError, sum(x, {0, 0}), HasSubstr("sum"), HasSubstr("[0, 0]"));
  EXPECT_EMBER_ERROR(IndexError, amax(x, {1, -2}), HasSubstr("amax"), HasSubstr("[1, -2]"));
  EXPECT_EMBER_ERROR(IndexError, x.permute({0, 0, 1}), HasSubstr("permute"),
                     HasSubstr("[0, 0, 1]"));
  EXPECT_EMBER_ERROR(Error, x.permute({0, 1}), HasSubstr("permute"), HasSubstr("[0, 1]"));
}

// ---- index values ------------------------------------------------------------------------

TEST(Errors, IndexOutOfRange) {
  Tensor x = f32({3, 4});
  EXPECT_EMBER_ERROR(IndexError, x.select(0, 3), HasSubstr("select"), HasSubstr("3"));
  EXPECT_EMBER_ERROR(IndexError, x.select(1, -5), HasSubstr("select"), HasSubstr("-5"));
  EXPECT_EMBER_ERROR(IndexError, x.narrow(0, 2, 5), HasSubstr("narrow"), HasSubstr("5"));
  EXPECT_EMBER_ERROR(IndexError, x.narrow(1, 5, 0), HasSubstr("narrow"), HasSubstr("5"));
  EXPECT_EMBER_ERROR(Error, x.narrow(1, 2, -1), HasSubstr("narrow"), HasSubstr("-1"));
  Tensor bad_rows = from_vector<int64_t>({0, 7, 1});
  EXPECT_EMBER_ERROR(IndexError, index_select(x, 0, bad_rows), HasSubstr("index_select"),
                     HasSubstr("7"));
  Tensor negative = from_vector<int64_t>({-1});
  EXPECT_EMBER_ERROR(IndexError, index_select(x, 1, negative), HasSubstr("index_select"),
                     HasSubstr("-1"));
  Tensor g = from_vector<int64_t>({0, 1, 9, 2, 0, 1, 2, 3, 0, 0, 0, 0}, {3, 4});
  EXPECT_EMBER_ERROR(IndexError, gather(x, 1, g), HasSubstr("gather"), HasSubstr("9"));
  EXPECT_EMBER_ERROR(IndexError, scatter_add(x, 1, g, f32({3, 4})), HasSubstr("scatter_add"),
                     HasSubstr("9"));
}

// ---- dtypes --------------------------------------------------------------------------------

TEST(Errors, WrongDType) {
  Tensor x = f32({3, 4});
  Tensor fidx = zeros({3, 4});
  EXPECT_EMBER_ERROR(DTypeError, gather(x, 1, fidx), HasSubstr("gather"), HasSubstr("f32"));
  EXPECT_EMBER_ERROR(DTypeError, index_select(x, 0, zeros({2})), HasSubstr("index_select"),
                     HasSubstr("f32"));
  EXPECT_EMBER_ERROR(DTypeError, scatter_add(x, 1, fidx, x), HasSubstr("scatter_add"),
                     HasSubstr("f32"));
  EXPECT_EMBER_ERROR(DTypeError, where(f32({3, 4}), x, x), HasSubstr("where"), HasSubstr("f32"));
  EXPECT_EMBER_ERROR(DTypeError, masked_fill(x, f32({3, 4}), 1.0), HasSubstr("masked_fill"),
                     HasSubstr("f32"));
  EXPECT_EMBER_ERROR(DTypeError, x.data_ptr<double>(), HasSubstr("data_ptr"), HasSubstr("f32"),
                     HasSubstr("f64"));
  Tensor i = ones({3, 4}, {.dtype = DType::i64});
  EXPECT_EMBER_ERROR(DTypeError, i.add_(x), HasSubstr("add"), HasSubstr("i64"), HasSubstr("f32"));
  EXPECT_EMBER_ERROR(DTypeError, mean(i), HasSubstr("mean"), HasSubstr("i64"));
  EXPECT_EMBER_ERROR(DTypeError, softmax(i, 0), HasSubstr("softmax"), HasSubstr("i64"));
  Tensor b = ones({2}, {.dtype = DType::b8});
  EXPECT_EMBER_ERROR(DTypeError, sub(b, b), HasSubstr("sub"), HasSubstr("bool"));
  EXPECT_EMBER_ERROR(DTypeError, scatter_add(x, 1, zeros({3, 4}, {.dtype = DType::i64}), i),
                     HasSubstr("scatter_add"));
}

// ---- other values ------------------------------------------------------------------------------

TEST(Errors, ItemOfMultiElementTensor) {
  EXPECT_EMBER_ERROR(ValueError, f32({2, 3}).item<float>(), HasSubstr("item"),
                     AnyOf(HasSubstr("[2, 3]"), HasSubstr("6")));
  EXPECT_EMBER_ERROR(ValueError, f32({0}).item<double>(), HasSubstr("item"));
}

TEST(Errors, NegativeSizes) {
  EXPECT_EMBER_ERROR(ValueError, zeros({-1, 2}), HasSubstr("zeros"), HasSubstr("[-1, 2]"));
  EXPECT_EMBER_ERROR(ValueError, empty({3, -2}), HasSubstr("empty"), HasSubstr("[3, -2]"));
  EXPECT_EMBER_ERROR(ValueError, full({-4}, 1.0), HasSubstr("full"), HasSubstr("[-4]"));
  EXPECT_EMBER_ERROR(ValueError, randn({2, -3}), HasSubstr("randn"), HasSubstr("[2, -3]"));
  EXPECT_EMBER_ERROR(ValueError, eye(-1), HasSubstr("eye"), HasSubstr("-1"));
  EXPECT_EMBER_ERROR(ValueError, linspace(0, 1, -2), HasSubstr("linspace"), HasSubstr("-2"));
}

TEST(Errors, BadSliceAndSplitArguments) {
  Tensor x = f32({4, 6});
  EXPECT_EMBER_ERROR(ValueError, x.slice(1, 0, 6, 0), HasSubstr("slice"), HasSubstr("step"),
                     HasSubstr("0"));
  EXPECT_EMBER_ERROR(ValueError, x.slice(1, 0, 6, -1), HasSubstr("slice"), HasSubstr("-1"));
  EXPECT_EMBER_ERROR(ValueError, chunk(x, 0), HasSubstr("chunk"), HasSubstr("0"));
  EXPECT_EMBER_ERROR(ValueError, split(x, 0), HasSubstr("split"));
  EXPECT_EMBER_ERROR(Error, split(x, std::vector<int64_t>{1, 2}, 0), HasSubstr("split"),
                     HasSubstr("[1, 2]"));
}

TEST(Errors, BadFactoryArguments) {
  EXPECT_EMBER_ERROR(ValueError, arange(0, 5, 0), HasSubstr("arange"), HasSubstr("step"));
  EXPECT_EMBER_ERROR(ValueError, arange(0, 5, -1), HasSubstr("arange"));
  EXPECT_EMBER_ERROR(ValueError, randint(5, 5, {2}), HasSubstr("randint"), HasSubstr("5"));
  EXPECT_EMBER_ERROR(ValueError, gelu(f32({2}), "fast"), HasSubstr("gelu"), HasSubstr("fast"));
  Tensor x = f32({3});
  EXPECT_EMBER_ERROR(ValueError, x.uniform_(1.0, 0.0), HasSubstr("uniform_"));
  EXPECT_EMBER_ERROR(ValueError, x.normal_(0.0, -1.0), HasSubstr("normal_"), HasSubstr("-1"));
}

TEST(Errors, DeviceParse) {
  EXPECT_EMBER_ERROR(ValueError, Device("gpu"), HasSubstr("Device"), HasSubstr("gpu"));
  EXPECT_EMBER_ERROR(ValueError, Device("cuda:x"), HasSubstr("cuda:x"));
  EXPECT_EMBER_ERROR(ValueError, Device("cuda:-1"), HasSubstr("cuda:-1"));
  EXPECT_EMBER_ERROR(ValueError, Device("cpu:1"), HasSubstr("cpu:1"));  // one host
  EXPECT_EMBER_ERROR(ValueError, Device("sim:"), HasSubstr("sim:"));
  EXPECT_EMBER_ERROR(ValueError, Device(""), HasSubstr("Device"));
  // The good spellings parse.
  EXPECT_EQ(Device("cuda:1"), Device::cuda(1));
  EXPECT_EQ(Device("sim"), Device::sim());
  EXPECT_EQ(Device("sim:1"), Device::sim(1));  // issue 17: several simulated devices
  EXPECT_EQ(Device("sim:0"), Device::sim());
  EXPECT_EQ(Device("cpu"), Device::cpu());
}

TEST(Errors, UndefinedTensor) {
  Tensor u;
  EXPECT_FALSE(u.defined());
  EXPECT_EMBER_ERROR(ValueError, u.sizes(), HasSubstr("undefined"));
  EXPECT_EMBER_ERROR(ValueError, u.numel(), HasSubstr("undefined"));
  EXPECT_EMBER_ERROR(ValueError, add(u, f32({2})), HasSubstr("undefined"));
  EXPECT_EMBER_ERROR(ValueError, matmul(f32({2, 2}), u), HasSubstr("undefined"));
  EXPECT_EMBER_ERROR(ValueError, cat({f32({2}), u}), HasSubstr("undefined"));
  EXPECT_EMBER_ERROR(ValueError, u.clone(), HasSubstr("undefined"));
}

// The sim device is not built yet: using it throws DeviceError naming it.
TEST(Errors, DeviceNotBuiltIn) {
  if (backend_available(DeviceType::sim)) GTEST_SKIP() << "the sim device is built in";
  EXPECT_EMBER_ERROR(DeviceError, backend(DeviceType::sim), HasSubstr("sim"));
  EXPECT_EMBER_ERROR(DeviceError, zeros({2}, {.device = Device::sim()}), HasSubstr("sim"));
  EXPECT_EMBER_ERROR(DeviceError, randn({2}, {.device = Device::sim()}), HasSubstr("sim"));
  EXPECT_EMBER_ERROR(DeviceError, f32({2}).to(Device::sim()), HasSubstr("sim"));
}

// Once sim is built in: ops never mix devices silently.
TEST(Errors, MixedDevices) {
  if (!backend_available(DeviceType::sim)) GTEST_SKIP() << "the sim device is not built in";
  Tensor c = f32({2});
  Tensor s = ones({2}, {.device = Device::sim()});
  EXPECT_EMBER_ERROR(DeviceError, add(c, s), HasSubstr("add"), HasSubstr("cpu"), HasSubstr("sim"));
  EXPECT_EMBER_ERROR(DeviceError, matmul(f32({2, 2}), ones({2, 2}, {.device = Device::sim()})),
                     HasSubstr("matmul"), HasSubstr("cpu"), HasSubstr("sim"));
  EXPECT_EMBER_ERROR(DeviceError, cat({c, s}), HasSubstr("cat"), HasSubstr("sim"));
  EXPECT_EMBER_ERROR(DeviceError, where(ones({2}, {.dtype = DType::b8}), c, s), HasSubstr("where"),
                     HasSubstr("sim"));
  // copy_ and to() are the ways across.
  Tensor back = s.to(Device::cpu());
  EXPECT_EQ(back.device(), Device::cpu());
  c.copy_(s);
  EXPECT_EQ(c.to_vector<float>(), (std::vector<float>{1.f, 1.f}));
}

TEST(Errors, CudaWithoutAGpu) {
  if (backend_available(DeviceType::cuda)) GTEST_SKIP() << "a GPU is available";
  EXPECT_EMBER_ERROR(DeviceError, zeros({2}, {.device = Device::cuda()}), HasSubstr("cuda"));
  EXPECT_EQ(Device::best(), Device::cpu());
}

// Errors are ember::Error (and std::runtime_error), with op() naming the op.
TEST(Errors, HierarchyAndOp) {
  try {
    (void)matmul(f32({2, 3}), f32({4, 5}));
    FAIL() << "matmul did not throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.op(), "matmul");
    EXPECT_NE(dynamic_cast<const std::runtime_error*>(&e), nullptr);
  }
}

}  // namespace
}  // namespace ember
