#include "distributed/reducer.h"

#include <map>
#include <sstream>

#include "autograd/engine.h"
#include "tensor/ops.h"
#include "tensor/raw.h"

namespace ember::distributed::detail {

namespace {
// Parameter i's slot in its bucket, shaped as the parameter.
Tensor slot_view(const Bucket& b, size_t slot, const Tensor& param) {
  return b.flat.narrow(0, b.offsets[slot], param.numel()).view(param.sizes());
}
}  // namespace

Reducer::Reducer(std::vector<std::pair<std::string, Tensor>> params,
                 std::shared_ptr<ProcessGroup> group, int64_t first_bucket_bytes,
                 int64_t bucket_bytes, bool find_unused_parameters)
    : params_(std::move(params)), group_(std::move(group)), find_unused_(find_unused_parameters) {
  // torch's compute_bucket_assignment_by_size, on the parameters in reverse registration
  // order (backward produces the last layers' gradients first): one open bucket per dtype
  // and device, closed once it holds at least its limit (the first one of each key the
  // smaller limit); buckets are numbered in the order they were opened.
  const size_t n = params_.size();
  bucket_of_.resize(n);
  slot_of_.resize(n);
  std::map<std::string, std::pair<size_t, int64_t>> open;  // key -> (bucket, bytes so far)
  std::map<std::string, bool> had_first;
  for (size_t k = n; k-- > 0;) {
    const Tensor& p = params_[k].second;
    const std::string key = std::string(ember::to_string(p.dtype())) + "/" + p.device().str();
    auto it = open.find(key);
    if (it == open.end()) {
      buckets_.emplace_back();
      it = open.emplace(key, std::make_pair(buckets_.size() - 1, int64_t{0})).first;
    }
    Bucket& b = buckets_[it->second.first];
    const int64_t offset =
        b.offsets.empty() ? 0 : b.offsets.back() + params_[b.params.back()].second.numel();
    bucket_of_[k] = it->second.first;
    slot_of_[k] = b.params.size();
    b.params.push_back(k);
    b.offsets.push_back(offset);
    it->second.second += p.numel() * static_cast<int64_t>(element_size(p.dtype()));
    const int64_t limit = had_first[key] ? bucket_bytes : first_bucket_bytes;
    if (it->second.second >= limit) {
      had_first[key] = true;
      open.erase(it);
    }
  }
  for (Bucket& b : buckets_) {
    const Tensor& first = params_[b.params.front()].second;
    const Tensor& last = params_[b.params.back()].second;
    b.flat = zeros({b.offsets.back() + last.numel()},
                   {.dtype = first.dtype(), .device = first.device()});
  }
  ready_.assign(n, 0);
  used_.assign(n, 0);
  for (size_t i = 0; i < n; ++i) {
    hook_handles_.push_back(params_[i].second.register_post_accumulate_grad_hook(
        [this, i](const Tensor&) { on_grad_ready(i); }));
  }
}

Reducer::~Reducer() {
  for (size_t i = 0; i < hook_handles_.size(); ++i) params_[i].second.remove_hook(hook_handles_[i]);
}

void Reducer::prepare_for_backward() {
  if (require_finalize_) fail_unfinished();
  if (params_.empty()) return;
  expect_hooks_ = true;
  require_finalize_ = true;
  callback_queued_ = false;
  ready_.assign(params_.size(), 0);
  used_.assign(params_.size(), 0);
  pending_params_ = params_.size();
  next_bucket_ = 0;
  launched_early_ = 0;
  for (Bucket& b : buckets_) {
    b.pending = b.params.size();
    b.work = nullptr;
  }
}

void Reducer::on_grad_ready(size_t index) {
  if (!expect_hooks_) return;  // no_sync, or a backward DDP did not prepare
  if (!callback_queued_) {
    callback_queued_ = true;
    autograd::queue_callback([this] { finalize_backward(); });
  }
  if (ready_[index])
    fail<DistError>("DistributedDataParallel",
                    "Expected to mark a variable ready only once: parameter ", index, " (",
                    params_[index].first,
                    ") got a second gradient in one backward; call the DDP forward before "
                    "each backward (with retain_graph, a second backward needs a second "
                    "forward)");
  used_[index] = 1;
  mark_ready(index);
}

void Reducer::mark_ready(size_t index) {
  const Tensor& p = params_[index].second;
  Bucket& b = buckets_[bucket_of_[index]];
  Tensor slot = slot_view(b, slot_of_[index], p);
  const Tensor g = p.grad();
  // A parameter without a gradient (find_unused_parameters) counts as zero on this rank.
  if (g.defined()) {
    raw::copy_(slot, g);
  } else {
    raw::fill_(slot, 0.0);
  }
  ready_[index] = 1;
  --pending_params_;
  if (--b.pending == 0) launch_ready_buckets();
}

void Reducer::launch_ready_buckets() {
  // In bucket order only: every rank must issue the same collectives in the same order.
  while (next_bucket_ < buckets_.size() && buckets_[next_bucket_].pending == 0) {
    Bucket& b = buckets_[next_bucket_++];
    b.work = group_->all_reduce(b.flat, ReduceOp::avg);
    if (pending_params_ > 0) ++launched_early_;
  }
}

void Reducer::finalize_backward() {
  callback_queued_ = false;
  if (pending_params_ > 0) {
    // Without find_unused_parameters the missing gradients are reported by the next
    // forward (prepare_for_backward), as torch does.
    if (!find_unused_) return;
    for (size_t i = 0; i < params_.size(); ++i)
      if (!ready_[i]) mark_ready(i);
  }
  // Which parameters any rank used: the others keep their .grad() (torch's
  // local_used_map). Launched after the last bucket, so in the same order on every rank.
  Tensor used;
  std::shared_ptr<Work> used_work;
  if (find_unused_) {
    std::vector<int64_t> u(used_.begin(), used_.end());
    used = from_vector(u);
    used_work = group_->all_reduce(used, ReduceOp::sum);
  }
  expect_hooks_ = false;
  for (Bucket& b : buckets_) b.work->wait();
  std::vector<int64_t> global_used;
  if (used_work) {
    used_work->wait();
    global_used = used.to_vector<int64_t>();
  }
  for (size_t i = 0; i < params_.size(); ++i) {
    if (!global_used.empty() && global_used[i] == 0) continue;
    const Tensor& p = params_[i].second;
    Tensor avg = slot_view(buckets_[bucket_of_[i]], slot_of_[i], p);
    Tensor g = p.grad();
    if (g.defined() && !g.requires_grad()) {
      raw::copy_(g, avg);
    } else {
      p.set_grad(raw::clone(avg));
    }
  }
  require_finalize_ = false;
  ++reductions_;
}

void Reducer::fail_unfinished() const {
  std::ostringstream indices;
  std::ostringstream names;
  for (size_t i = 0; i < params_.size(); ++i) {
    if (ready_[i]) continue;
    indices << (indices.tellp() > 0 ? " " : "") << i;
    names << (names.tellp() > 0 ? ", " : "") << params_[i].first;
  }
  const int rank = group_->rank();
  fail<DistError>("DistributedDataParallel",
                  "Expected to have finished reduction in the prior iteration before starting a "
                  "new one. This error indicates that your module has parameters that were not "
                  "used in producing loss. You can enable unused parameter detection by passing "
                  "find_unused_parameters = true to DistributedDataParallel, and by making sure "
                  "all forward outputs participate in calculating loss. Parameter indices which "
                  "did not receive grad for rank ",
                  rank, ": ", indices.str(), ". Parameters which did not receive grad for rank ",
                  rank, ": ", names.str());
}

}  // namespace ember::distributed::detail
