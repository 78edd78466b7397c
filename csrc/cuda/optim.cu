// The CUDA launchers of the optimiser updates: one grid-stride kernel over
// the concatenated elements of up to kOptimTensorsPerLaunch tensors, whose
// pointers, offsets and coefficients travel in the kernel's parameters (no
// device-side tables to allocate or copy). Per element it calls the same
// functions of zhusuan/optim.h as the CPU loop and the jt.code source.
#include "optim.h"

#include <cuda_runtime.h>

#include <algorithm>

#include "engine.cuh"  // check(), check_launch()
#include "zhusuan/optim.h"

namespace zhusuan {
namespace cuda {
namespace {

constexpr int kOptimThreads = 256;
constexpr std::int64_t kOptimMaxBlocks = 4096;  // grid-stride beyond this
constexpr int K = kOptimTensorsPerLaunch;

// NPTR arrays per tensor (p, g, m, v for Adam; p, g, b for SGD) and NCOEF
// coefficients. 4 * 16 pointers + 17 offsets + 16 * 7 doubles: 1.6 KiB of
// the 4 KiB of kernel parameters.
template <typename T, int NPTR, int NCOEF>
struct Batch {
  T* ptr[NPTR][K];
  std::int64_t offset[K + 1];
  double coef[K][NCOEF];
  int n;
};

// The element i of the batch lives in tensor t with offset[t] <= i <
// offset[t + 1]; i only grows in a thread's grid-stride loop, so t does too.
template <typename T>
__global__ void __launch_bounds__(kOptimThreads)
    adam_kernel(const Batch<T, 4, optim::kAdamCoefs> b) {
  const std::int64_t total = b.offset[b.n];
  const std::int64_t step = static_cast<std::int64_t>(blockDim.x) * gridDim.x;
  int t = 0;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
       i < total; i += step) {
    while (i >= b.offset[t + 1]) ++t;
    const std::int64_t j = i - b.offset[t];
    T p = b.ptr[0][t][j], m = b.ptr[2][t][j], v = b.ptr[3][t][j];
    optim::adam_update(p, b.ptr[1][t][j], m, v, optim::adam_coef<T>(b.coef[t]));
    b.ptr[0][t][j] = p;
    b.ptr[2][t][j] = m;
    b.ptr[3][t][j] = v;
  }
}

template <typename T>
__global__ void __launch_bounds__(kOptimThreads)
    sgd_kernel(const Batch<T, 3, optim::kSgdCoefs> b) {
  const std::int64_t total = b.offset[b.n];
  const std::int64_t step = static_cast<std::int64_t>(blockDim.x) * gridDim.x;
  int t = 0;
  for (std::int64_t i = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
       i < total; i += step) {
    while (i >= b.offset[t + 1]) ++t;
    const std::int64_t j = i - b.offset[t];
    T p = b.ptr[0][t][j], buf = b.ptr[2][t][j];
    const optim::SgdCoef<T> k = optim::sgd_coef<T>(b.coef[t]);
    if (b.coef[t][optim::kSgdNesterov] != 0.0)
      optim::sgd_update<true>(p, b.ptr[1][t][j], buf, k);
    else
      optim::sgd_update<false>(p, b.ptr[1][t][j], buf, k);
    b.ptr[0][t][j] = p;
    b.ptr[2][t][j] = buf;
  }
}

// Fill batches of up to K non-empty tensors and launch `kernel` on each.
template <typename T, int NPTR, int NCOEF, typename Kernel>
void launch(Kernel kernel, const char* name, T* const* const (&arrays)[NPTR],
            const std::int64_t* sizes, const double* coefs, int n, std::uintptr_t stream) {
  Batch<T, NPTR, NCOEF> b{};
  auto flush = [&] {
    if (b.n == 0) return;
    const std::int64_t total = b.offset[b.n];
    const std::int64_t blocks =
        std::min<std::int64_t>((total + kOptimThreads - 1) / kOptimThreads, kOptimMaxBlocks);
    kernel<<<static_cast<unsigned>(blocks), kOptimThreads, 0,
             reinterpret_cast<cudaStream_t>(stream)>>>(b);
    check_launch(name);
    b = Batch<T, NPTR, NCOEF>{};
  };
  for (int t = 0; t < n; ++t) {
    if (sizes[t] == 0) continue;
    const int s = b.n;
    for (int a = 0; a < NPTR; ++a) b.ptr[a][s] = arrays[a][t];
    for (int c = 0; c < NCOEF; ++c) b.coef[s][c] = coefs[t * NCOEF + c];
    b.offset[s + 1] = b.offset[s] + sizes[t];
    b.n = s + 1;
    if (b.n == K) flush();
  }
  flush();
}

}  // namespace

template <typename T>
void adam_step(T* const* params, const T* const* grads, T* const* exp_avg,
               T* const* exp_avg_sq, const std::int64_t* sizes, const double* coefs, int n,
               std::uintptr_t stream) {
  T* const* const arrays[4] = {params, const_cast<T* const*>(grads), exp_avg, exp_avg_sq};
  launch<T, 4, optim::kAdamCoefs>(adam_kernel<T>, "adam_kernel", arrays, sizes, coefs, n,
                                  stream);
}

template <typename T>
void sgd_step(T* const* params, const T* const* grads, T* const* momentum_buffers,
              const std::int64_t* sizes, const double* coefs, int n, std::uintptr_t stream) {
  T* const* const arrays[3] = {params, const_cast<T* const*>(grads), momentum_buffers};
  launch<T, 3, optim::kSgdCoefs>(sgd_kernel<T>, "sgd_kernel", arrays, sizes, coefs, n,
                                 stream);
}

#define ZHUSUAN_INSTANTIATE(T)                                                            \
  template void adam_step<T>(T* const*, const T* const*, T* const*, T* const*,            \
                             const std::int64_t*, const double*, int, std::uintptr_t);    \
  template void sgd_step<T>(T* const*, const T* const*, T* const*, const std::int64_t*,  \
                            const double*, int, std::uintptr_t);

ZHUSUAN_INSTANTIATE(float)
ZHUSUAN_INSTANTIATE(double)

#undef ZHUSUAN_INSTANTIATE

}  // namespace cuda
}  // namespace zhusuan
