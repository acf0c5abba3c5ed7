#include "trainer/data.h"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <thread>

#include "tensor/ops.h"
#include "tensor/pinned_memory.h"
#include "tensor/random.h"

namespace ember {

// ---- datasets ---------------------------------------------------------------------------

Batch Dataset::get_batch(const std::vector<int64_t>& indices) const {
  std::vector<Batch> samples;
  samples.reserve(indices.size());
  for (int64_t i : indices) samples.push_back(get(i));
  return collate(samples);
}

Batch collate(const std::vector<Batch>& samples) {
  if (samples.empty()) fail<ValueError>("collate", "no samples to collate");
  const size_t width = samples[0].size();
  std::vector<Tensor> out;
  for (size_t p = 0; p < width; ++p) {
    std::vector<Tensor> column;
    column.reserve(samples.size());
    for (size_t i = 0; i < samples.size(); ++i) {
      if (samples[i].size() != width)
        fail<ValueError>("collate", "sample ", i, " holds ", samples[i].size(),
                         " tensors, sample 0 holds ", width);
      if (samples[i][p].sizes() != samples[0][p].sizes())
        fail<ShapeError>("collate", "tensor ", p, " of sample ", i, " has shape ",
                         str(samples[i][p].sizes()), ", sample 0's has ",
                         str(samples[0][p].sizes()), " (samples must stack)");
      column.push_back(samples[i][p]);
    }
    out.push_back(stack(column, 0));
  }
  return Batch(std::move(out));
}

Tensor pad_sequence(const std::vector<Tensor>& sequences, bool batch_first, double padding_value) {
  const char* op = "pad_sequence";
  if (sequences.empty()) fail<ValueError>(op, "received an empty list of sequences");
  const Tensor& first = sequences[0];
  if (!first.defined() || first.dim() == 0)
    fail<ValueError>(op, "sequence 0 must have a leading (length) dim, got shape ",
                     str(first.defined() ? first.sizes() : Shape{}));
  const Shape trailing(first.sizes().begin() + 1, first.sizes().end());
  int64_t longest = 0;
  for (size_t i = 0; i < sequences.size(); ++i) {
    const Tensor& t = sequences[i];
    if (!t.defined() || t.dim() == 0 || Shape(t.sizes().begin() + 1, t.sizes().end()) != trailing)
      fail<ShapeError>(op, "sequence ", i, " has shape ", str(t.defined() ? t.sizes() : Shape{}),
                       ", sequence 0 has ", str(first.sizes()),
                       " (only the leading length may differ)");
    if (t.dtype() != first.dtype() || t.device() != first.device())
      fail<ValueError>(op, "sequence ", i, " is ", t.dtype(), " on ", t.device().str(),
                       ", sequence 0 is ", first.dtype(), " on ", first.device().str());
    longest = std::max(longest, t.size(0));
  }
  std::vector<Tensor> padded;
  padded.reserve(sequences.size());
  for (const Tensor& t : sequences) {
    if (t.size(0) == longest) {
      padded.push_back(t);
      continue;
    }
    Shape pad_shape = t.sizes();
    pad_shape[0] = longest - t.size(0);
    padded.push_back(
        cat({t, full(pad_shape, padding_value, {.dtype = t.dtype(), .device = t.device()})}, 0));
  }
  return stack(padded, batch_first ? 0 : 1);
}

TensorDataset::TensorDataset(std::vector<Tensor> tensors) : tensors_(std::move(tensors)) {
  if (tensors_.empty()) fail<ValueError>("TensorDataset", "needs at least one tensor");
  for (size_t i = 0; i < tensors_.size(); ++i) {
    if (!tensors_[i].defined() || tensors_[i].dim() == 0)
      fail<ValueError>("TensorDataset", "tensor ", i, " must have a leading (sample) dim");
    if (tensors_[i].size(0) != tensors_[0].size(0))
      fail<ShapeError>("TensorDataset", "tensor ", i, " has ", tensors_[i].size(0),
                       " rows, tensor 0 has ", tensors_[0].size(0), " (shapes ",
                       str(tensors_[i].sizes()), " and ", str(tensors_[0].sizes()), ")");
  }
  size_ = tensors_[0].size(0);
}

Batch TensorDataset::get(int64_t index) const {
  if (index < 0 || index >= size_)
    fail<IndexError>("TensorDataset", "index ", index, " is out of range for ", size_, " samples");
  std::vector<Tensor> sample;
  for (const Tensor& t : tensors_) sample.push_back(t.select(0, index));
  return Batch(std::move(sample));
}

Batch TensorDataset::get_batch(const std::vector<int64_t>& indices) const {
  for (int64_t i : indices)
    if (i < 0 || i >= size_)
      fail<IndexError>("TensorDataset", "index ", i, " is out of range for ", size_, " samples");
  Tensor idx = from_vector(indices);
  std::vector<Tensor> out;
  for (const Tensor& t : tensors_) out.push_back(index_select(t, 0, idx.to(t.device())));
  return Batch(std::move(out));
}

// ---- WorkerPool -------------------------------------------------------------------------

// The worker threads of a persistent_workers loader: they outlive each epoch's BatchStream
// and serve one stream at a time.
class WorkerPool {
 public:
  explicit WorkerPool(int64_t threads);
  ~WorkerPool();  // runs the queued jobs, joins the threads
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;
  // Claims the pool for one stream; false while another stream holds it (that stream then
  // starts threads of its own, so two live streams of one loader cannot starve each other).
  bool acquire();
  void release();
  void post(std::function<void()> job);

 private:
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stop_ = false, held_ = false;
};

// ---- pin_memory --------------------------------------------------------------------------

namespace {
// Whether a loader with pin_memory pins: only where pinned memory serves a device. Without
// one it warns once per process, as PyTorch ("no accelerator is found"), and loads as usual.
bool pin_batches(bool pin_memory) {
  if (!pin_memory) return false;
  if (pinned_memory_has_device()) return true;
  static std::once_flag warned;
  std::call_once(warned, [] {
    std::fputs(
        "ember: warning: DataLoader: pin_memory is true but no GPU is present, so batches "
        "are not pinned\n",
        stderr);
  });
  return false;
}

Batch pinned(const Batch& batch) {
  std::vector<Tensor> out;
  out.reserve(batch.size());
  for (const Tensor& t : batch)
    out.push_back(t.defined() && t.device().is_cpu() ? pin_memory(t) : t);
  return Batch(std::move(out));
}

// The loader's dataset with each whole batch pinned: the batch is pinned where it is
// loaded (a worker thread, as PyTorch's pin thread), so the consumer's copies to the
// device are asynchronous from the start.
class PinnedBatches : public Dataset {
 public:
  explicit PinnedBatches(std::shared_ptr<const Dataset> inner) : inner_(std::move(inner)) {}
  int64_t size() const override { return inner_->size(); }
  Batch get(int64_t index) const override { return inner_->get(index); }
  Batch get_batch(const std::vector<int64_t>& indices) const override {
    return pinned(inner_->get_batch(indices));
  }

 private:
  std::shared_ptr<const Dataset> inner_;
};
}  // namespace

// ---- BatchStream ------------------------------------------------------------------------

struct BatchStream::Impl {
  struct Slot {
    Batch batch;
    std::exception_ptr error;
  };
  std::shared_ptr<const Dataset> dataset;
  std::vector<std::vector<int64_t>> batches;
  CollateFn collate_fn;
  int64_t capacity = 0;  // batches loaded ahead of the consumer, at most

  std::mutex mu;
  std::condition_variable work_cv, ready_cv;
  std::map<int64_t, Slot> ready;  // loaded, not yet handed out
  int64_t next_task = 0;          // the next batch a worker takes
  int64_t consumed = 0;           // batches handed out
  bool stop = false;
  bool threaded = false;
  std::vector<std::thread> workers;
  // With a persistent pool: the jobs still inside work(), and the pool to hand back.
  std::shared_ptr<WorkerPool> pool;
  int64_t running = 0;
  std::condition_variable done_cv;

  int64_t n() const { return static_cast<int64_t>(batches.size()); }

  Batch load(int64_t b) const {
    const std::vector<int64_t>& indices = batches[static_cast<size_t>(b)];
    if (!collate_fn) return dataset->get_batch(indices);
    std::vector<Batch> samples;
    samples.reserve(indices.size());
    for (int64_t i : indices) samples.push_back(dataset->get(i));
    return collate_fn(samples);
  }

  void work() {
    std::unique_lock lock(mu);
    while (true) {
      work_cv.wait(lock,
                   [&] { return stop || next_task >= n() || next_task < consumed + capacity; });
      if (stop || next_task >= n()) return;
      const int64_t task = next_task++;
      lock.unlock();
      Slot slot;
      try {
        slot.batch = load(task);
      } catch (...) {
        slot.error = std::current_exception();
      }
      lock.lock();
      ready.emplace(task, std::move(slot));
      ready_cv.notify_all();
    }
  }
};

BatchStream::BatchStream(std::shared_ptr<const Dataset> dataset,
                         std::vector<std::vector<int64_t>> batches, int64_t num_workers,
                         int64_t prefetch_factor, CollateFn collate_fn,
                         std::shared_ptr<WorkerPool> pool)
    : impl_(std::make_unique<Impl>()) {
  impl_->dataset = std::move(dataset);
  impl_->batches = std::move(batches);
  impl_->collate_fn = std::move(collate_fn);
  if (num_workers > 0 && impl_->n() > 0) {
    impl_->threaded = true;
    impl_->capacity = num_workers * std::max<int64_t>(prefetch_factor, 1);
    const int64_t count = std::min(num_workers, impl_->n());
    if (pool && pool->acquire()) {
      impl_->pool = std::move(pool);
      impl_->running = count;
      for (int64_t w = 0; w < count; ++w)
        impl_->pool->post([impl = impl_.get()] {
          impl->work();
          std::lock_guard lock(impl->mu);
          --impl->running;
          impl->done_cv.notify_all();
        });
    } else {
      for (int64_t w = 0; w < count; ++w)
        impl_->workers.emplace_back([impl = impl_.get()] { impl->work(); });
    }
  }
}

BatchStream::~BatchStream() {
  std::unique_lock lock(impl_->mu);
  impl_->stop = true;
  lock.unlock();
  impl_->work_cv.notify_all();
  for (auto& t : impl_->workers) t.join();
  if (impl_->pool) {  // the pool's threads live on; wait until none is inside work()
    lock.lock();
    impl_->done_cv.wait(lock, [&] { return impl_->running == 0; });
    lock.unlock();
    impl_->pool->release();
  }
}

int64_t BatchStream::remaining() const {
  std::lock_guard lock(impl_->mu);
  return impl_->n() - impl_->consumed;
}

std::optional<Batch> BatchStream::next() {
  Impl& s = *impl_;
  if (!s.threaded) {  // no workers: load in this thread
    if (s.consumed >= s.n()) return std::nullopt;
    return s.load(s.consumed++);
  }
  std::unique_lock lock(s.mu);
  if (s.consumed >= s.n()) return std::nullopt;
  const int64_t want = s.consumed;
  s.ready_cv.wait(lock, [&] { return s.ready.count(want) != 0; });
  Impl::Slot slot = std::move(s.ready.at(want));
  s.ready.erase(want);
  ++s.consumed;
  lock.unlock();
  s.work_cv.notify_all();
  if (slot.error) std::rethrow_exception(slot.error);
  return std::move(slot.batch);
}

WorkerPool::WorkerPool(int64_t threads) {
  for (int64_t t = 0; t < threads; ++t)
    threads_.emplace_back([this] {
      std::unique_lock lock(mu_);
      while (true) {
        cv_.wait(lock, [&] { return stop_ || !jobs_.empty(); });
        if (jobs_.empty()) return;  // stop_, nothing left
        std::function<void()> job = std::move(jobs_.front());
        jobs_.pop_front();
        lock.unlock();
        job();
        lock.lock();
      }
    });
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

bool WorkerPool::acquire() {
  std::lock_guard lock(mu_);
  if (held_) return false;
  held_ = true;
  return true;
}

void WorkerPool::release() {
  std::lock_guard lock(mu_);
  held_ = false;
}

void WorkerPool::post(std::function<void()> job) {
  {
    std::lock_guard lock(mu_);
    jobs_.push_back(std::move(job));
  }
  cv_.notify_one();
}

// ---- DataLoader -------------------------------------------------------------------------

DataLoader::DataLoader(std::shared_ptr<const Dataset> dataset, DataLoaderOptions options)
    : dataset_(std::move(dataset)), options_(options) {
  if (!dataset_) fail<ValueError>("DataLoader", "dataset is null");
  if (options_.batch_size < 1)
    fail<ValueError>("DataLoader", "batch_size must be at least 1, got ", options_.batch_size);
  if (options_.num_workers < 0)
    fail<ValueError>("DataLoader", "num_workers must be >= 0, got ", options_.num_workers);
  if (options_.prefetch_factor < 1)
    fail<ValueError>("DataLoader", "prefetch_factor must be >= 1, got ", options_.prefetch_factor);
  // torch's rules for the sampler options.
  const DataLoaderOptions& o = options_;
  if (o.sampler && o.shuffle)
    fail<ValueError>("DataLoader", "sampler option is mutually exclusive with shuffle");
  if (o.batch_sampler && (o.batch_size != 1 || o.shuffle || o.sampler || o.drop_last))
    fail<ValueError>("DataLoader",
                     "batch_sampler option is mutually exclusive with batch_size, shuffle, "
                     "sampler, and drop_last (got batch_size=",
                     o.batch_size, ", shuffle=", o.shuffle, ", sampler ",
                     o.sampler ? "set" : "unset", ", drop_last=", o.drop_last, ")");
  if (o.persistent_workers && o.num_workers == 0)
    fail<ValueError>("DataLoader", "persistent_workers option needs num_workers > 0");
  seed_ = options_.seed ? *options_.seed : get_rng_state().seed;
  if (o.batch_sampler) {
    batch_sampler_ = o.batch_sampler;
  } else {
    std::shared_ptr<const Sampler> sampler = o.sampler;
    if (!sampler && o.shuffle)
      sampler =
          std::make_shared<RandomSampler>(dataset_->size(), RandomSamplerOptions{.seed = seed_});
    if (!sampler) sampler = std::make_shared<SequentialSampler>(dataset_->size());
    batch_sampler_ = std::make_shared<BatchSampler>(sampler, o.batch_size, o.drop_last);
  }
}

int64_t DataLoader::size() const { return batch_sampler_->size(); }

std::vector<int64_t> DataLoader::sample_order(int64_t epoch) const {
  if (!options_.batch_sampler) return batch_sampler_->sampler().indices(epoch);
  std::vector<int64_t> order;
  for (const auto& b : batch_sampler_->batches(epoch))
    order.insert(order.end(), b.begin(), b.end());
  return order;
}

std::vector<std::vector<int64_t>> DataLoader::batch_indices(int64_t epoch) const {
  return batch_sampler_->batches(epoch);
}

std::unique_ptr<BatchStream> DataLoader::stream(int64_t first, int64_t last) const {
  std::vector<std::vector<int64_t>> all = batch_indices(epoch_);
  const auto total = static_cast<int64_t>(all.size());
  if (last < 0 || last > total) last = total;
  first = std::clamp<int64_t>(first, 0, last);
  std::vector<std::vector<int64_t>> batches(std::make_move_iterator(all.begin() + first),
                                            std::make_move_iterator(all.begin() + last));
  if (options_.persistent_workers && !pool_)
    pool_ = std::make_shared<WorkerPool>(options_.num_workers);
  std::shared_ptr<const Dataset> dataset = dataset_;
  CollateFn collate_fn = options_.collate_fn;
  if (pin_batches(options_.pin_memory)) {  // pin what the stream's loads return
    if (collate_fn) {
      collate_fn = [inner = std::move(collate_fn)](const std::vector<Batch>& samples) {
        return pinned(inner(samples));
      };
    } else {
      dataset = std::make_shared<PinnedBatches>(dataset_);
    }
  }
  return std::make_unique<BatchStream>(std::move(dataset), std::move(batches), options_.num_workers,
                                       options_.prefetch_factor, std::move(collate_fn), pool_);
}

DataLoader::Iterator::Iterator(std::shared_ptr<BatchStream> s) : stream_(std::move(s)) { ++*this; }

DataLoader::Iterator& DataLoader::Iterator::operator++() {
  current_ = stream_ ? stream_->next() : std::nullopt;
  if (!current_) stream_.reset();
  return *this;
}

// ---- LoaderList -------------------------------------------------------------------------

LoaderList::LoaderList(std::shared_ptr<DataLoader> loader) { add(std::move(loader)); }

LoaderList::LoaderList(std::initializer_list<std::reference_wrapper<DataLoader>> loaders) {
  for (DataLoader& l : loaders) loaders_.push_back(&l);
}

LoaderList::LoaderList(std::initializer_list<std::shared_ptr<DataLoader>> loaders) {
  for (const auto& l : loaders) add(l);
}

LoaderList::LoaderList(std::vector<std::shared_ptr<DataLoader>> loaders) {
  for (auto& l : loaders) add(std::move(l));
}

void LoaderList::add(std::shared_ptr<DataLoader> loader) {
  if (!loader) fail<ValueError>("DataLoader", "loader ", loaders_.size(), " of the list is null");
  loaders_.push_back(loader.get());
  owned_.push_back(std::move(loader));
}

}  // namespace ember
