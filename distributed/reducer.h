// The reducer of DistributedDataParallel (torch's c10d::Reducer): gradient buckets, the
// hooks that fill them during backward and the all-reduces that average them.
//
// Each bucket is one flat tensor (its parameters' dtype and device) holding its
// parameters' gradients back to back. A parameter's post-accumulate-grad hook copies its
// .grad() into its slot; when a bucket's last slot is filled, the buckets up to the first
// incomplete one are launched (all_reduce avg, asynchronous), so every rank launches them
// in the same order whatever order its gradients came in. The callback queued at the first
// hook of a backward runs when the engine is done: it waits for every bucket and copies the
// averages back into .grad().
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "distributed/process_group.h"

namespace ember::distributed::detail {

struct Bucket {
  std::vector<size_t> params;    // indices into the reducer's parameters, in slot order
  std::vector<int64_t> offsets;  // each one's first element in `flat`
  Tensor flat;                   // (sum of the parameters' numel)
  size_t pending = 0;            // slots not yet filled in this backward
  std::shared_ptr<Work> work;    // its all-reduce in this backward
};

class Reducer {
 public:
  // `params`: the parameters that require grad, in registration order.
  Reducer(std::vector<std::pair<std::string, Tensor>> params, std::shared_ptr<ProcessGroup> group,
          int64_t first_bucket_bytes, int64_t bucket_bytes, bool find_unused_parameters);
  ~Reducer();  // removes the hooks
  Reducer(const Reducer&) = delete;
  Reducer& operator=(const Reducer&) = delete;

  // Before a synchronized forward: throws DistError when the last synchronized backward
  // did not finish (a parameter got no gradient), then expects the hooks of one backward.
  void prepare_for_backward();
  // Before a forward under no_sync or without grad: the hooks of its backward do nothing.
  void ignore_next_backward() { expect_hooks_ = false; }

  const std::vector<Bucket>& buckets() const { return buckets_; }
  const std::vector<std::pair<std::string, Tensor>>& params() const { return params_; }
  int64_t reductions() const { return reductions_; }
  int64_t buckets_launched_early() const { return launched_early_; }

 private:
  void on_grad_ready(size_t index);
  void mark_ready(size_t index);
  void launch_ready_buckets();
  void finalize_backward();
  [[noreturn]] void fail_unfinished() const;

  std::vector<std::pair<std::string, Tensor>> params_;
  std::shared_ptr<ProcessGroup> group_;
  bool find_unused_;
  std::vector<Bucket> buckets_;
  std::vector<size_t> bucket_of_;  // parameter -> bucket
  std::vector<size_t> slot_of_;    // parameter -> slot in its bucket
  std::vector<int64_t> hook_handles_;

  // This backward's state.
  bool expect_hooks_ = false;
  bool require_finalize_ = false;
  bool callback_queued_ = false;
  std::vector<uint8_t> ready_;  // per parameter: its gradient reached the bucket
  std::vector<uint8_t> used_;   // per parameter: its hook ran (it got a gradient)
  size_t pending_params_ = 0;
  size_t next_bucket_ = 0;  // the first bucket not yet launched
  int64_t launched_early_ = 0;
  int64_t reductions_ = 0;
};

}  // namespace ember::distributed::detail
