// Data loading: datasets of samples, and a DataLoader that batches, shuffles (reproducibly
// per epoch) and prefetches them on background threads, in order.
//
//   auto data = std::make_shared<TensorDataset>(std::vector<Tensor>{images, labels});
//   DataLoader loader(data, {.batch_size = 32, .shuffle = true, .num_workers = 2});
//   for (const Batch& batch : loader) { auto [x, y] = batch.unpack<2>(); ... }
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <optional>
#include <vector>

#include "trainer/batch.h"
#include "trainer/sampler.h"

namespace ember {

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  // One sample (its tensors without a batch dim). DataLoader workers call it from several
  // threads at once, so it must not change shared state (nor draw from the global
  // generator: derive any randomness from the index).
  virtual Batch get(int64_t index) const = 0;
  // The samples at `indices`, collated. The default stacks get() of each; a dataset that
  // can gather a whole batch at once (TensorDataset) overrides it.
  virtual Batch get_batch(const std::vector<int64_t>& indices) const;
};

// Stacks samples position by position: tensor p of the result is stack(sample_i[p]).
// Samples must hold the same number of tensors with equal shapes.
Batch collate(const std::vector<Batch>& samples);

// torch.nn.utils.rnn.pad_sequence: tensors of shapes (L_i, *) padded with `padding_value`
// to the longest L and stacked: (L, B, *), or (B, L, *) with batch_first. The trailing
// dims and dtypes must agree. Differentiable (built from cat and stack).
Tensor pad_sequence(const std::vector<Tensor>& sequences, bool batch_first = false,
                    double padding_value = 0.0);

// A DataLoader's collate_fn: the samples of one batch (Dataset::get of each) -> the batch.
using CollateFn = std::function<Batch(const std::vector<Batch>&)>;

// Samples are the rows (dim 0) of equally long tensors.
class TensorDataset : public Dataset {
 public:
  explicit TensorDataset(std::vector<Tensor> tensors);
  int64_t size() const override { return size_; }
  Batch get(int64_t index) const override;
  Batch get_batch(const std::vector<int64_t>& indices) const override;  // index_select

 private:
  std::vector<Tensor> tensors_;
  int64_t size_ = 0;
};

struct DataLoaderOptions {
  int64_t batch_size = 1;
  bool shuffle = false;
  bool drop_last = false;       // drop a last batch smaller than batch_size
  int64_t num_workers = 0;      // 0: load in the calling thread
  int64_t prefetch_factor = 2;  // batches each worker may have loaded ahead
  // The shuffle's seed: the order of epoch e is a pure function of (seed, e), drawn from
  // a Philox stream of its own, so shuffling never moves the global generator. Unset:
  // the global generator's seed when the loader is built (manual_seed makes it
  // reproducible).
  std::optional<uint64_t> seed{};
  // ---- samplers and collation (torch.utils.data.DataLoader's) ----
  // The indices of each epoch (mutually exclusive with shuffle), or whole batches of them
  // (mutually exclusive with batch_size, shuffle, sampler and drop_last). Their own seeds
  // decide their order; `seed` above only serves shuffle.
  std::shared_ptr<const Sampler> sampler{};
  std::shared_ptr<const BatchSampler> batch_sampler{};
  // Unset: Dataset::get_batch (stacking). Set: get() of each index, then collate_fn.
  CollateFn collate_fn{};
  // Batches' cpu tensors in page-locked host memory, so copies to cuda are asynchronous
  // (docs/trainer.md "Data": a plain copy where no cuda device exists).
  bool pin_memory = false;
  // Keep the worker threads between epochs (needs num_workers > 0).
  bool persistent_workers = false;
};

// The worker threads a persistent_workers loader keeps between epochs (data.cpp).
class WorkerPool;

// One pass over some batches of an epoch. With workers, batch b is loaded by a worker
// thread up to num_workers * prefetch_factor batches ahead and handed out in order.
class BatchStream {
 public:
  BatchStream(std::shared_ptr<const Dataset> dataset, std::vector<std::vector<int64_t>> batches,
              int64_t num_workers, int64_t prefetch_factor, CollateFn collate_fn = {},
              std::shared_ptr<WorkerPool> pool = nullptr);
  ~BatchStream();  // stops and joins the workers
  BatchStream(const BatchStream&) = delete;
  BatchStream& operator=(const BatchStream&) = delete;

  // The next batch, or nullopt after the last. A worker's exception is rethrown here,
  // when its batch's turn comes.
  std::optional<Batch> next();
  int64_t remaining() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class DataLoader {
 public:
  DataLoader(std::shared_ptr<const Dataset> dataset, DataLoaderOptions options = {});

  int64_t size() const;                                     // batches per epoch
  int64_t num_samples() const { return dataset_->size(); }  // of the dataset
  const DataLoaderOptions& options() const { return options_; }
  const Dataset& dataset() const { return *dataset_; }
  uint64_t seed() const { return seed_; }

  // The epoch whose order begin()/stream() use (the Trainer sets it before each epoch).
  void set_epoch(int64_t epoch) { epoch_ = epoch; }
  int64_t epoch() const { return epoch_; }
  // The sample order of an epoch: the sampler's indices (0..n-1, or the seeded permutation
  // when shuffling); with a batch_sampler, its batches one after the other.
  std::vector<int64_t> sample_order(int64_t epoch) const;
  // The index lists of an epoch's batches.
  std::vector<std::vector<int64_t>> batch_indices(int64_t epoch) const;

  // Batches [first, last) of the current epoch (last = -1: to the end). Batches before
  // `first` are not loaded, which is how a resumed run skips what it already trained on.
  std::unique_ptr<BatchStream> stream(int64_t first = 0, int64_t last = -1) const;

  // Range-for over the current epoch.
  class Iterator {
   public:
    using value_type = Batch;
    using difference_type = std::ptrdiff_t;
    Iterator() = default;
    explicit Iterator(std::shared_ptr<BatchStream> s);
    const Batch& operator*() const { return *current_; }
    const Batch* operator->() const { return &*current_; }
    Iterator& operator++();
    void operator++(int) { ++*this; }
    bool operator==(const Iterator& o) const { return !current_ && !o.current_; }

   private:
    std::shared_ptr<BatchStream> stream_;
    std::optional<Batch> current_;
  };
  Iterator begin() const { return Iterator(stream()); }
  Iterator end() const { return Iterator(); }

 private:
  std::shared_ptr<const Dataset> dataset_;
  DataLoaderOptions options_;
  uint64_t seed_ = 0;
  int64_t epoch_ = 0;
  std::shared_ptr<const BatchSampler> batch_sampler_;  // options' or built from them
  mutable std::shared_ptr<WorkerPool> pool_;           // persistent_workers, made on first use
};

// One loader or several, as the Trainer's entry points and a LightningDataModule take them:
// `loader`, `{val_a, val_b}`, a shared_ptr, or a list of shared_ptrs (which it keeps
// alive). Loaders given by reference belong to the caller.
class LoaderList {
 public:
  LoaderList() = default;
  LoaderList(DataLoader& loader) : loaders_{&loader} {}  // NOLINT: implicit on purpose
  LoaderList(std::shared_ptr<DataLoader> loader);        // NOLINT
  LoaderList(std::initializer_list<std::reference_wrapper<DataLoader>> loaders);  // NOLINT
  LoaderList(std::initializer_list<std::shared_ptr<DataLoader>> loaders);         // NOLINT
  LoaderList(std::vector<std::shared_ptr<DataLoader>> loaders);                   // NOLINT

  size_t size() const { return loaders_.size(); }
  bool empty() const { return loaders_.empty(); }
  DataLoader& operator[](size_t i) const { return *loaders_[i]; }
  const std::vector<DataLoader*>& pointers() const { return loaders_; }

 private:
  void add(std::shared_ptr<DataLoader> loader);
  std::vector<DataLoader*> loaders_;
  std::vector<std::shared_ptr<DataLoader>> owned_;
};

}  // namespace ember
