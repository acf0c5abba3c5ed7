#include "trainer/data.h"

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <thread>

#include "tensor/ops.h"
#include "tensor/philox.h"
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

// ---- BatchStream ------------------------------------------------------------------------

struct BatchStream::Impl {
  struct Slot {
    Batch batch;
    std::exception_ptr error;
  };
  std::shared_ptr<const Dataset> dataset;
  std::vector<std::vector<int64_t>> batches;
  int64_t capacity = 0;  // batches loaded ahead of the consumer, at most

  std::mutex mu;
  std::condition_variable work_cv, ready_cv;
  std::map<int64_t, Slot> ready;  // loaded, not yet handed out
  int64_t next_task = 0;          // the next batch a worker takes
  int64_t consumed = 0;           // batches handed out
  bool stop = false;
  std::vector<std::thread> workers;

  int64_t n() const { return static_cast<int64_t>(batches.size()); }

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
        slot.batch = dataset->get_batch(batches[static_cast<size_t>(task)]);
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
                         int64_t prefetch_factor)
    : impl_(std::make_unique<Impl>()) {
  impl_->dataset = std::move(dataset);
  impl_->batches = std::move(batches);
  if (num_workers > 0) {
    impl_->capacity = num_workers * std::max<int64_t>(prefetch_factor, 1);
    for (int64_t w = 0; w < num_workers && w < impl_->n(); ++w)
      impl_->workers.emplace_back([impl = impl_.get()] { impl->work(); });
  }
}

BatchStream::~BatchStream() {
  {
    std::lock_guard lock(impl_->mu);
    impl_->stop = true;
  }
  impl_->work_cv.notify_all();
  for (auto& t : impl_->workers) t.join();
}

int64_t BatchStream::remaining() const {
  std::lock_guard lock(impl_->mu);
  return impl_->n() - impl_->consumed;
}

std::optional<Batch> BatchStream::next() {
  Impl& s = *impl_;
  if (s.workers.empty()) {  // no workers: load in this thread
    if (s.consumed >= s.n()) return std::nullopt;
    return s.dataset->get_batch(s.batches[static_cast<size_t>(s.consumed++)]);
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
  seed_ = options_.seed ? *options_.seed : get_rng_state().seed;
}

int64_t DataLoader::size() const {
  const int64_t n = dataset_->size(), b = options_.batch_size;
  return options_.drop_last ? n / b : (n + b - 1) / b;
}

std::vector<int64_t> DataLoader::sample_order(int64_t epoch) const {
  const int64_t n = dataset_->size();
  std::vector<int64_t> order(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) order[static_cast<size_t>(i)] = i;
  if (!options_.shuffle) return order;
  // Fisher-Yates with Philox draws keyed by the loader's seed. The counter's high word
  // has its top bit set, which no op of the global generator reaches (its offsets count
  // random ops), so the two streams never share numbers even under the same seed.
  const uint64_t stream = (uint64_t{1} << 63) | static_cast<uint64_t>(epoch);
  for (int64_t i = n - 1; i > 0; --i) {
    const int64_t j =
        philox::randint(philox::draw(seed_, stream, static_cast<uint64_t>(i)), 0, i + 1);
    std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(j)]);
  }
  return order;
}

std::unique_ptr<BatchStream> DataLoader::stream(int64_t first, int64_t last) const {
  const int64_t total = size();
  if (last < 0 || last > total) last = total;
  if (first < 0) first = 0;
  std::vector<int64_t> order = sample_order(epoch_);
  std::vector<std::vector<int64_t>> batches;
  for (int64_t b = first; b < last; ++b) {
    const int64_t begin = b * options_.batch_size;
    const int64_t end =
        std::min<int64_t>(begin + options_.batch_size, static_cast<int64_t>(order.size()));
    batches.emplace_back(order.begin() + begin, order.begin() + end);
  }
  return std::make_unique<BatchStream>(dataset_, std::move(batches), options_.num_workers,
                                       options_.prefetch_factor);
}

DataLoader::Iterator::Iterator(std::shared_ptr<BatchStream> s) : stream_(std::move(s)) { ++*this; }

DataLoader::Iterator& DataLoader::Iterator::operator++() {
  current_ = stream_ ? stream_->next() : std::nullopt;
  if (!current_) stream_.reset();
  return *this;
}

}  // namespace ember
