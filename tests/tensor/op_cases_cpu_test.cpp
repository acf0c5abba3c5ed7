// Every registry case on the cpu device against its plain-loop double reference, and
// the write-coverage checks: poisoned destinations written through copy_ and the
// in-place ops must end up with every element right and nothing outside them touched.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <set>

#include "registry/op_cases.h"
#include "tensor/sanitizer.h"

// Fresh outputs start as 0xFE garbage, so MatchesReference also proves that every output
// element was written: through glibc's M_PERTURB (PoisonAllocations below), or through
// AddressSanitizer's malloc fill in sanitizer builds, which replace malloc.
#if EMBER_HAS_ASAN
#define EMBER_POISONS_ALLOCATIONS 1
extern "C" const char* __asan_default_options() {
  return "malloc_fill_byte=254:max_malloc_fill_size=2147483647";
}
#elif defined(__GLIBC__)
#define EMBER_POISONS_ALLOCATIONS 1
#endif

namespace ember::cases {
namespace {

std::vector<const OpCase*> all_cases() {
  std::vector<const OpCase*> v;
  for (const OpCase& c : op_cases()) v.push_back(&c);
  return v;
}

std::string case_name(const ::testing::TestParamInfo<const OpCase*>& info) {
  return sanitize(info.param->name);
}

class PoisonAllocations : public ::testing::Environment {
 public:
  void SetUp() override {
#if !EMBER_HAS_ASAN
    if (!poison_host_allocations())
      std::fprintf(stderr, "note: host allocations are not poisoned here\n");
#endif
  }
};
[[maybe_unused]] ::testing::Environment* const poison_env =
    ::testing::AddGlobalTestEnvironment(new PoisonAllocations);

class OpCaseCpu : public ::testing::TestWithParam<const OpCase*> {};

TEST_P(OpCaseCpu, MatchesReference) {
  const OpCase& c = *GetParam();
  std::string report = check_case(c, Device::cpu());
  EXPECT_TRUE(report.empty()) << c.name << "\n" << report;
}

// ---- poisoned destinations ---------------------------------------------------------

// Two poison values per dtype: an element left unwritten equals at least one of them
// differently from what it should hold.
double poison_value(DType dt, int pass) {
  switch (dt) {
    case DType::f32:
    case DType::f64: return pass == 0 ? std::numeric_limits<double>::quiet_NaN() : -1e30;
    case DType::i64: return pass == 0 ? -1234567.0 : 7654321.0;
    case DType::b8: return pass == 0 ? 1.0 : 0.0;
    case DType::bf16:
    case DType::f16: return pass == 0 ? std::numeric_limits<double>::quiet_NaN() : -1e4;
    case DType::i32: return pass == 0 ? -1234567.0 : 7654321.0;
    case DType::i8: return pass == 0 ? -123.0 : 76.0;
    case DType::u8: return pass == 0 ? 213.0 : 76.0;
  }
  return 0.0;
}

// Writes v into every element of the contiguous tensor t straight through memory, so
// the poisoning does not depend on the ember ops under test.
void poison_raw(const Tensor& t, double v) {
  int64_t n = t.numel();
  if (n == 0) return;
  ASSERT_TRUE(t.is_contiguous());
  switch (t.dtype()) {
    case DType::f32: {
      float* p = t.data_ptr<float>();
      for (int64_t i = 0; i < n; ++i) p[i] = static_cast<float>(v);
      break;
    }
    case DType::f64: {
      double* p = t.data_ptr<double>();
      for (int64_t i = 0; i < n; ++i) p[i] = v;
      break;
    }
    case DType::i64: {
      int64_t* p = t.data_ptr<int64_t>();
      for (int64_t i = 0; i < n; ++i) p[i] = static_cast<int64_t>(v);
      break;
    }
    case DType::b8: {
      bool* p = t.data_ptr<bool>();
      for (int64_t i = 0; i < n; ++i) p[i] = v != 0.0;
      break;
    }
    default:  // the dtypes of issue 16, through their C++ types
      dispatch_all(t.dtype(), "poison_raw", [&](auto tag) {
        using T = decltype(tag);
        T* p = static_cast<T*>(t.raw_data());
        for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(static_cast<opmath_t<T>>(v));
      });
  }
}

// True when every element of t still holds the poison v.
bool all_poison(const Tensor& t, double v) {
  ref::RefTensor r = ref::from_tensor(t);
  for (double x : r.data) {
    bool same = std::isnan(v) ? std::isnan(x) : x == ref::cast_value(v, t.dtype());
    if (!same) return false;
  }
  return true;
}

// The op's own outputs (whatever MatchesReference thinks of them) copied into poisoned
// destinations must arrive exactly, every element.
TEST_P(OpCaseCpu, CopyIntoPoisonedOutputWritesEveryElement) {
  const OpCase& c = *GetParam();
  Inputs in = c.inputs(Device::cpu());
  Outputs out;
  try {
    out = c.run(in);
  } catch (const std::exception& e) {
    GTEST_SKIP() << "the op itself throws (reported by MatchesReference): " << e.what();
  }
  Refs expected = to_refs(out);
  const Tolerance exact{};
  for (size_t i = 0; i < out.size(); ++i) {
    DType dt = out[i].dtype();
    for (int pass = 0; pass < 2; ++pass) {
      double pv = poison_value(dt, pass);
      // A fresh contiguous destination.
      Tensor dst = empty(out[i].sizes(), {.dtype = dt});
      poison_raw(dst, pv);
      dst.copy_(out[i]);
      std::string r = compare(dst, expected[i], dt, exact);
      EXPECT_TRUE(r.empty()) << c.name << " output " << i << " pass " << pass << "\n" << r;
      // A strided destination: every other element of a wider poisoned buffer. The
      // elements between must stay poisoned.
      if (out[i].dim() == 0) continue;
      Shape wide = out[i].sizes();
      wide.back() *= 2;
      Tensor base = empty(wide, {.dtype = dt});
      poison_raw(base, pv);
      Tensor view = base.slice(-1, 0, wide.back(), 2);
      view.copy_(out[i]);
      r = compare(view, expected[i], dt, exact);
      EXPECT_TRUE(r.empty()) << c.name << " strided output " << i << "\n" << r;
      if (wide.back() > 0) {
        EXPECT_TRUE(all_poison(base.slice(-1, 1, wide.back(), 2), pv))
            << c.name << ": copy_ into a strided view wrote outside it";
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Registry, OpCaseCpu, ::testing::ValuesIn(all_cases()), case_name);

// ---- the registry itself -----------------------------------------------------------------

TEST(OpCaseRegistry, NamesAreUniqueAndCoverEveryOp) {
  std::set<std::string> names, ops;
  for (const OpCase& c : op_cases()) {
    EXPECT_TRUE(names.insert(sanitize(c.name)).second) << "duplicate " << c.name;
    ops.insert(c.op);
  }
  for (const char* op :
       {"neg",         "abs",        "sign",        "exp",     "log",          "sqrt",
        "rsqrt",       "tanh",       "sigmoid",     "relu",    "gelu",         "gelu_tanh",
        "silu",        "sin",        "cos",         "pow_e2",  "pow_e0.5",     "add",
        "sub",         "mul",        "div",         "pow",     "maximum",      "minimum",
        "eq",          "ne",         "lt",          "le",      "gt",           "ge",
        "logical_and", "logical_or", "logical_not", "where",   "masked_fill",  "sum",
        "mean",        "prod",       "var",         "std",     "amax",         "amin",
        "max_dim",     "min_dim",    "argmax",      "argmin",  "max_all",      "min_all",
        "argmax_all",  "argmin_all", "matmul",      "softmax", "log_softmax",  "cat",
        "stack",       "split",      "split_sizes", "chunk",   "index_select", "gather",
        "scatter_add", "tril",       "triu",        "cast",    "contiguous",   "clone",
        "view"})
    EXPECT_TRUE(ops.count(op)) << "no case for " << op;
  EXPECT_GT(op_cases().size(), 500u);
}

TEST(OpCaseRegistry, CostsAreFiniteAndInputsAreNotAllZero) {
  for (const OpCase& c : op_cases()) {
    Inputs in = c.inputs(Device::cpu());
    double f = c.flops(in), b = c.bytes(in);
    EXPECT_TRUE(std::isfinite(f) && f >= 0) << c.name << " flops " << f;
    EXPECT_TRUE(std::isfinite(b) && b >= 0) << c.name << " bytes " << b;
    for (size_t i = 0; i < in.size(); ++i) {
      ref::RefTensor r = ref::from_tensor(in[i]);
      if (r.numel() < 4) continue;  // a tiny input may be all zero by chance
      bool any = false;
      for (double x : r.data) any = any || x != 0.0;
      EXPECT_TRUE(any) << c.name << " input " << i << " is all zeros";
    }
  }
}

TEST(OpCaseRegistry, FreshAllocationsArePoisoned) {
#if defined(EMBER_POISONS_ALLOCATIONS)
  for (int64_t n : {3, 16, 1000, 300000}) {
    Tensor t = empty({n});
    const auto* p = static_cast<const unsigned char*>(t.raw_data());
    int64_t poisoned = 0;
    for (int64_t i = 0; i < n * 4; ++i) poisoned += p[i] == 0xFE;
    EXPECT_EQ(poisoned, n * 4) << "empty({" << n << "}) did not start poisoned";
  }
#else
  GTEST_SKIP() << "needs glibc's M_PERTURB or AddressSanitizer";
#endif
}

TEST(OpCaseRegistry, InputsAreReproducibleFromTheSeed) {
  const OpCase& c = op_cases().front();
  auto a = to_refs(c.inputs(Device::cpu()));
  auto b = to_refs(c.inputs(Device::cpu()));
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].data, b[i].data);
}

// The comparison helper must itself be able to fail.
TEST(OpCaseRegistry, CompareReportsMismatchesWithTheirIndex) {
  Tensor t = from_vector<float>({1.f, 2.f, 3.f, 4.f}, {2, 2});
  ref::RefTensor good = ref::from_values({2, 2}, {1, 2, 3, 4});
  ref::RefTensor bad = ref::from_values({2, 2}, {1, 2, 3, 4.5});
  EXPECT_EQ(compare(t, good, DType::f32, {1e-6, 1e-6}), "");
  EXPECT_THAT(compare(t, bad, DType::f32, {1e-6, 1e-6}), ::testing::HasSubstr("(1, 1)"));
  EXPECT_THAT(compare(t, good, DType::f64, {}), ::testing::HasSubstr("dtype"));
  EXPECT_THAT(compare(t, ref::from_values({4}, {1, 2, 3, 4}), DType::f32, {}),
              ::testing::HasSubstr("shape"));
}

// ---- in-place ops into poisoned destinations ----------------------------------------------

struct InplaceCase {
  std::string name;
  std::function<void(Tensor& dst, const Tensor& a, const Tensor& b, const Tensor& mask)> op;
  std::function<double(double a, double b, double mask)> ref;
};

std::vector<InplaceCase> inplace_cases() {
  return {
      {"copy", [](Tensor& d, const Tensor& a, const Tensor&, const Tensor&) { d.copy_(a); },
       [](double a, double, double) { return a; }},
      {"copy_bcast_row",
       [](Tensor& d, const Tensor&, const Tensor& b, const Tensor&) { d.copy_(b); },
       [](double, double b, double) { return b; }},
      {"add_",
       [](Tensor& d, const Tensor& a, const Tensor& b, const Tensor&) { d.copy_(a).add_(b); },
       [](double a, double b, double) { return a + b; }},
      {"sub_",
       [](Tensor& d, const Tensor& a, const Tensor& b, const Tensor&) { d.copy_(a).sub_(b); },
       [](double a, double b, double) { return a - b; }},
      {"mul_",
       [](Tensor& d, const Tensor& a, const Tensor& b, const Tensor&) { d.copy_(a).mul_(b); },
       [](double a, double b, double) { return a * b; }},
      {"div_",
       [](Tensor& d, const Tensor& a, const Tensor& b, const Tensor&) { d.copy_(a).div_(b); },
       [](double a, double b, double) { return a / b; }},
      {"add_scalar_",
       [](Tensor& d, const Tensor& a, const Tensor&, const Tensor&) { d.copy_(a).add_(2.5); },
       [](double a, double, double) { return a + 2.5; }},
      {"mul_scalar_",
       [](Tensor& d, const Tensor& a, const Tensor&, const Tensor&) { d.copy_(a).mul_(-2); },
       [](double a, double, double) { return -2 * a; }},
      {"operators",
       [](Tensor& d, const Tensor& a, const Tensor& b, const Tensor&) {
         d.copy_(a);
         d += b;
         d *= b;
         d -= a;
         d /= b;
       },
       [](double a, double b, double) { return ((a + b) * b - a) / b; }},
      {"masked_fill_",
       [](Tensor& d, const Tensor& a, const Tensor&, const Tensor& m) {
         d.copy_(a).masked_fill_(m, 7.0);
       },
       [](double a, double, double m) { return m != 0 ? 7.0 : a; }},
      {"fill_", [](Tensor& d, const Tensor&, const Tensor&, const Tensor&) { d.fill_(3.25); },
       [](double, double, double) { return 3.25; }},
      {"zero_", [](Tensor& d, const Tensor&, const Tensor&, const Tensor&) { d.zero_(); },
       [](double, double, double) { return 0.0; }},
  };
}

class InplaceCpu : public ::testing::TestWithParam<std::tuple<InplaceCase, int>> {};

TEST_P(InplaceCpu, WritesEveryElementOfTheViewAndNothingElse) {
  const auto& [ic, layout] = GetParam();
  const Shape shape{3, 4};
  manual_seed(11);
  Tensor a = randn(shape);
  Tensor b = (rand({1, 4}) + 0.5);  // broadcast row, away from zero (div_)
  Tensor mask = randint(0, 2, shape).to(DType::b8);
  const double pv = std::numeric_limits<double>::quiet_NaN();
  // layout 0: a fresh contiguous tensor; 1: a transposed view of a (4, 3) buffer;
  // 2: every other column of a (3, 8) buffer; 3: an inner block of a (5, 6) buffer.
  Tensor base, dst, outside;
  switch (layout) {
    case 0:
      base = empty(shape);
      dst = base;
      break;
    case 1:
      base = empty({4, 3});
      dst = base.t();
      break;
    case 2:
      base = empty({3, 8});
      dst = base.slice(1, 0, 8, 2);
      outside = base.slice(1, 1, 8, 2);
      break;
    default:
      base = empty({5, 6});
      dst = base.narrow(0, 1, 3).narrow(1, 1, 4);
      break;
  }
  poison_raw(base, pv);
  uint32_t v0 = dst.version();
  ic.op(dst, a, b, mask);
  EXPECT_GT(dst.version(), v0) << "in-place ops bump the version counter";
  ref::RefTensor ra = ref::from_tensor(a), rb = ref::from_tensor(b), rm = ref::from_tensor(mask);
  ref::RefTensor expected = ref::zip3(ra, rb, rm, ic.ref);
  std::string r = compare(dst, expected, DType::f32, {1e-6, 1e-6});
  EXPECT_TRUE(r.empty()) << ic.name << "\n" << r;
  if (outside.defined()) {
    EXPECT_TRUE(all_poison(outside, pv)) << ic.name << " wrote outside its view";
  }
  if (layout == 3) {
    // The frame around the block: rows 0 and 4, columns 0 and 5.
    EXPECT_TRUE(all_poison(base.select(0, 0), pv));
    EXPECT_TRUE(all_poison(base.select(0, 4), pv));
    EXPECT_TRUE(all_poison(base.select(1, 0), pv));
    EXPECT_TRUE(all_poison(base.select(1, 5), pv));
  }
}

using InplaceParam = std::tuple<InplaceCase, int>;

std::string inplace_name(const ::testing::TestParamInfo<InplaceParam>& info) {
  static const char* layouts[] = {"contiguous", "transposed", "strided", "block"};
  return sanitize(std::get<0>(info.param).name) + "_" + layouts[std::get<1>(info.param)];
}

INSTANTIATE_TEST_SUITE_P(Poisoned, InplaceCpu,
                         ::testing::Combine(::testing::ValuesIn(inplace_cases()),
                                            ::testing::Values(0, 1, 2, 3)),
                         inplace_name);

}  // namespace
}  // namespace ember::cases
