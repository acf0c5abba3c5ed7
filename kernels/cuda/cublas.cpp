// cuBLAS, opened with dlopen on the first matmul: linking it would make every process
// that loads ember, GPU or not, map cuBLAS and cuBLASLt (~600 MB) at start, about 100 ms
// each, which a test suite of a few thousand processes pays in minutes.
#include "kernels/cuda/cublas.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <climits>
#include <mutex>
#include <string>
#include <vector>

#include "kernels/cuda/dynlib.h"
#include "kernels/cuda/runtime.h"
#include "tensor/backends.h"
#include "tensor/error.h"

#ifndef EMBER_CUBLAS_SONAME
#define EMBER_CUBLAS_SONAME "libcublas.so"
#endif

namespace ember::cuda_impl {

namespace {

// cublasGemmEx and cublasGemmStridedBatchedEx are overloaded in C++ (a legacy form takes
// the compute type as a cudaDataType), so their pointer types are spelled out: the
// cublasComputeType_t forms, the symbols the library exports.
using GemmExFn = cublasStatus_t (*)(cublasHandle_t, cublasOperation_t, cublasOperation_t, int, int,
                                    int, const void*, const void*, cudaDataType, int, const void*,
                                    cudaDataType, int, const void*, void*, cudaDataType, int,
                                    cublasComputeType_t, cublasGemmAlgo_t);
using GemmBatchedExFn = cublasStatus_t (*)(cublasHandle_t, cublasOperation_t, cublasOperation_t,
                                           int, int, int, const void*, const void*, cudaDataType,
                                           int, long long, const void*, cudaDataType, int,
                                           long long, const void*, void*, cudaDataType, int,
                                           long long, int, cublasComputeType_t, cublasGemmAlgo_t);

struct Cublas {
  decltype(&cublasCreate_v2) create = nullptr;
  decltype(&cublasSetStream_v2) set_stream = nullptr;
  decltype(&cublasSgemmStridedBatched) sgemm = nullptr;
  decltype(&cublasDgemmStridedBatched) dgemm = nullptr;
  GemmExFn gemm_ex = nullptr;                 // bf16/f16 (issue 16)
  GemmBatchedExFn gemm_batched_ex = nullptr;  // bf16/f16 (issue 16)
  decltype(&cublasGetStatusString) status_string = nullptr;
  decltype(&cublasSetMathMode) set_math_mode = nullptr;
  std::string error;  // why cuBLAS is not usable, when it is not
};

Cublas* load() {
  auto* c = new Cublas;  // never destroyed: a handle outlives static destruction order
  void* lib = open_cuda_library(EMBER_CUBLAS_SONAME, &c->error);
  if (lib == nullptr) return c;
  if (!resolve(lib, "cublasCreate_v2", &c->create) ||
      !resolve(lib, "cublasSetStream_v2", &c->set_stream) ||
      !resolve(lib, "cublasSgemmStridedBatched", &c->sgemm) ||
      !resolve(lib, "cublasDgemmStridedBatched", &c->dgemm) ||
      !resolve(lib, "cublasGemmEx", &c->gemm_ex) ||
      !resolve(lib, "cublasGemmStridedBatchedEx", &c->gemm_batched_ex) ||
      !resolve(lib, "cublasGetStatusString", &c->status_string) ||
      !resolve(lib, "cublasSetMathMode", &c->set_math_mode)) {
    c->error = std::string(EMBER_CUBLAS_SONAME) + " lacks a function ember calls";
    return c;
  }
  return c;
}

Cublas& cublas() {
  static Cublas* c = load();
  if (!c->error.empty())
    fail<DeviceError>("matmul", c->error,
                      " (backends::cuda::matmul = GemmImpl::ember, or EMBER_CUDA_GEMM=tiled,"
                      " selects ember's own GEMM instead)");
  return *c;
}

// One handle per GPU (issue 17), made on the device's first matmul with it current and
// bound to its stream; never destroyed, as the library.
struct Handle {
  cublasHandle_t handle = nullptr;
  bool tf32 = false;  // the handle's math mode: TF32 tensor ops, or the default
};

Handle& current_handle(const Cublas& c) {
  static std::mutex mu;
  static auto* handles =
      new std::vector<Handle>(static_cast<size_t>(std::max(rt::device_count(), 1)));
  const int index = rt::current_device();
  std::lock_guard lock(mu);
  Handle& h = (*handles)[static_cast<size_t>(index)];
  if (h.handle != nullptr) return h;
  cublasHandle_t handle = nullptr;
  cublasStatus_t st = c.create(&handle);
  if (st == CUBLAS_STATUS_SUCCESS)
    st = c.set_stream(handle, static_cast<cudaStream_t>(rt::stream()));
  if (st != CUBLAS_STATUS_SUCCESS)
    fail<DeviceError>("matmul", "cuBLAS failed to start on cuda:", index, ": ",
                      c.status_string(st));
  h.handle = handle;
  return h;
}

int as_int(int64_t v, const char* what) {
  if (v < 0 || v > INT_MAX)
    fail<ValueError>("matmul", what, " ", v, " exceeds cuBLAS's 32-bit range");
  return static_cast<int>(v);
}

}  // namespace

void cublas_gemm(DType dtype, const GemmShape& s, bool a_row_major, int64_t lda, bool b_row_major,
                 int64_t ldb, void* out, const void* a, const void* b) {
  // cuBLAS is column-major: compute out^T (n x m) = b^T (n x k) @ a^T (k x m). A row-major
  // operand already is its transpose in column-major terms; a column-major one is not.
  Cublas& c = cublas();
  Handle& h = current_handle(c);
  const cublasOperation_t op_b = b_row_major ? CUBLAS_OP_N : CUBLAS_OP_T;
  const cublasOperation_t op_a = a_row_major ? CUBLAS_OP_N : CUBLAS_OP_T;
  const int m = as_int(s.n, "n"), n = as_int(s.m, "m"), k = as_int(s.k, "k");
  const int batch = as_int(s.batch, "batch");
  const int ld_b = as_int(ldb, "ldb"), ld_a = as_int(lda, "lda");
  const long long stride_out = s.m * s.n;
  cublasStatus_t st;
  if (dtype == DType::f32) {
    // backends::cuda::matmul_allow_tf32, read at each call (torch.backends.cuda.matmul).
    if (const bool tf32 = backends::cuda::matmul_allow_tf32; tf32 != h.tf32) {
      st = c.set_math_mode(h.handle, tf32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH);
      if (st != CUBLAS_STATUS_SUCCESS)
        fail<Error>("matmul", "cuBLAS math mode failed: ", c.status_string(st));
      h.tf32 = tf32;
    }
    const float one = 1.0f, zero = 0.0f;
    st = c.sgemm(h.handle, op_b, op_a, m, n, k, &one, static_cast<const float*>(b), ld_b, s.b_batch,
                 static_cast<const float*>(a), ld_a, s.a_batch, &zero, static_cast<float*>(out), m,
                 stride_out, batch);
  } else if (dtype == DType::f64) {
    const double one = 1.0, zero = 0.0;
    st = c.dgemm(h.handle, op_b, op_a, m, n, k, &one, static_cast<const double*>(b), ld_b,
                 s.b_batch, static_cast<const double*>(a), ld_a, s.a_batch, &zero,
                 static_cast<double*>(out), m, stride_out, batch);
  } else if (is_half(dtype)) {
    // bf16/f16 (issue 16): 16-bit operands and output, f32 accumulation
    // (CUBLAS_COMPUTE_32F, PyTorch's choice), which cuBLAS runs on tensor cores; alpha and
    // beta are then floats. One product: cublasGemmEx, several: the strided-batched form.
    const cudaDataType t = dtype == DType::bf16 ? CUDA_R_16BF : CUDA_R_16F;
    const float one = 1.0f, zero = 0.0f;
    if (batch == 1) {
      st = c.gemm_ex(h.handle, op_b, op_a, m, n, k, &one, b, t, ld_b, a, t, ld_a, &zero, out, t, m,
                     CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
    } else {
      st = c.gemm_batched_ex(h.handle, op_b, op_a, m, n, k, &one, b, t, ld_b, s.b_batch, a, t, ld_a,
                             s.a_batch, &zero, out, t, m, stride_out, batch, CUBLAS_COMPUTE_32F,
                             CUBLAS_GEMM_DEFAULT);
    }
  } else {
    fail<InternalError>("matmul", "no cuBLAS kernel for ", dtype);
  }
  if (st != CUBLAS_STATUS_SUCCESS)
    fail<Error>("matmul", "cuBLAS gemm failed: ", c.status_string(st));
}

}  // namespace ember::cuda_impl
