#include "trainer/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "tensor/error.h"
#include "tensor/philox.h"
#include "tensor/random.h"

namespace ember {

namespace {

// Each sampler kind draws from its own Philox stream: the counter's high word holds the top
// bit (which no op of the global generator reaches: its offsets count random ops), the kind
// in bits 56..62 and the epoch below. Kind 0 is the DataLoader's historical shuffle stream,
// so shuffle=true orders batches exactly as before samplers existed.
enum Kind : uint64_t { kPermutation = 0, kReplacement = 1, kWeighted = 2, kSubset = 3 };

uint64_t stream_of(Kind kind, int64_t epoch) {
  return (uint64_t{1} << 63) | (static_cast<uint64_t>(kind) << 56) |
         (static_cast<uint64_t>(epoch) & ((uint64_t{1} << 56) - 1));
}

uint64_t resolve_seed(const std::optional<uint64_t>& seed) {
  return seed ? *seed : get_rng_state().seed;
}

// Fisher-Yates over `v` with draws (seed, stream, salt + i).
void shuffle_in_place(std::vector<int64_t>& v, uint64_t seed, uint64_t stream, uint64_t salt) {
  for (int64_t i = static_cast<int64_t>(v.size()) - 1; i > 0; --i) {
    const int64_t j =
        philox::randint(philox::draw(seed, stream, salt + static_cast<uint64_t>(i)), 0, i + 1);
    std::swap(v[static_cast<size_t>(i)], v[static_cast<size_t>(j)]);
  }
}

std::vector<int64_t> iota_n(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), int64_t{0});
  return v;
}

}  // namespace

// ---- SequentialSampler ----------------------------------------------------------------------

SequentialSampler::SequentialSampler(int64_t n) : n_(n) {
  if (n < 0) fail<ValueError>("SequentialSampler", "the dataset size must be >= 0, got ", n);
}

std::vector<int64_t> SequentialSampler::indices(int64_t) const { return iota_n(n_); }

// ---- RandomSampler --------------------------------------------------------------------------

RandomSampler::RandomSampler(int64_t n, RandomSamplerOptions options)
    : n_(n),
      num_samples_(options.num_samples.value_or(n)),
      replacement_(options.replacement),
      seed_(resolve_seed(options.seed)) {
  if (n < 0) fail<ValueError>("RandomSampler", "the dataset size must be >= 0, got ", n);
  if (options.num_samples && *options.num_samples <= 0)
    fail<ValueError>("RandomSampler",
                     "num_samples should be a positive integer value, but got num_samples=",
                     *options.num_samples);
  if (num_samples_ > 0 && n_ == 0)
    fail<ValueError>("RandomSampler", "cannot draw ", num_samples_, " samples from no data");
}

std::vector<int64_t> RandomSampler::indices(int64_t epoch) const {
  std::vector<int64_t> out;
  out.reserve(static_cast<size_t>(num_samples_));
  if (replacement_) {
    const uint64_t stream = stream_of(kReplacement, epoch);
    for (int64_t i = 0; i < num_samples_; ++i)
      out.push_back(philox::randint(philox::draw(seed_, stream, static_cast<uint64_t>(i)), 0, n_));
    return out;
  }
  // Whole permutations, then a prefix of one more (torch's num_samples > n); permutation k
  // salts its counters with k << 40 so permutation 0 is the historical shuffle.
  const uint64_t stream = stream_of(kPermutation, epoch);
  for (int64_t k = 0; static_cast<int64_t>(out.size()) < num_samples_; ++k) {
    std::vector<int64_t> perm = iota_n(n_);
    shuffle_in_place(perm, seed_, stream, static_cast<uint64_t>(k) << 40);
    const int64_t take = std::min<int64_t>(n_, num_samples_ - static_cast<int64_t>(out.size()));
    out.insert(out.end(), perm.begin(), perm.begin() + take);
  }
  return out;
}

// ---- WeightedRandomSampler ------------------------------------------------------------------

WeightedRandomSampler::WeightedRandomSampler(std::vector<double> weights, int64_t num_samples,
                                             bool replacement, std::optional<uint64_t> seed)
    : weights_(std::move(weights)),
      num_samples_(num_samples),
      replacement_(replacement),
      seed_(resolve_seed(seed)) {
  const char* op = "WeightedRandomSampler";
  if (num_samples <= 0)
    fail<ValueError>(
        op, "num_samples should be a positive integer value, but got num_samples=", num_samples);
  double sum = 0;
  int64_t positive = 0;
  for (size_t i = 0; i < weights_.size(); ++i) {
    const double w = weights_[i];
    if (!std::isfinite(w) || w < 0)
      fail<ValueError>(op, "weight ", i, " is ", w, "; weights must be finite and >= 0");
    sum += w;
    positive += w > 0;
  }
  if (!(sum > 0))
    fail<ValueError>(op, "the weights sum to ", sum, " (", weights_.size(),
                     " weights); at least one must be positive");
  if (!replacement && num_samples > positive)
    fail<ValueError>(op, "cannot draw ", num_samples, " samples without replacement from ",
                     positive, " indices of positive weight");
}

std::vector<int64_t> WeightedRandomSampler::indices(int64_t epoch) const {
  const uint64_t stream = stream_of(kWeighted, epoch);
  const auto n = static_cast<int64_t>(weights_.size());
  std::vector<int64_t> out;
  out.reserve(static_cast<size_t>(num_samples_));
  if (replacement_) {
    // Inverse CDF: draw i is the first index whose cumulative weight exceeds u * total.
    std::vector<double> cdf(weights_.size());
    std::partial_sum(weights_.begin(), weights_.end(), cdf.begin());
    for (int64_t i = 0; i < num_samples_; ++i) {
      const double u =
          philox::uniform_f64(philox::draw(seed_, stream, static_cast<uint64_t>(i))) * cdf.back();
      auto it = std::upper_bound(cdf.begin(), cdf.end(), u);
      int64_t idx = std::min<int64_t>(it - cdf.begin(), n - 1);
      while (weights_[static_cast<size_t>(idx)] == 0) --idx;  // u landed on a zero-width step
      out.push_back(idx);
    }
    return out;
  }
  // Without replacement: the num_samples largest keys log(u_i) / w_i (Efraimidis-Spirakis),
  // which has the distribution of drawing one index at a time in proportion to the weights
  // left, as torch.multinomial does.
  std::vector<std::pair<double, int64_t>> keys;
  for (int64_t i = 0; i < n; ++i) {
    const double w = weights_[static_cast<size_t>(i)];
    if (w <= 0) continue;
    const auto r = philox::draw(seed_, stream, static_cast<uint64_t>(i));
    const double u =
        (static_cast<double>((static_cast<uint64_t>(r.v[0]) << 21) ^ (r.v[1] >> 11)) + 1.0) *
        0x1p-53;  // (0, 1]: the log is finite
    keys.emplace_back(std::log(u) / w, i);
  }
  std::partial_sort(keys.begin(), keys.begin() + num_samples_, keys.end(),
                    [](const auto& a, const auto& b) { return a.first > b.first; });
  for (int64_t i = 0; i < num_samples_; ++i) out.push_back(keys[static_cast<size_t>(i)].second);
  return out;
}

// ---- SubsetRandomSampler --------------------------------------------------------------------

SubsetRandomSampler::SubsetRandomSampler(std::vector<int64_t> indices, std::optional<uint64_t> seed)
    : indices_(std::move(indices)), seed_(resolve_seed(seed)) {
  for (size_t i = 0; i < indices_.size(); ++i)
    if (indices_[i] < 0)
      fail<ValueError>("SubsetRandomSampler", "index ", i, " is ", indices_[i],
                       "; indices must be >= 0");
}

std::vector<int64_t> SubsetRandomSampler::indices(int64_t epoch) const {
  std::vector<int64_t> order = iota_n(size());
  shuffle_in_place(order, seed_, stream_of(kSubset, epoch), 0);
  for (int64_t& i : order) i = indices_[static_cast<size_t>(i)];
  return order;
}

// ---- BatchSampler ---------------------------------------------------------------------------

BatchSampler::BatchSampler(std::shared_ptr<const Sampler> sampler, int64_t batch_size,
                           bool drop_last)
    : sampler_(std::move(sampler)), batch_size_(batch_size), drop_last_(drop_last) {
  if (!sampler_) fail<ValueError>("BatchSampler", "sampler is null");
  if (batch_size < 1)
    fail<ValueError>(
        "BatchSampler",
        "batch_size should be a positive integer value, but got batch_size=", batch_size);
}

int64_t BatchSampler::size() const {
  const int64_t n = sampler_->size();
  return drop_last_ ? n / batch_size_ : (n + batch_size_ - 1) / batch_size_;
}

std::vector<std::vector<int64_t>> BatchSampler::batches(int64_t epoch) const {
  const std::vector<int64_t> order = sampler_->indices(epoch);
  std::vector<std::vector<int64_t>> out;
  for (size_t begin = 0; begin < order.size(); begin += static_cast<size_t>(batch_size_)) {
    const size_t end = std::min(order.size(), begin + static_cast<size_t>(batch_size_));
    if (drop_last_ && end - begin < static_cast<size_t>(batch_size_)) break;
    out.emplace_back(order.begin() + static_cast<std::ptrdiff_t>(begin),
                     order.begin() + static_cast<std::ptrdiff_t>(end));
  }
  return out;
}

}  // namespace ember
