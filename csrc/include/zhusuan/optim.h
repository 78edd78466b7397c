// Optimiser updates: Adam (Kingma & Ba, 2015) and SGD with momentum, one
// element at a time, exactly as Jittor's optimisers compute them
// (jittor/optim.py, Jittor 1.3.11), shared by every backend:
//   * the CPU launcher (csrc/cpu/optim.cpp) and the jt.code source of the
//     "jit" backend (zhusuan/kernels/optim.py) both run the multi-tensor
//     loops of the host section below;
//   * the CUDA kernel (csrc/cuda/optim.cu) calls the element functions.
//
// Adam, per element, with d the gradient plus weight decay:
//   d  = g + wd * p
//   m' = b1 * m + (1 - b1) * d
//   v' = b2 * v + (1 - b2) * d^2
//   p' = p - step_size * m' / (sqrt(v') + eps),
//   step_size = lr * sqrt(1 - b2^t) / (1 - b1^t)       (computed by the caller)
// SGD (Jittor's, which is torch's except that the momentum buffer starts at
// zero instead of at the first gradient):
//   d  = g + wd * p
//   b' = momentum * b + (1 - dampening) * d
//   p' = p - lr * b'                         (nesterov: p - lr * (d + momentum * b'))
//
// Rounding. Jittor compiles its fused update with -Ofast on an FMA machine;
// GCC 12 then evaluates the float32 expressions of jittor/optim.py as
//   d  = fma(p, wd, g)
//   m' = fma(m, b1, (1 - b1) * d)
//   v' = fma(v, b2, (1 - b2) * (d * d))     (-Ofast reassociates (c * d) * d)
//   p' = p - (m' * step_size) / (sqrt(v') + eps)    (IEEE division and sqrt)
//   SGD: b' = fma(momentum, b, d * (1 - dampening)); p' = fma(-b', lr, p)
//        nesterov: p' = fma(-fma(momentum, b', d), lr, p)
// (found by comparing Jittor's results bit for bit with each candidate
// order; tests/optim/test_optim.py keeps the comparison). The functions below
// write exactly these operations, with explicit fused multiply-adds, so that
// they give the same bits in every backend whatever the compiler's
// contraction flags, and the same bits as jt.optim. Without hardware FMA (a
// host build without -mfma) fmadd is a * b + c, which differs from Jittor's
// FMA results in the last bit.
//
// Header-only, C++14 (Jittor compiles jt.code sources with -std=c++14).
#pragma once

#include <cmath>
#include <cstdint>

#include "common.h"

namespace zhusuan {
ZHUSUAN_ISA_BEGIN
namespace optim {

// a * b + c, rounded once where the target has fused multiply-add.
ZS_HD float fmadd(float a, float b, float c) {
#if defined(__CUDA_ARCH__)
  return fmaf(a, b, c);
#elif defined(__FMA__)
  return __builtin_fmaf(a, b, c);
#else
  return a * b + c;
#endif
}

ZS_HD double fmadd(double a, double b, double c) {
#if defined(__CUDA_ARCH__)
  return fma(a, b, c);
#elif defined(__FMA__)
  return __builtin_fma(a, b, c);
#else
  return a * b + c;
#endif
}

// Correctly rounded square root (the loops are built with -fno-math-errno so
// that it vectorises; v' >= 0 or NaN, so errno would never be set anyway).
ZS_HD float sqrt_(float x) {
#if defined(__CUDA_ARCH__)
  return sqrtf(x);
#else
  return __builtin_sqrtf(x);
#endif
}

ZS_HD double sqrt_(double x) {
#if defined(__CUDA_ARCH__)
  return ::sqrt(x);
#else
  return __builtin_sqrt(x);
#endif
}

// ----------------------------------------------------------------- Adam ----
// The coefficients of one tensor's update, in the parameter's dtype. The
// caller computes them in double and rounds each once to T, as Jittor does
// (its Python floats become float32 constants of the fused kernel):
// one_minus_beta1 is the rounding of the double 1 - beta1, not 1 - (T)beta1.
// Layout of the double array the launchers take (kAdamCoefs per tensor):
enum AdamCoefIndex {
  kAdamBeta1 = 0,
  kAdamOneMinusBeta1,
  kAdamBeta2,
  kAdamOneMinusBeta2,
  kAdamEps,
  kAdamWeightDecay,
  kAdamStepSize,
  kAdamCoefs
};

template <typename T>
struct AdamCoef {
  T beta1, one_minus_beta1, beta2, one_minus_beta2, eps, weight_decay, step_size;
};

template <typename T>
ZS_HD AdamCoef<T> adam_coef(const double* c) {
  return {static_cast<T>(c[kAdamBeta1]), static_cast<T>(c[kAdamOneMinusBeta1]),
          static_cast<T>(c[kAdamBeta2]), static_cast<T>(c[kAdamOneMinusBeta2]),
          static_cast<T>(c[kAdamEps]),   static_cast<T>(c[kAdamWeightDecay]),
          static_cast<T>(c[kAdamStepSize])};
}

// One element: p, m (first moment) and v (second moment) in place.
template <typename T>
ZS_HD void adam_update(T& p, T g, T& m, T& v, const AdamCoef<T>& k) {
  const T d = fmadd(p, k.weight_decay, g);
  m = fmadd(m, k.beta1, k.one_minus_beta1 * d);
  v = fmadd(v, k.beta2, k.one_minus_beta2 * (d * d));
  p = p - (m * k.step_size) / (sqrt_(v) + k.eps);
}

// ------------------------------------------------------------------ SGD ----
enum SgdCoefIndex {
  kSgdLr = 0,
  kSgdMomentum,
  kSgdOneMinusDampening,
  kSgdWeightDecay,
  kSgdNesterov,  // 0 or 1
  kSgdCoefs
};

template <typename T>
struct SgdCoef {
  T lr, momentum, one_minus_dampening, weight_decay;
};

template <typename T>
ZS_HD SgdCoef<T> sgd_coef(const double* c) {
  return {static_cast<T>(c[kSgdLr]), static_cast<T>(c[kSgdMomentum]),
          static_cast<T>(c[kSgdOneMinusDampening]), static_cast<T>(c[kSgdWeightDecay])};
}

// One element: p and the momentum buffer b in place.
template <bool kNesterov, typename T>
ZS_HD void sgd_update(T& p, T g, T& b, const SgdCoef<T>& k) {
  const T d = fmadd(p, k.weight_decay, g);
  b = fmadd(k.momentum, b, d * k.one_minus_dampening);
  const T step = kNesterov ? fmadd(k.momentum, b, d) : b;
  p = fmadd(-step, k.lr, p);
}

}  // namespace optim
ZHUSUAN_ISA_END
}  // namespace zhusuan

// ---------------------------------------------------------- host loops ----
// The CPU side of every backend: all tensors of one update in one parallel
// pass. Each tensor is cut into chunks of kChunk elements; the chunks of all
// tensors form one list that OpenMP threads take dynamically (a chunk is
// 64 KiB of float32 per array: big enough that scheduling costs nothing,
// small enough that a thread descheduled by a busy machine delays little).
// Every element is updated by one thread, in place, independently of the
// others, so the result does not depend on the number of threads.
#if !defined(__CUDACC__)
#include <vector>

namespace zhusuan {
ZHUSUAN_ISA_BEGIN
namespace optim {
namespace host {

constexpr std::int64_t kChunk = 16384;
// Fewer elements in all: one thread (a parallel region costs a few us).
constexpr std::int64_t kParallelMin = 65536;

struct Chunk {
  std::int32_t tensor;
  std::int64_t begin, end;
};

inline std::vector<Chunk> chunks(const std::int64_t* sizes, int n_tensors,
                                 std::int64_t* total) {
  std::vector<Chunk> out;
  std::int64_t sum = 0;
  for (int t = 0; t < n_tensors; ++t) {
    for (std::int64_t b = 0; b < sizes[t]; b += kChunk)
      out.push_back({t, b, b + kChunk < sizes[t] ? b + kChunk : sizes[t]});
    sum += sizes[t];
  }
  *total = sum;
  return out;
}

// fn(tensor, begin, end) over every chunk, in parallel when worth it.
template <typename Fn>
void for_each_chunk(const std::int64_t* sizes, int n_tensors, const Fn& fn) {
  std::int64_t total = 0;
  const std::vector<Chunk> cs = chunks(sizes, n_tensors, &total);
  const std::int64_t n = static_cast<std::int64_t>(cs.size());
#if defined(_OPENMP)
#pragma omp parallel for schedule(dynamic, 1) if (total >= kParallelMin)
#endif
  for (std::int64_t c = 0; c < n; ++c) fn(cs[c].tensor, cs[c].begin, cs[c].end);
}

template <typename T>
void adam_range(T* __restrict p, const T* __restrict g, T* __restrict m, T* __restrict v,
                std::int64_t begin, std::int64_t end, const AdamCoef<T> k) {
#if defined(_OPENMP)
#pragma omp simd
#endif
  for (std::int64_t i = begin; i < end; ++i) {
    T pi = p[i], mi = m[i], vi = v[i];
    adam_update(pi, g[i], mi, vi, k);
    p[i] = pi;
    m[i] = mi;
    v[i] = vi;
  }
}

// Adam over n tensors: p[t], g[t], m[t], v[t] of sizes[t] elements each,
// coefficients coef[t * kAdamCoefs + ...] (see AdamCoefIndex).
template <typename T>
void adam_step(T* const* p, const T* const* g, T* const* m, T* const* v,
               const std::int64_t* sizes, const double* coef, int n) {
  for_each_chunk(sizes, n, [&](int t, std::int64_t b, std::int64_t e) {
    adam_range<T>(p[t], g[t], m[t], v[t], b, e, adam_coef<T>(coef + t * kAdamCoefs));
  });
}

template <bool kNesterov, typename T>
void sgd_range(T* __restrict p, const T* __restrict g, T* __restrict buf, std::int64_t begin,
               std::int64_t end, const SgdCoef<T> k) {
#if defined(_OPENMP)
#pragma omp simd
#endif
  for (std::int64_t i = begin; i < end; ++i) {
    T pi = p[i], bi = buf[i];
    sgd_update<kNesterov>(pi, g[i], bi, k);
    p[i] = pi;
    buf[i] = bi;
  }
}

// SGD over n tensors (coefficients: see SgdCoefIndex, kSgdCoefs per tensor).
template <typename T>
void sgd_step(T* const* p, const T* const* g, T* const* buf, const std::int64_t* sizes,
              const double* coef, int n) {
  for_each_chunk(sizes, n, [&](int t, std::int64_t b, std::int64_t e) {
    const double* c = coef + t * kSgdCoefs;
    const SgdCoef<T> k = sgd_coef<T>(c);
    if (c[kSgdNesterov] != 0.0)
      sgd_range<true, T>(p[t], g[t], buf[t], b, e, k);
    else
      sgd_range<false, T>(p[t], g[t], buf[t], b, e, k);
  });
}

}  // namespace host
}  // namespace optim
ZHUSUAN_ISA_END
}  // namespace zhusuan
#endif
