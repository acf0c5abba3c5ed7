#include "distributed/data_parallel.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "autograd/grad_mode.h"
#include "distributed/reducer.h"
#include "tensor/ops.h"
#include "tensor/raw.h"

namespace ember::distributed {

namespace {

constexpr const char* kOp = "DistributedDataParallel";
// torch's dist._DEFAULT_FIRST_BUCKET_BYTES: a small first bucket starts communicating early.
constexpr int64_t kFirstBucketBytes = 1024 * 1024;

// Broadcasts every tensor from rank 0, all launched before any is waited on.
void broadcast_from_zero(ProcessGroup& group, const std::vector<Tensor>& tensors) {
  NoGradGuard no_grad;
  std::vector<std::pair<Tensor, Tensor>> staged;  // (contiguous copy, destination)
  std::vector<std::shared_ptr<Work>> works;
  for (const Tensor& t : tensors) {
    if (t.numel() == 0) continue;
    if (t.is_contiguous()) {
      works.push_back(group.broadcast(t, 0));
    } else {
      staged.emplace_back(raw::clone(t).contiguous(), t);
      works.push_back(group.broadcast(staged.back().first, 0));
    }
  }
  for (auto& w : works) w->wait();
  for (auto& [src, dst] : staged) raw::copy_(dst, src);
}

// Every parameter's dtype and shape, flattened: [count, (dtype, dim, sizes...)...].
std::vector<int64_t> signature(const std::vector<std::pair<std::string, Tensor>>& params) {
  std::vector<int64_t> sig{static_cast<int64_t>(params.size())};
  for (const auto& [name, p] : params) {
    sig.push_back(static_cast<int64_t>(p.dtype()));
    sig.push_back(p.dim());
    for (int64_t s : p.sizes()) sig.push_back(s);
  }
  return sig;
}

// Splits a signature into one (dtype, sizes) description per parameter.
std::vector<std::string> describe(const std::vector<int64_t>& sig) {
  std::vector<std::string> out;
  size_t at = 1;
  for (int64_t i = 0; i < sig[0] && at + 1 < sig.size(); ++i) {
    const auto dtype = static_cast<DType>(sig[at]);
    const auto dim = static_cast<size_t>(sig[at + 1]);
    std::vector<int64_t> sizes(sig.begin() + static_cast<std::ptrdiff_t>(at + 2),
                               sig.begin() + static_cast<std::ptrdiff_t>(at + 2 + dim));
    out.push_back("shape " + ember::str(sizes) + " and dtype " +
                  std::string(ember::to_string(dtype)));
    at += 2 + dim;
  }
  return out;
}

// torch's _verify_param_shape_across_processes: every rank gathers every rank's signature,
// so every rank throws the same error (none is left waiting in a later collective).
void verify_same_params(ProcessGroup& group,
                        const std::vector<std::pair<std::string, Tensor>>& params) {
  const int world = group.world_size();
  if (world == 1) return;
  const std::vector<int64_t> mine = signature(params);
  Tensor len = from_vector(std::vector<int64_t>{static_cast<int64_t>(mine.size())});
  Tensor lens = zeros({world}, {.dtype = DType::i64});
  group.all_gather_into_tensor(lens, len)->wait();
  const std::vector<int64_t> lv = lens.to_vector<int64_t>();
  int64_t longest = 0;
  for (int64_t l : lv) longest = std::max(longest, l);
  std::vector<int64_t> padded = mine;
  padded.resize(static_cast<size_t>(longest), -1);
  Tensor all = zeros({world * longest}, {.dtype = DType::i64});
  group.all_gather_into_tensor(all, from_vector(padded))->wait();
  const std::vector<int64_t> av = all.to_vector<int64_t>();
  auto sig_of = [&](int r) {
    auto begin = av.begin() + static_cast<std::ptrdiff_t>(r * longest);
    return std::vector<int64_t>(begin, begin + static_cast<std::ptrdiff_t>(lv[r]));
  };
  const std::vector<int64_t> zero = sig_of(0);
  const std::vector<std::string> zero_desc = describe(zero);
  for (int r = 1; r < world; ++r) {
    const std::vector<int64_t> other = sig_of(r);
    if (other == zero) continue;
    const std::vector<std::string> desc = describe(other);
    for (size_t i = 0; i < std::min(desc.size(), zero_desc.size()); ++i) {
      if (desc[i] == zero_desc[i]) continue;
      const std::string here = i < params.size() ? " ('" + params[i].first + "' on rank " +
                                                       std::to_string(group.rank()) + ")"
                                                 : "";
      fail<DistError>(kOp, "DDP expects the same model on every rank, but parameter ", i, here,
                      " has ", desc[i], " on rank ", r, " and ", zero_desc[i],
                      " on rank 0; build the model identically on every rank");
    }
    fail<DistError>(kOp, "DDP expects the same model on every rank, but rank ", r, " has ",
                    desc.size(), " parameters and rank 0 has ", zero_desc.size());
  }
}

}  // namespace

namespace detail {
void fail_module_type(const std::type_info& wanted, const nn::Module& module) {
  fail<ValueError>(kOp, "forward: the module is a ", nn::short_type_name(typeid(module)),
                   ", not a ", nn::short_type_name(wanted),
                   "; name its class (ddp.forward<MyModule>(...)) or use run_forward");
}
}  // namespace detail

DistributedDataParallel::DistributedDataParallel(std::shared_ptr<nn::Module> module,
                                                 std::shared_ptr<ProcessGroup> group,
                                                 DataParallelOptions options)
    : module_(std::move(module)), group_(std::move(group)), options_(options) {
  if (!module_) fail<ValueError>(kOp, "module is null");
  if (!group_) fail<ValueError>(kOp, "process group is null");
  if (!(options_.bucket_cap_mb > 0) || !std::isfinite(options_.bucket_cap_mb))
    fail<ValueError>(kOp, "bucket_cap_mb must be positive, got ", options_.bucket_cap_mb);
  const auto params = module_->named_parameters();
  verify_same_params(*group_, params);
  buffers_ = module_->named_buffers();
  std::vector<Tensor> state;
  for (const auto& [name, p] : params) state.push_back(p);
  for (const auto& [name, b] : buffers_) state.push_back(b);
  broadcast_from_zero(*group_, state);

  std::vector<std::pair<std::string, Tensor>> trainable;
  for (const auto& [name, p] : params)
    if (p.requires_grad()) trainable.emplace_back(name, p);
  const auto cap = static_cast<int64_t>(std::llround(options_.bucket_cap_mb * 1024 * 1024));
  const int64_t bucket_bytes = std::max<int64_t>(cap, 1);
  reducer_ = std::make_unique<detail::Reducer>(std::move(trainable), group_,
                                               std::min(kFirstBucketBytes, bucket_bytes),
                                               bucket_bytes, options_.find_unused_parameters);
}

DistributedDataParallel::~DistributedDataParallel() = default;
DistributedDataParallel::DistributedDataParallel(DistributedDataParallel&&) noexcept = default;
DistributedDataParallel& DistributedDataParallel::operator=(DistributedDataParallel&&) noexcept =
    default;

void DistributedDataParallel::pre_forward() {
  // As torch: only a forward whose backward will be synchronized prepares the reducer and
  // syncs the buffers (not one under no_grad, as in validation, or under no_sync).
  if (!autograd::GradMode::is_enabled() || !require_backward_grad_sync_) {
    reducer_->ignore_next_backward();
    return;
  }
  reducer_->prepare_for_backward();
  if (options_.broadcast_buffers) sync_buffers();
}

void DistributedDataParallel::sync_buffers() {
  if (buffers_.empty() || group_->world_size() == 1) return;
  std::vector<Tensor> tensors;
  for (const auto& [name, b] : buffers_) tensors.push_back(b);
  broadcast_from_zero(*group_, tensors);
}

DistributedDataParallel::NoSync::NoSync(DistributedDataParallel& ddp)
    : ddp_(&ddp), prev_(ddp.require_backward_grad_sync_) {
  ddp.require_backward_grad_sync_ = false;
}

DistributedDataParallel::NoSync::~NoSync() { ddp_->require_backward_grad_sync_ = prev_; }

DataParallelStats DistributedDataParallel::stats() const {
  DataParallelStats s;
  for (const detail::Bucket& b : reducer_->buckets()) {
    std::vector<std::string> names;
    for (size_t i : b.params) names.push_back(reducer_->params()[i].first);
    s.buckets.push_back(std::move(names));
    s.bucket_bytes.push_back(b.flat.numel() * static_cast<int64_t>(element_size(b.flat.dtype())));
  }
  s.reductions = reducer_->reductions();
  s.buckets_launched_early = reducer_->buckets_launched_early();
  return s;
}

}  // namespace ember::distributed
