// cuDNN's convolutions behind conv2d on the cuda device, opened with dlopen on the first
// cuda convolution rather than linked: cuDNN 9 is ~500 MB of libraries (its engines load
// more on demand) that every process loading ember would otherwise map at start, GPU or
// not, as cuBLAS would (kernels/cuda/cublas.cpp); and a machine without cuDNN still runs
// ember's own kernels (backends::cuda::conv = ember, or automatic when cuDNN does not load).
//
// Uses cuDNN's legacy convolution API (cudnnConvolutionForward/BackwardData/
// BackwardFilter; deprecated in cuDNN 9 in favour of the graph API but still shipped,
// and far shorter to drive): NCHW tensors, cross-correlation, groups and dilation in the
// convolution descriptor. Algorithms come from cuDNN's heuristics (the *_v7 queries, no
// timing runs; with backends::cudnn::benchmark, from timing runs: the Find calls), cached
// per shape; under use_deterministic_algorithms only the deterministic ones are tried; the
// first that runs is taken (one cuDNN turns down, or whose workspace does not fit, gives
// way to the next). The workspace is taken from
// ember's caching allocator for the call. f32 runs on FMA kernels only (CUDNN_FMA_MATH)
// unless TF32 is allowed (CUDNN_DEFAULT_MATH), matching ember's kernels; bf16/f16 tensors
// always on tensor cores (CUDNN_DEFAULT_MATH) with f32 accumulation (issue 16).
#include "kernels/cuda/cudnn_conv.h"

#include <cudnn.h>

#include <algorithm>
#include <climits>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/cuda/dynlib.h"
#include "kernels/cuda/runtime.h"
#include "tensor/backends.h"
#include "tensor/determinism.h"
#include "tensor/error.h"

#define EMBER_CUDNN_STR2(x) #x
#define EMBER_CUDNN_STR(x) EMBER_CUDNN_STR2(x)
#define EMBER_CUDNN_SONAME "libcudnn.so." EMBER_CUDNN_STR(CUDNN_MAJOR)

namespace ember::cuda_impl {

namespace {

struct Cudnn {
  decltype(&cudnnCreate) create = nullptr;
  decltype(&cudnnSetStream) set_stream = nullptr;
  decltype(&cudnnGetErrorString) error_string = nullptr;
  decltype(&cudnnCreateTensorDescriptor) create_tensor = nullptr;
  decltype(&cudnnSetTensor4dDescriptor) set_tensor = nullptr;
  decltype(&cudnnDestroyTensorDescriptor) destroy_tensor = nullptr;
  decltype(&cudnnCreateFilterDescriptor) create_filter = nullptr;
  decltype(&cudnnSetFilter4dDescriptor) set_filter = nullptr;
  decltype(&cudnnDestroyFilterDescriptor) destroy_filter = nullptr;
  decltype(&cudnnCreateConvolutionDescriptor) create_conv = nullptr;
  decltype(&cudnnSetConvolution2dDescriptor) set_conv = nullptr;
  decltype(&cudnnSetConvolutionGroupCount) set_groups = nullptr;
  decltype(&cudnnSetConvolutionMathType) set_math = nullptr;
  decltype(&cudnnDestroyConvolutionDescriptor) destroy_conv = nullptr;
  decltype(&cudnnGetConvolutionForwardAlgorithm_v7) fwd_algos = nullptr;
  decltype(&cudnnFindConvolutionForwardAlgorithm) fwd_find = nullptr;  // backends::cudnn::benchmark
  decltype(&cudnnConvolutionForward) fwd = nullptr;
  decltype(&cudnnGetConvolutionBackwardDataAlgorithm_v7) bwd_data_algos = nullptr;
  decltype(&cudnnFindConvolutionBackwardDataAlgorithm) bwd_data_find = nullptr;
  decltype(&cudnnConvolutionBackwardData) bwd_data = nullptr;
  decltype(&cudnnGetConvolutionBackwardFilterAlgorithm_v7) bwd_filter_algos = nullptr;
  decltype(&cudnnFindConvolutionBackwardFilterAlgorithm) bwd_filter_find = nullptr;
  decltype(&cudnnConvolutionBackwardFilter) bwd_filter = nullptr;
  decltype(&cudnnAddTensor) add_tensor = nullptr;
  cudnnHandle_t handle = nullptr;
  std::string error;  // why cuDNN is not usable, when it is not
};

Cudnn* load() {
  auto* c = new Cudnn;  // never destroyed: a handle outlives static destruction order
  void* lib = open_cuda_library(EMBER_CUDNN_SONAME, &c->error);
  if (lib == nullptr) return c;
  bool ok = resolve(lib, "cudnnCreate", &c->create);
  ok = ok && resolve(lib, "cudnnSetStream", &c->set_stream);
  ok = ok && resolve(lib, "cudnnGetErrorString", &c->error_string);
  ok = ok && resolve(lib, "cudnnCreateTensorDescriptor", &c->create_tensor);
  ok = ok && resolve(lib, "cudnnSetTensor4dDescriptor", &c->set_tensor);
  ok = ok && resolve(lib, "cudnnDestroyTensorDescriptor", &c->destroy_tensor);
  ok = ok && resolve(lib, "cudnnCreateFilterDescriptor", &c->create_filter);
  ok = ok && resolve(lib, "cudnnSetFilter4dDescriptor", &c->set_filter);
  ok = ok && resolve(lib, "cudnnDestroyFilterDescriptor", &c->destroy_filter);
  ok = ok && resolve(lib, "cudnnCreateConvolutionDescriptor", &c->create_conv);
  ok = ok && resolve(lib, "cudnnSetConvolution2dDescriptor", &c->set_conv);
  ok = ok && resolve(lib, "cudnnSetConvolutionGroupCount", &c->set_groups);
  ok = ok && resolve(lib, "cudnnSetConvolutionMathType", &c->set_math);
  ok = ok && resolve(lib, "cudnnDestroyConvolutionDescriptor", &c->destroy_conv);
  ok = ok && resolve(lib, "cudnnGetConvolutionForwardAlgorithm_v7", &c->fwd_algos);
  ok = ok && resolve(lib, "cudnnConvolutionForward", &c->fwd);
  ok = ok && resolve(lib, "cudnnGetConvolutionBackwardDataAlgorithm_v7", &c->bwd_data_algos);
  ok = ok && resolve(lib, "cudnnConvolutionBackwardData", &c->bwd_data);
  ok = ok && resolve(lib, "cudnnGetConvolutionBackwardFilterAlgorithm_v7", &c->bwd_filter_algos);
  ok = ok && resolve(lib, "cudnnConvolutionBackwardFilter", &c->bwd_filter);
  ok = ok && resolve(lib, "cudnnAddTensor", &c->add_tensor);
  if (!ok) {
    c->error = std::string(EMBER_CUDNN_SONAME) + " lacks a function ember calls";
    return c;
  }
  // The timing searches are optional: without them benchmark keeps the heuristics.
  bool find = resolve(lib, "cudnnFindConvolutionForwardAlgorithm", &c->fwd_find);
  find = find && resolve(lib, "cudnnFindConvolutionBackwardDataAlgorithm", &c->bwd_data_find);
  find = find && resolve(lib, "cudnnFindConvolutionBackwardFilterAlgorithm", &c->bwd_filter_find);
  if (!find) c->fwd_find = nullptr;
  cudnnStatus_t st = c->create(&c->handle);
  if (st == CUDNN_STATUS_SUCCESS)
    st = c->set_stream(c->handle, static_cast<cudaStream_t>(rt::stream()));
  if (st != CUDNN_STATUS_SUCCESS)
    c->error = std::string("cuDNN failed to start: ") + c->error_string(st);
  return c;
}

// One per GPU (issue 17): a handle belongs to the device current when it was made and
// runs on that device's stream. dlopen counts references, so loading again is cheap.
Cudnn& loaded() {
  static std::mutex mu;
  static auto* per_device =
      new std::vector<Cudnn*>(static_cast<size_t>(std::max(rt::device_count(), 1)), nullptr);
  std::lock_guard lock(mu);
  Cudnn*& c = (*per_device)[static_cast<size_t>(rt::current_device())];
  if (c == nullptr) c = load();
  return *c;
}

Cudnn& cudnn(const char* op) {
  Cudnn& c = loaded();
  if (!c.error.empty())
    fail<DeviceError>(op, c.error,
                      " (backends::cuda::conv = ConvImpl::ember, or EMBER_CONV=ember, selects"
                      " ember's own kernels instead)");
  return c;
}

void check(const Cudnn& c, cudnnStatus_t st, const char* op, const char* what) {
  if (st != CUDNN_STATUS_SUCCESS) fail<Error>(op, "cuDNN ", what, " failed: ", c.error_string(st));
}

int as_int(const char* op, int64_t v) {
  if (v < 0 || v > INT_MAX) fail<ValueError>(op, "size ", v, " exceeds cuDNN's 32-bit range");
  return static_cast<int>(v);
}

// The descriptors of one convolution: x (N, C, H, W), y (N, K, P, Q), w (K, C/G, R, S),
// the bias as (1, K, 1, 1), and the convolution itself.
class Descriptors {
 public:
  Descriptors(Cudnn& c, const char* op, DType dtype, const Conv2dShape& s, bool tf32) : c_(c) {
    const cudnnDataType_t dt = dtype == DType::f64    ? CUDNN_DATA_DOUBLE
                               : dtype == DType::bf16 ? CUDNN_DATA_BFLOAT16
                               : dtype == DType::f16  ? CUDNN_DATA_HALF
                                                      : CUDNN_DATA_FLOAT;
    // bf16/f16 tensors accumulate in f32 (issue 16), as PyTorch configures cuDNN.
    const cudnnDataType_t compute = dtype == DType::f64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;
    if (dtype != DType::f32 && dtype != DType::f64 && !is_half(dtype))
      fail<InternalError>(op, "no cuDNN convolution for ", dtype);
    const Conv2dParams& p = s.p;
    check(c, c.create_tensor(&x), op, "descriptor");
    check(c, c.create_tensor(&y), op, "descriptor");
    check(c, c.create_tensor(&bias), op, "descriptor");
    check(c, c.create_filter(&w), op, "descriptor");
    check(c, c.create_conv(&conv), op, "descriptor");
    const auto i = [op](int64_t v) { return as_int(op, v); };
    check(c, c.set_tensor(x, CUDNN_TENSOR_NCHW, dt, i(s.N), i(s.C), i(s.H), i(s.W)), op,
          "input descriptor");
    check(c, c.set_tensor(y, CUDNN_TENSOR_NCHW, dt, i(s.N), i(s.K), i(s.P), i(s.Q)), op,
          "output descriptor");
    check(c, c.set_tensor(bias, CUDNN_TENSOR_NCHW, dt, 1, i(s.K), 1, 1), op, "bias descriptor");
    check(c, c.set_filter(w, dt, CUDNN_TENSOR_NCHW, i(s.K), i(s.C / p.groups), i(s.R), i(s.S)), op,
          "filter descriptor");
    check(c,
          c.set_conv(conv, i(p.pad_h), i(p.pad_w), i(p.stride_h), i(p.stride_w), i(p.dilation_h),
                     i(p.dilation_w), CUDNN_CROSS_CORRELATION, compute),
          op, "convolution descriptor");
    check(c, c.set_groups(conv, i(p.groups)), op, "group count");
    // Tensor cores for halves always (their products are exact), for f32 when TF32 is allowed.
    const bool tensor_cores = is_half(dtype) || (dtype == DType::f32 && tf32);
    check(c, c.set_math(conv, tensor_cores ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH), op, "math type");
  }
  ~Descriptors() {
    c_.destroy_conv(conv);
    c_.destroy_filter(w);
    c_.destroy_tensor(bias);
    c_.destroy_tensor(y);
    c_.destroy_tensor(x);
  }
  Descriptors(const Descriptors&) = delete;
  Descriptors& operator=(const Descriptors&) = delete;

  cudnnTensorDescriptor_t x = nullptr, y = nullptr, bias = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;

 private:
  Cudnn& c_;
};

// The algorithms for one (primitive, dtype, shape, math) with their workspaces, in the
// order cuDNN's heuristics rank them, those it says will not run left out. Cached: the
// heuristics cost tens of microseconds, more than a small convolution.
struct Algo {
  int algo;
  size_t workspace;
  bool deterministic;  // cuDNN guarantees the same result on every run
};
using AlgoKey =
    std::tuple<int, int, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
               int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t, bool, bool>;

class AlgoCache {
 public:
  // The candidates for key (query fills cuDNN's ranking on a miss).
  template <typename Perf, typename Query>
  std::vector<Algo> get(const AlgoKey& key, Query query) {
    std::lock_guard<std::mutex> lock(mu_);
    if (auto it = cache_.find(key); it != cache_.end()) return it->second;
    Perf perf[16];
    int n = 0;
    query(16, &n, perf);
    std::vector<Algo> v;
    for (int i = 0; i < n; ++i)
      if (perf[i].status == CUDNN_STATUS_SUCCESS)
        v.push_back({static_cast<int>(perf[i].algo), perf[i].memory,
                     perf[i].determinism == CUDNN_DETERMINISTIC});
    return cache_[key] = v;
  }
  // Puts the candidate that ran first for key (later calls try it first).
  void prefer(const AlgoKey& key, size_t index) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<Algo>& v = cache_[key];
    const auto i = static_cast<std::ptrdiff_t>(index);
    if (index < v.size()) std::rotate(v.begin(), v.begin() + i, v.begin() + i + 1);
  }

 private:
  std::mutex mu_;
  std::map<AlgoKey, std::vector<Algo>> cache_;
};

// alpha = 1 and beta = 0 (or 1) in the convolution's dtype, as cuDNN reads them.
struct Scalars {
  explicit Scalars(DType dtype) : f64(dtype == DType::f64) {}
  const void* one() const {
    return f64 ? static_cast<const void*>(&d1) : static_cast<const void*>(&f1);
  }
  const void* zero() const {
    return f64 ? static_cast<const void*>(&d0) : static_cast<const void*>(&f0);
  }
  bool f64;
  float f1 = 1.0f, f0 = 0.0f;
  double d1 = 1.0, d0 = 0.0;
};

// One primitive: descriptors, cuDNN's ranked algorithms (query), and the call (exec)
// with the first that runs: an algorithm whose workspace the device cannot hold, or
// that cuDNN turns down at run time, gives way to the next, as in PyTorch.
template <typename Perf, typename Query, typename Exec>
void run(const char* op, int primitive, DType dtype, const Conv2dShape& s, bool tf32, Query query,
         Exec exec) {
  static AlgoCache cache;
  Cudnn& c = cudnn(op);
  // backends::cudnn::benchmark: cuDNN times every algorithm on this shape (the Find calls,
  // which allocate their own workspace) and ranks them by time, once per shape.
  const bool benchmark = backends::cudnn::benchmark && c.fwd_find != nullptr;
  const Descriptors d(c, op, dtype, s, tf32);
  const Conv2dParams& p = s.p;
  const AlgoKey key{primitive,    static_cast<int>(dtype),
                    s.N,          s.C,
                    s.H,          s.W,
                    s.K,          s.R,
                    s.S,          s.P,
                    s.Q,          p.stride_h,
                    p.stride_w,   p.pad_h,
                    p.pad_w,      p.dilation_h,
                    p.dilation_w, p.groups,
                    tf32,         benchmark};
  const std::vector<Algo> algos = cache.get<Perf>(key, [&](int want, int* got, Perf* perf) {
    check(c, query(c, d, benchmark, want, got, perf), op,
          benchmark ? "algorithm search" : "algorithm query");
  });
  const Scalars k(dtype);
  std::string why = "cuDNN ranks no algorithm as runnable";
  // use_deterministic_algorithms: only algorithms cuDNN calls deterministic; with none,
  // alert (throws, or warns once under warn_only and takes the ranking as it is).
  bool only_deterministic = are_deterministic_algorithms_enabled();
  if (only_deterministic &&
      std::none_of(algos.begin(), algos.end(), [](const Algo& a) { return a.deterministic; })) {
    alert_not_deterministic(op);
    only_deterministic = false;
  }
  for (size_t i = 0; i < algos.size(); ++i) {
    if (only_deterministic && !algos[i].deterministic) continue;
    void* ws_ptr = nullptr;
    std::optional<rt::Scratch> ws;
    try {
      ws.emplace(algos[i].workspace);
      ws_ptr = ws->get();
    } catch (const Error& e) {  // out of device memory for this one's workspace
      why = e.what();
      continue;
    }
    const cudnnStatus_t st = exec(c, d, algos[i].algo, ws_ptr, algos[i].workspace, k);
    if (st == CUDNN_STATUS_SUCCESS) {
      if (i > 0) cache.prefer(key, i);
      return;
    }
    if (st != CUDNN_STATUS_NOT_SUPPORTED) check(c, st, op, "convolution");
    why = std::string("cuDNN: ") + c.error_string(st);
  }
  fail<Error>(op, "no cuDNN algorithm ran (", why,
              "); backends::cuda::conv = ConvImpl::ember (or EMBER_CONV=ember) selects ember's"
              " own kernels");
}

}  // namespace

bool cudnn_conv_available() { return loaded().error.empty(); }

void cudnn_conv2d_forward(DType dtype, const Conv2dShape& s, bool tf32, void* out, const void* x,
                          const void* w, const void* bias) {
  run<cudnnConvolutionFwdAlgoPerf_t>(
      "conv2d", 0, dtype, s, tf32,
      [&](Cudnn& c, const Descriptors& d, bool find, int want, int* got, auto* perf) {
        return (find ? c.fwd_find : c.fwd_algos)(c.handle, d.x, d.w, d.conv, d.y, want, got, perf);
      },
      [&](Cudnn& c, const Descriptors& d, int algo, void* ws, size_t ws_bytes, const Scalars& k) {
        cudnnStatus_t st =
            c.fwd(c.handle, k.one(), d.x, x, d.w, w, d.conv,
                  static_cast<cudnnConvolutionFwdAlgo_t>(algo), ws, ws_bytes, k.zero(), d.y, out);
        if (st == CUDNN_STATUS_SUCCESS && bias != nullptr)
          st = c.add_tensor(c.handle, k.one(), d.bias, bias, k.one(), d.y, out);
        return st;
      });
}

void cudnn_conv2d_backward_input(DType dtype, const Conv2dShape& s, bool tf32, void* grad_x,
                                 const void* grad_out, const void* w) {
  run<cudnnConvolutionBwdDataAlgoPerf_t>(
      "conv2d_backward_input", 1, dtype, s, tf32,
      [&](Cudnn& c, const Descriptors& d, bool find, int want, int* got, auto* perf) {
        return (find ? c.bwd_data_find : c.bwd_data_algos)(c.handle, d.w, d.y, d.conv, d.x, want,
                                                           got, perf);
      },
      [&](Cudnn& c, const Descriptors& d, int algo, void* ws, size_t ws_bytes, const Scalars& k) {
        return c.bwd_data(c.handle, k.one(), d.w, w, d.y, grad_out, d.conv,
                          static_cast<cudnnConvolutionBwdDataAlgo_t>(algo), ws, ws_bytes, k.zero(),
                          d.x, grad_x);
      });
}

void cudnn_conv2d_backward_weight(DType dtype, const Conv2dShape& s, bool tf32, void* grad_w,
                                  const void* grad_out, const void* x) {
  run<cudnnConvolutionBwdFilterAlgoPerf_t>(
      "conv2d_backward_weight", 2, dtype, s, tf32,
      [&](Cudnn& c, const Descriptors& d, bool find, int want, int* got, auto* perf) {
        return (find ? c.bwd_filter_find : c.bwd_filter_algos)(c.handle, d.x, d.y, d.conv, d.w,
                                                               want, got, perf);
      },
      [&](Cudnn& c, const Descriptors& d, int algo, void* ws, size_t ws_bytes, const Scalars& k) {
        return c.bwd_filter(c.handle, k.one(), d.x, x, d.y, grad_out, d.conv,
                            static_cast<cudnnConvolutionBwdFilterAlgo_t>(algo), ws, ws_bytes,
                            k.zero(), d.w, grad_w);
      });
}

}  // namespace ember::cuda_impl
