// Every backend primitive and every public op has registry cases. The names come from
// the headers themselves (read at test time), so a primitive or an op added without
// cases fails here, with every missing name in one message.
//   primitives: the `virtual void name(` lines of tensor/backend.h, memory methods aside;
//   public ops: the functions declared at namespace level in tensor/ops.h and
//   nn/functional.h.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "registry/op_cases.h"

namespace ember::cases {
namespace {

std::string read_source(const std::string& rel) {
  std::ifstream f(std::string(EMBER_SOURCE_DIR) + "/" + rel);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The names captured by `re` (group 1), line by line.
std::set<std::string> names_in(const std::string& text, const std::regex& re) {
  std::set<std::string> out;
  std::istringstream in(text);
  std::smatch m;
  for (std::string line; std::getline(in, line);)
    if (std::regex_search(line, m, re)) out.insert(m[1].str());
  return out;
}

// The ops and families of the registry: a name is covered when either holds it.
std::set<std::string> registry_names() {
  std::set<std::string> s;
  for (const OpCase& c : op_cases()) {
    s.insert(c.op);
    s.insert(c.family);
  }
  return s;
}

// Memory methods are not ops: the allocator and memory tests cover them.
const std::set<std::string> kMemoryMethods = {"deallocate", "copy_from_host", "copy_to_host",
                                              "synchronize",
                                              // several devices (issue 17): memory and device
                                              // selection, tests/sim/multi_device_test.cpp
                                              "set_device", "copy_peer"};

// Primitives whose cases go by other names.
const std::map<std::string, std::vector<std::string>> kPrimitiveCases = {
    {"copy", {"contiguous", "clone", "cast"}},  // strided and casting copies
    {"check_index_range", {"nll_loss"}},        // nll_loss validates its targets with it
};

// Public ops whose cases go by other names.
const std::map<std::string, std::vector<std::string>> kOpCases = {
    {"max", {"max_dim"}},
    {"min", {"min_dim"}},
    {"scaled_dot_product_attention", {"attention"}},
    // the row forms the nn::functional ops are built on
    {"cross_entropy_rows", {"cross_entropy"}},
    {"embedding_rows", {"embedding"}},
    {"layer_norm_rows", {"layer_norm"}},
    {"batch_norm_ncs", {"batch_norm"}},
    {"group_norm_ncs", {"group_norm"}},
    {"rms_norm_rows", {"rms_norm"}},
};

// Names with no case, each with the reason.
const std::map<std::string, std::string> kExempt = {
    // primitives
    {"random", "Philox streams are compared bit for bit across devices in random_test.cpp"},
    // factories without a tensor input: the fill cases (full_like, ...) run the same primitive
    {"empty", "factory (tests/tensor/tensor_test.cpp)"},
    {"zeros", "factory (tests/tensor/tensor_test.cpp)"},
    {"ones", "factory (tests/tensor/tensor_test.cpp)"},
    {"full", "factory (tests/tensor/tensor_test.cpp)"},
    {"scalar_tensor", "factory (tests/tensor/tensor_test.cpp)"},
    {"arange", "factory (tests/tensor/tensor_test.cpp)"},
    {"linspace", "factory (tests/tensor/tensor_test.cpp)"},
    {"eye", "factory (tests/tensor/tensor_test.cpp)"},
    {"empty_like", "factory (tests/tensor/tensor_test.cpp)"},
    {"from_vector", "factory from host values (tests/tensor/tensor_test.cpp)"},
    {"from_blob", "wraps host memory (tests/tensor/tensor_test.cpp)"},
    // random numbers
    {"manual_seed", "seeds the generator, computes nothing"},
    {"rand", "random: tests/tensor/random_test.cpp and tests/sim/random_test.cpp"},
    {"randn", "random: tests/tensor/random_test.cpp and tests/sim/random_test.cpp"},
    {"randint", "random: tests/tensor/random_test.cpp and tests/sim/random_test.cpp"},
    {"rand_like", "random: tests/tensor/random_test.cpp and tests/sim/random_test.cpp"},
    {"randn_like", "random: tests/tensor/random_test.cpp and tests/sim/random_test.cpp"},
    {"dropout", "random mask: tests/nn (statistics and the backward's mask)"},
    // host-side helpers
    {"allclose", "a bool from the compare cases' ops (tests/tensor/tensor_test.cpp)"},
    {"equal", "a bool from the compare cases' ops (tests/tensor/tensor_test.cpp)"},
};

// conv2d_backward_input -> conv2d, adam_step -> adam: a family's cases cover the
// primitives of its passes.
std::string strip_pass(const std::string& name) {
  static const std::regex pass("_(forward|backward_input|backward_weight|backward|step)$");
  return std::regex_replace(name, pass, "");
}

bool covered(const std::string& name, const std::set<std::string>& registry,
             const std::map<std::string, std::vector<std::string>>& aliases) {
  if (registry.count(name) || registry.count(strip_pass(name))) return true;
  auto it = aliases.find(name);
  if (it == aliases.end()) return false;
  for (const std::string& a : it->second)
    if (registry.count(a)) return true;
  return false;
}

std::string missing_report(const std::set<std::string>& names,
                           const std::set<std::string>& registry,
                           const std::map<std::string, std::vector<std::string>>& aliases,
                           std::vector<std::string>* missing) {
  std::string report;
  for (const std::string& n : names) {
    if (covered(n, registry, aliases) || kExempt.count(n)) continue;
    missing->push_back(n);
    report += (report.empty() ? "" : ", ") + n;
  }
  return report;
}

std::set<std::string> backend_primitives() {
  const std::string text = read_source("tensor/backend.h");
  std::set<std::string> names = names_in(text, std::regex(R"(^\s*virtual\s+void\s+(\w+)\s*\()"));
  for (const std::string& m : kMemoryMethods) names.erase(m);
  return names;
}

// Namespace-level declarations start at column 0 with their return type ("Tensor name(",
// "std::vector<Tensor> name(", "void name(", ...); operators and inline helpers do not
// match.
std::set<std::string> public_ops() {
  const std::regex decl(R"(^(?:[\w:]+(?:<[^()]*>)?[&*]?)\s+(\w+)\()");
  std::set<std::string> names = names_in(read_source("tensor/ops.h"), decl);
  for (const std::string& n : names_in(read_source("nn/functional.h"), decl)) names.insert(n);
  names.erase("operator");
  return names;
}

TEST(OpCoverage, TheHeadersAreRead) {
  // The parse itself must find the well-known names, or the checks below prove nothing.
  std::set<std::string> prims = backend_primitives(), ops = public_ops();
  for (const char* p : {"unary", "binary", "matmul", "softmax", "gather"})
    EXPECT_TRUE(prims.count(p)) << "tensor/backend.h: no `virtual void " << p << "(` found";
  for (const char* o : {"add", "matmul", "softmax", "cat", "cross_entropy", "layer_norm"})
    EXPECT_TRUE(ops.count(o)) << "no declaration of " << o << " found";
  EXPECT_FALSE(prims.count("allocate")) << "memory methods are not primitives";
}

TEST(OpCoverage, EveryBackendPrimitiveHasCases) {
  std::vector<std::string> missing;
  std::string report =
      missing_report(backend_primitives(), registry_names(), kPrimitiveCases, &missing);
  EXPECT_TRUE(missing.empty()) << missing.size()
                               << " Backend primitives (tensor/backend.h) have no registry case "
                                  "(an OpCase with that op or family): "
                               << report;
}

TEST(OpCoverage, EveryPublicOpHasCases) {
  std::vector<std::string> missing;
  std::string report = missing_report(public_ops(), registry_names(), kOpCases, &missing);
  EXPECT_TRUE(missing.empty()) << missing.size()
                               << " public ops (tensor/ops.h, nn/functional.h) have no registry "
                                  "case (an OpCase with that op or family): "
                               << report;
}

// An exemption for a name that is gone, or that has cases now, is stale.
TEST(OpCoverage, ExemptionsAreNeeded) {
  std::set<std::string> all = backend_primitives(), registry = registry_names();
  for (const std::string& n : public_ops()) all.insert(n);
  std::string stale;
  for (const auto& [name, reason] : kExempt) {
    bool has_cases = covered(name, registry, kPrimitiveCases) || covered(name, registry, kOpCases);
    if (!all.count(name) || has_cases) stale += (stale.empty() ? "" : ", ") + name;
  }
  EXPECT_TRUE(stale.empty()) << "exempt but declared nowhere or covered by cases now (remove them "
                                "from kExempt): "
                             << stale;
}

// ---- bf16/f16 cases (issue 16) --------------------------------------------------------------

// (family, op) groups with f32/f64 cases and no bf16 and f16 ones on purpose, each with the
// reason. "family/*" stands for every op of the family.
const std::map<std::string, std::string> kHalfPending = {
    // one case mixes bf16 and f16 tensors (a bf16/f16 model's gradients), labelled bf16
    {"multi_norm/multi_tensor_norm", "cases_optim.cpp: one mixed bf16/f16 case"},
    // its operands are the f32 scale and the i64 growth tracker: no 16-bit operand exists
    {"amp_update_scale/amp_update_scale", "f32 scale and i64 tracker only"},
};

// The case dtypes of each "family/op" group of the registry.
std::map<std::string, std::set<DType>> dtypes_by_group() {
  std::map<std::string, std::set<DType>> g;
  for (const OpCase& c : op_cases()) g[c.family + "/" + c.op].insert(c.dtype);
  return g;
}

// The pending entry that names a group, or nullptr.
const std::string* half_pending_key(const std::string& group) {
  auto it = kHalfPending.find(group);
  if (it != kHalfPending.end()) return &it->first;
  it = kHalfPending.find(group.substr(0, group.find('/')) + "/*");
  return it != kHalfPending.end() ? &it->first : nullptr;
}

bool has_floating_case(const std::set<DType>& d) {
  return d.count(DType::f32) > 0 || d.count(DType::f64) > 0;
}
bool has_half_cases(const std::set<DType>& d) {
  return d.count(DType::bf16) > 0 && d.count(DType::f16) > 0;
}

// Every op that runs in f32 or f64 runs in bf16 and f16 too, checked by registry cases in
// both (issue 16): a new floating op without them fails here, naming its group.
TEST(OpCoverage, EveryFloatOpHasBf16AndF16Cases) {
  const auto groups = dtypes_by_group();
  // The grouping must see the half cases that exist, or the check below proves nothing.
  ASSERT_TRUE(groups.count("binary/add") && has_half_cases(groups.at("binary/add")));
  ASSERT_TRUE(groups.count("unary/exp") && has_half_cases(groups.at("unary/exp")));
  std::string missing;
  int n = 0;
  for (const auto& [group, dts] : groups) {
    if (!has_floating_case(dts) || has_half_cases(dts) || half_pending_key(group)) continue;
    missing += (missing.empty() ? "" : ", ") + group +
               (dts.count(DType::bf16)  ? " (no f16)"
                : dts.count(DType::f16) ? " (no bf16)"
                                        : "");
    ++n;
  }
  EXPECT_TRUE(missing.empty()) << n
                               << " family/op groups have f32/f64 registry cases but not both "
                                  "bf16 and f16 ones (add them, docs/dtypes.md): "
                               << missing;
}

// A pending entry whose groups all have half cases now, or that names no group, is stale.
TEST(OpCoverage, HalfPendingEntriesAreNeeded) {
  const auto groups = dtypes_by_group();
  std::set<std::string> needed, named;
  for (const auto& [group, dts] : groups) {
    const std::string* key = half_pending_key(group);
    if (!key) continue;
    named.insert(*key);
    if (has_floating_case(dts) && !has_half_cases(dts)) needed.insert(*key);
  }
  std::string stale;
  for (const auto& [key, reason] : kHalfPending)
    if (!needed.count(key))
      stale += (stale.empty() ? "" : ", ") + key + (named.count(key) ? "" : " (no such group)");
  EXPECT_TRUE(stale.empty()) << "kHalfPending entries with bf16 and f16 cases now, or naming no "
                                "group (remove them): "
                             << stale;
}

}  // namespace
}  // namespace ember::cases
