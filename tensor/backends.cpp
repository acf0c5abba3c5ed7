// The options of ember::backends and the one place that reads their environment
// variables (tensor/backends.h). Each Setting is constant-initialized and trivially
// destructible, so it can be read before main and during static destruction alike.
#include "tensor/backends.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <type_traits>

#include "tensor/error.h"

namespace ember::backends {

template <typename T>
void Setting<T>::load() const {
  // A parser that throws (a malformed value) leaves the flag unset: the next use throws too.
  std::call_once(loaded_, [this] {
    const char* text = std::getenv(env_);
    T parsed{};
    if (text != nullptr && parse_(text, &parsed)) value_.store(parsed);
  });
}

template <typename T>
T Setting<T>::get() const {
  load();
  return value_.load(std::memory_order_relaxed);
}

template <typename T>
void Setting<T>::set(T value) {
  load();  // the variable is read first, so it cannot replace this value later
  value_.store(value, std::memory_order_relaxed);
}

template class Setting<bool>;
template class Setting<int>;
template class Setting<uint64_t>;
template class Setting<GemmImpl>;
template class Setting<ConvImpl>;
template class Setting<AttentionPath>;
template class Setting<SimSchedule>;

static_assert(std::is_trivially_destructible_v<Setting<int>>,
              "a Setting is read by backends during static destruction");

namespace {

// ---- parsers: the variables' formats, unchanged from when each kernel read its own ----

bool is_one(const char* text, bool* out) {  // "1" switches on; anything else keeps off
  *out = std::strcmp(text, "1") == 0;
  return true;
}

bool starts_with_one(const char* text, bool* out) {
  *out = text[0] == '1';
  return true;
}

bool parse_gemm(const char* text, GemmImpl* out) {
  const std::string_view v(text);
  if (v != "tiled" && v != "ember") return false;
  *out = GemmImpl::ember;
  return true;
}

bool parse_conv(const char* text, ConvImpl* out) {
  const std::string_view v(text);
  if (v.empty()) return false;
  if (v != "cudnn" && v != "ember")
    fail<ValueError>("conv2d", "EMBER_CONV must be 'cudnn' or 'ember', got '", text, "'");
  *out = v == "cudnn" ? ConvImpl::cudnn : ConvImpl::ember;
  return true;
}

bool parse_attention(const char* text, AttentionPath* out) {
  *out = std::strcmp(text, "1") == 0 ? AttentionPath::bf16 : AttentionPath::f32;
  return true;
}

// EMBER_SIM_SCHEDULE=shuffled[:seed]: the schedule and, after the colon, its seed.
bool parse_schedule(const char* text, SimSchedule* out) {
  if (std::string_view(text).rfind("shuffled", 0) != 0) return false;
  *out = SimSchedule::shuffled;
  return true;
}

bool parse_seed(const char* text, uint64_t* out) {
  const std::string_view v(text);
  if (v.rfind("shuffled", 0) != 0 || v.size() <= 9 || v[8] != ':') return false;
  *out = std::strtoull(text + 9, nullptr, 0);
  return true;
}

bool parse_workers(const char* text, int* out) {
  *out = std::max(1, std::atoi(text));
  return true;
}

bool parse_stack_kb(const char* text, int* out) {
  *out = std::max(16, std::atoi(text));
  return true;
}

}  // namespace

namespace cuda {
constinit Setting<GemmImpl> matmul{"EMBER_CUDA_GEMM", GemmImpl::cublas, &parse_gemm};
constinit Setting<ConvImpl> conv{"EMBER_CONV", ConvImpl::automatic, &parse_conv};
constinit Setting<bool> matmul_allow_tf32{"EMBER_MATMUL_TF32", false, &is_one};  // issue 16
constinit Setting<AttentionPath> attention{"EMBER_ATTENTION_BF16", AttentionPath::f32,
                                           &parse_attention};
constinit Setting<bool> sync_launches{"EMBER_CUDA_SYNC", false, &starts_with_one};
}  // namespace cuda

namespace cudnn {
constinit Setting<bool> benchmark{"EMBER_CUDNN_BENCHMARK", false, &is_one};
constinit Setting<bool> allow_tf32{"EMBER_CONV_TF32", true, &is_one};  // issue 16
}  // namespace cudnn

namespace sim {
constinit Setting<SimSchedule> schedule{"EMBER_SIM_SCHEDULE", SimSchedule::sequential,
                                        &parse_schedule};
constinit Setting<uint64_t> seed{"EMBER_SIM_SCHEDULE", 0x5EEDu, &parse_seed};
constinit Setting<int> workers{"EMBER_SIM_WORKERS", 0, &parse_workers};
constinit Setting<int> stack_kb{"EMBER_SIM_STACK_KB", 0, &parse_stack_kb};
}  // namespace sim

}  // namespace ember::backends
