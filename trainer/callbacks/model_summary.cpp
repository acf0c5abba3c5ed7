#include "trainer/callbacks/model_summary.h"

#include <algorithm>
#include <vector>

#include "trainer/trainer.h"

namespace ember {

std::string human_readable_count(int64_t n) {
  const char* units[] = {"", "K", "M", "B", "T"};
  if (n < 1000) return std::to_string(n);
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1000 && u < 4) {
    v /= 1000;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  return buf;
}

namespace {
int64_t count_params(const nn::Module& m, bool trainable_only) {
  int64_t n = 0;
  for (const Tensor& p : m.parameters())
    if (!trainable_only || p.requires_grad()) n += p.numel();
  return n;
}
}  // namespace

std::string summarize(nn::Module& module, int64_t max_depth) {
  struct Row {
    std::string name, type, params, trainable, mode;
  };
  std::vector<Row> rows;
  for (const auto& [name, m] : module.named_modules()) {
    if (name.empty()) continue;
    const auto depth = static_cast<int64_t>(std::count(name.begin(), name.end(), '.')) + 1;
    if (depth > max_depth) continue;
    rows.push_back({name, m->name(), human_readable_count(count_params(*m, false)),
                    human_readable_count(count_params(*m, true)),
                    m->is_training() ? "train" : "eval"});
  }
  const Row header{"Name", "Type", "Params", "Trainable", "Mode"};
  size_t wi = std::to_string(rows.size()).size(), wn = header.name.size(), wt = header.type.size(),
         wp = header.params.size(), wr = header.trainable.size(), wm = header.mode.size();
  for (const Row& r : rows) {
    wn = std::max(wn, r.name.size());
    wt = std::max(wt, r.type.size());
    wp = std::max(wp, r.params.size());
    wr = std::max(wr, r.trainable.size());
  }
  auto pad = [](const std::string& s, size_t w) {
    return s + std::string(w - std::min(w, s.size()), ' ');
  };
  auto line = [&](const std::string& idx, const Row& r) {
    return pad(idx, wi) + " | " + pad(r.name, wn) + " | " + pad(r.type, wt) + " | " +
           pad(r.params, wp) + " | " + pad(r.trainable, wr) + " | " + pad(r.mode, wm) + "\n";
  };
  std::string out;
  const std::string head = line("", header);
  const std::string rule(head.size() - 1, '-');
  if (!rows.empty()) {
    out += head + rule + "\n";
    for (size_t i = 0; i < rows.size(); ++i) out += line(std::to_string(i), rows[i]);
    out += rule + "\n";
  }
  const int64_t total = count_params(module, false), trainable = count_params(module, true);
  int64_t bytes = 0;
  for (const Tensor& p : module.parameters())
    bytes += p.numel() * static_cast<int64_t>(p.element_size());
  char size[64];
  std::snprintf(size, sizeof size, "%.3f", static_cast<double>(bytes) / 1e6);
  out += pad(human_readable_count(trainable), 10) + "Trainable params\n";
  out += pad(human_readable_count(total - trainable), 10) + "Non-trainable params\n";
  out += pad(human_readable_count(total), 10) + "Total params\n";
  out += pad(size, 10) + "Total estimated model params size (MB)\n";
  return out;
}

void ModelSummary::on_fit_start(Trainer&, LightningModule& module) {
  std::fprintf(options_.out, "%s", summarize(module, options_.max_depth).c_str());
  std::fflush(options_.out);
}

}  // namespace ember
