// Anomaly mode: the switch, the forward description recorded in nodes, and the check the
// engine runs on each node's gradients.
#include "autograd/anomaly_mode.h"

#include <atomic>
#include <cctype>
#include <cmath>

#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "tensor/ops.h"

namespace ember::autograd {

namespace {
std::atomic<bool> g_anomaly{false};

const char* ordinal_suffix(size_t i) {
  if (i % 100 >= 11 && i % 100 <= 13) return "th";
  switch (i % 10) {
    case 1: return "st";
    case 2: return "nd";
    case 3: return "rd";
    default: return "th";
  }
}
}  // namespace

bool AnomalyMode::is_enabled() { return g_anomaly.load(std::memory_order_relaxed); }
void AnomalyMode::set_enabled(bool enabled) { g_anomaly.store(enabled, std::memory_order_relaxed); }

std::string forward_op_name(const std::string& node_name) {
  std::string base = node_name;
  const std::string suffix = "Backward";
  if (const size_t at = base.rfind(suffix); at != std::string::npos) base.resize(at);
  std::string out;
  for (size_t i = 0; i < base.size(); ++i) {
    const char c = base[i];
    if (std::isupper(static_cast<unsigned char>(c))) {
      if (i > 0) out += '_';
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else {
      out += c;
    }
  }
  return out.empty() ? node_name : out;
}

std::string describe_forward(const std::string& node_name, const std::vector<Tensor>& inputs) {
  std::string s = "created by " + forward_op_name(node_name) + " on ";
  std::string shapes;
  size_t n = 0;
  for (const Tensor& t : inputs) {
    if (!t.defined()) continue;
    shapes += (n++ ? ", " : "") + std::string(to_string(t.dtype())) + " " + str(t.sizes());
  }
  if (n == 0) return s + "no tensor inputs";
  return s + (n == 1 ? "an input " : "inputs ") + shapes;
}

void check_gradients(const Node& node, const std::vector<Tensor>& grads) {
  NoGradGuard no_grad;  // under create_graph the check must not join the graph
  for (size_t i = 0; i < grads.size(); ++i) {
    const Tensor& g = grads[i];
    if (!g.defined() || !is_floating(g.dtype()) || g.numel() == 0) continue;
    // 0 * x is NaN exactly where x is NaN or infinite; the sum of the products is 0 otherwise.
    const double probe = ember::sum(ember::mul(g, 0.0)).item<double>();
    if (!std::isnan(probe)) continue;
    const Tensor host = g.to(Device::cpu()).to(DType::f64).contiguous();  // the failing path only
    const double* p = host.data_ptr<double>();
    int64_t nans = 0, infs = 0;
    for (int64_t k = 0; k < host.numel(); ++k) {
      nans += std::isnan(p[k]) ? 1 : 0;
      infs += std::isinf(p[k]) ? 1 : 0;
    }
    const std::string what = nans > 0 ? "nan" : "inf";
    const std::string& created = node.anomaly_forward.empty()
                                     ? "created by " + forward_op_name(node.name())
                                     : node.anomaly_forward;
    fail<ValueError>("backward", "Function '", node.name(), "' returned ", what, " values in its ",
                     i, ordinal_suffix(i), " output (", created, "; gradient ", str(g.sizes()),
                     " has ", nans, " NaN and ", infs,
                     " infinite elements). Anomaly detection is on (detect_anomaly)");
  }
}

}  // namespace ember::autograd
