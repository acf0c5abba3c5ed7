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

}  // namespace
}  // namespace ember::cases
