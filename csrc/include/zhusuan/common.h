// Shared by every backend: the host+device macro and the elementary
// functions (exp, log, log1p, softplus, sigmoid) in float and double.
//
// Why our own exp/log instead of <cmath>: the CPU launchers are built without
// -ffast-math, and then GCC calls the scalar libm routines one element at a
// time (glibc only declares its SIMD variants under __FAST_MATH__). The
// functions below are branch-free (selects, not jumps) and use only
// arithmetic, rint and bit casts, so a loop over them vectorises, and the
// same code runs in CUDA kernels and in Jittor's jt.code sources: one
// definition of every number we compute.
//
// Every `c ? a : b` below selects between floating-point values that are
// already computed: with arithmetic inside a branch GCC (under its default
// -ftrapping-math) will not if-convert it, and selects between booleans or
// integers under a floating-point mask do not vectorise in GCC 12; either
// way the loop stops vectorising.
//
// Accuracy: exp is a Cody-Waite reduction k*ln2 + r, |r| <= ln2/2, then the
// Taylor series of exp(r) truncated below half an ulp; log reduces to
// m * 2^e with m in [sqrt(1/2), sqrt(2)) and evaluates
// log(m) = 2 atanh(s), s = (m-1)/(m+1), in the arrangement of fdlibm's
// e_log.c (f - (f^2/2 - s (f^2/2 + R))), with the Taylor coefficients
// 2/(2k+1) of atanh instead of fdlibm's minimax ones. Both are within a few
// ulp of the correctly rounded result over the whole range, subnormals,
// 0, infinities and NaN included (see tests/kernels/test_parity.py).
//
// Header-only, C++14 (Jittor compiles jt.code sources with -std=c++14).
#pragma once

#include <cstdint>
#include <cstring>
#include <cmath>

#include "isa_namespace.h"

#if defined(__CUDACC__)
#define ZS_HD __host__ __device__ __forceinline__
#elif defined(__GNUC__)
#define ZS_HD inline __attribute__((always_inline))
#else
#define ZS_HD inline
#endif

namespace zhusuan {
ZHUSUAN_ISA_BEGIN

// a * b: the backward of an op whose per-element derivative a was saved by
// its forward pass, b the upstream gradient.
struct ProductFn {
  static constexpr int kArity = 2;
  template <typename T>
  ZS_HD T operator()(T a, T b) const { return a * b; }
};

namespace math {

// 0.5 * log(2 * pi), the Normal log-density's constant.
template <typename T>
ZS_HD T half_log_2pi() { return T(0.91893853320467274178032973640562); }

ZS_HD float as_float(std::uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
#endif
}

ZS_HD std::uint32_t as_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
#endif
}

ZS_HD double as_double(std::uint64_t u) {
#if defined(__CUDA_ARCH__)
  return __longlong_as_double(static_cast<long long>(u));
#else
  double f;
  std::memcpy(&f, &u, sizeof f);
  return f;
#endif
}

ZS_HD std::uint64_t as_bits(double f) {
#if defined(__CUDA_ARCH__)
  return static_cast<std::uint64_t>(__double_as_longlong(f));
#else
  std::uint64_t u;
  std::memcpy(&u, &f, sizeof u);
  return u;
#endif
}

ZS_HD float round_nearest(float x) { return rintf(x); }
ZS_HD double round_nearest(double x) { return rint(x); }

// From bit patterns: inf - inf would raise "invalid" at run time, and the
// compiler would then refuse to evaluate it unconditionally.
template <typename T>
ZS_HD T infinity();
template <>
ZS_HD float infinity<float>() { return as_float(0x7f800000u); }
template <>
ZS_HD double infinity<double>() { return as_double(0x7ff0000000000000ull); }

template <typename T>
ZS_HD T quiet_nan();
template <>
ZS_HD float quiet_nan<float>() { return as_float(0x7fc00000u); }
template <>
ZS_HD double quiet_nan<double>() { return as_double(0x7ff8000000000000ull); }

// 2^k for k in [-126, 127] (float) / [-1022, 1023] (double), from the bits.
ZS_HD float pow2i(float, std::int32_t k) {
  return as_float(static_cast<std::uint32_t>(k + 127) << 23);
}
ZS_HD double pow2i(double, std::int64_t k) {
  return as_double(static_cast<std::uint64_t>(k + 1023) << 52);
}

// ---------------------------------------------------------------- exp ------
ZS_HD float exp(float x) {
  // exp(x) overflows above 88.73 and underflows to 0 below -103.98; clamping
  // a little outside keeps k in range and still gives inf / 0. Comparisons
  // written this way let NaN through unchanged.
  float xc = x > 89.0f ? 89.0f : x;
  xc = xc < -104.0f ? -104.0f : xc;
  float kf = round_nearest(xc * 1.44269504088896341f);
  kf = (kf == kf) ? kf : 0.0f;  // NaN: any k, the polynomial carries the NaN
  // ln2 = C1 + C2 with C1 short enough that kf * C1 is exact.
  float r = xc - kf * 0.693359375f;
  r = r - kf * -2.12194440e-4f;
  // Taylor to r^7: the next term is below 5.3e-9 for |r| <= ln2/2.
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  // Scale by 2^k in two halves so that neither factor leaves the normal
  // range: k in [-150, 128] gives results from subnormal to inf correctly.
  std::int32_t k = static_cast<std::int32_t>(kf);
  std::int32_t k1 = k >> 1;
  std::int32_t k2 = k - k1;
  float out = p * pow2i(0.0f, k1) * pow2i(0.0f, k2);
  return x < -104.0f ? 0.0f : out;
}

ZS_HD double exp(double x) {
  double xc = x > 710.0 ? 710.0 : x;
  xc = xc < -746.0 ? -746.0 : xc;
  double kf = round_nearest(xc * 1.4426950408889634074);
  kf = (kf == kf) ? kf : 0.0;
  // Cody-Waite split of ln2 (C1 has 32 significant bits, |k| < 2^11).
  double r = xc - kf * 6.93145751953125e-1;
  r = r - kf * 1.42860682030941723212e-6;
  // Taylor to r^13: the next term is below 4.3e-18 for |r| <= ln2/2.
  double p = 1.0 / 6227020800.0;
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  std::int64_t k = static_cast<std::int64_t>(kf);
  std::int64_t k1 = k >> 1;
  std::int64_t k2 = k - k1;
  double out = p * pow2i(0.0, k1) * pow2i(0.0, k2);
  return x < -746.0 ? 0.0 : out;
}

// ---------------------------------------------------------------- log ------
// log(1 + f) for f in [sqrt(1/2) - 1, sqrt(2) - 1]: 2 atanh(s), s = f / (2 + f),
// as f - (f^2/2 - s (f^2/2 + R(s^2))) with R(z) = sum_k 2 z^k / (2k + 1).
// |s| <= 0.1716, z <= 0.02944: the truncated term is below 1e-10 relative
// (float, k <= 5) and 2e-18 (double, k <= 12).
ZS_HD float log1p_reduced(float f) {
  float s = f / (2.0f + f);
  float z = s * s;
  float R = 2.0f / 11.0f;
  R = R * z + 2.0f / 9.0f;
  R = R * z + 2.0f / 7.0f;
  R = R * z + 2.0f / 5.0f;
  R = R * z + 2.0f / 3.0f;
  R = R * z;
  float hfsq = 0.5f * f * f;
  return f - (hfsq - s * (hfsq + R));
}

ZS_HD double log1p_reduced(double f) {
  double s = f / (2.0 + f);
  double z = s * s;
  double R = 2.0 / 25.0;
  R = R * z + 2.0 / 23.0;
  R = R * z + 2.0 / 21.0;
  R = R * z + 2.0 / 19.0;
  R = R * z + 2.0 / 17.0;
  R = R * z + 2.0 / 15.0;
  R = R * z + 2.0 / 13.0;
  R = R * z + 2.0 / 11.0;
  R = R * z + 2.0 / 9.0;
  R = R * z + 2.0 / 7.0;
  R = R * z + 2.0 / 5.0;
  R = R * z + 2.0 / 3.0;
  R = R * z;
  double hfsq = 0.5 * f * f;
  return f - (hfsq - s * (hfsq + R));
}

ZS_HD float log(float x) {
  // Subnormals: scale by 2^23 first so that the exponent field is meaningful.
  bool sub = x < 1.17549435e-38f;
  float scaled = x * 8388608.0f;
  float xs = sub ? scaled : x;
  std::uint32_t u = as_bits(xs);
  float e = static_cast<float>(static_cast<std::int32_t>((u >> 23) & 0xffu) - 127);
  float e_sub = e - 23.0f;
  e = sub ? e_sub : e;
  float m = as_float((u & 0x007fffffu) | 0x3f800000u);  // [1, 2)
  bool big = m > 1.41421356f;
  float m_half = 0.5f * m;
  float e_big = e + 1.0f;
  m = big ? m_half : m;
  e = big ? e_big : e;
  float f = m - 1.0f;  // exact (Sterbenz)
  // ln2 = C1 + C2 as in exp: e * C1 is exact for |e| <= 150.
  float out = e * 0.693359375f + (log1p_reduced(f) + e * -2.12194440e-4f);
  // 0 -> -inf, negative or NaN -> NaN, +inf -> +inf.
  out = x == infinity<float>() ? x : out;
  out = x == 0.0f ? -infinity<float>() : out;
  return (x >= 0.0f) ? out : quiet_nan<float>();
}

ZS_HD double log(double x) {
  bool sub = x < 2.2250738585072014e-308;
  double scaled = x * 18014398509481984.0;  // 2^54
  double xs = sub ? scaled : x;
  std::uint64_t u = as_bits(xs);
  double e = static_cast<double>(static_cast<std::int64_t>((u >> 52) & 0x7ffu) - 1023);
  double e_sub = e - 54.0;
  e = sub ? e_sub : e;
  double m = as_double((u & 0x000fffffffffffffull) | 0x3ff0000000000000ull);
  bool big = m > 1.4142135623730951;
  double m_half = 0.5 * m;
  double e_big = e + 1.0;
  m = big ? m_half : m;
  e = big ? e_big : e;
  double f = m - 1.0;
  // ln2 = hi + lo with hi's low 20 bits zero: e * hi is exact for |e| < 2^20.
  double out = e * 6.93147180369123816490e-01 +
               (log1p_reduced(f) + e * 1.90821492927058770002e-10);
  out = x == infinity<double>() ? x : out;
  out = x == 0.0 ? -infinity<double>() : out;
  return (x >= 0.0) ? out : quiet_nan<double>();
}

// ------------------------------------------------------------- log1p ------
// log(1 + u): with w = fl(1 + u), log(w) + (u - (w - 1)) / w corrects the
// rounding of w to first order (Goldberg 1991, Thm 4 and the remark after it).
// The correction is NaN exactly when w is 0 (0/0) or inf (inf - inf), where
// log(w) alone is the answer; NaN u gives NaN through log(w).
template <typename T>
ZS_HD T log1p(T u) {
  T w = T(1) + u;
  T c = u - (w - T(1));
  T corr = c / w;
  corr = (corr == corr) ? corr : T(0);
  return log(w) + corr;
}

ZS_HD float abs(float x) { return fabsf(x); }
ZS_HD double abs(double x) { return fabs(x); }

// log(1 + u) for u in [0, 1] only (what softplus needs: u = exp(-|l|)):
// 2 atanh(s) with s = u / (2 + u) in [0, 1/3], as the odd series
// 2 (s + s^3/3 + s^5/5 + ...). With z = s^2 <= 1/9 the truncated term is
// below 2e-9 (float, to z^7) and 2e-18 (double, to z^17) relative: no range
// reduction and one division, about half the cost of log1p() above.
ZS_HD float log1p_unit(float u) {
  float s = u / (2.0f + u);
  float z = s * s;
  float p = 2.0f / 15.0f;
  p = p * z + 2.0f / 13.0f;
  p = p * z + 2.0f / 11.0f;
  p = p * z + 2.0f / 9.0f;
  p = p * z + 2.0f / 7.0f;
  p = p * z + 2.0f / 5.0f;
  p = p * z + 2.0f / 3.0f;
  p = p * z + 2.0f;
  return s * p;
}

ZS_HD double log1p_unit(double u) {
  double s = u / (2.0 + u);
  double z = s * s;
  double p = 2.0 / 35.0;
  p = p * z + 2.0 / 33.0;
  p = p * z + 2.0 / 31.0;
  p = p * z + 2.0 / 29.0;
  p = p * z + 2.0 / 27.0;
  p = p * z + 2.0 / 25.0;
  p = p * z + 2.0 / 23.0;
  p = p * z + 2.0 / 21.0;
  p = p * z + 2.0 / 19.0;
  p = p * z + 2.0 / 17.0;
  p = p * z + 2.0 / 15.0;
  p = p * z + 2.0 / 13.0;
  p = p * z + 2.0 / 11.0;
  p = p * z + 2.0 / 9.0;
  p = p * z + 2.0 / 7.0;
  p = p * z + 2.0 / 5.0;
  p = p * z + 2.0 / 3.0;
  p = p * z + 2.0;
  return s * p;
}

// log1p(exp(-|l|)): the part that softplus(l) and softplus(-l) share
// (softplus(l) - softplus(-l) = l).
template <typename T>
ZS_HD T softplus_tail(T l) {
  return log1p_unit(exp(-abs(l)));
}

// softplus(l) = log(1 + exp(l)) = max(l, 0) + log1p(exp(-|l|)); never
// overflows, and is exact (= exp(l)) for very negative l.
template <typename T>
ZS_HD T softplus(T l) {
  T pos = l > T(0) ? l : T(0);
  return pos + softplus_tail(l);
}

// sigmoid(l) = 1 / (1 + exp(-l)), computed from exp(-|l|) <= 1 on both sides.
template <typename T>
ZS_HD T sigmoid(T l) {
  T e = exp(-abs(l));
  T r = T(1) / (T(1) + e);
  T er = e * r;
  return l >= T(0) ? r : er;
}

// sigmoid(l) and sigmoid(-l) = 1 - sigmoid(l) together, each without
// cancellation (one exp, one division).
template <typename T>
ZS_HD void sigmoid_pair(T l, T& pos, T& neg) {
  T e = exp(-abs(l));
  T r = T(1) / (T(1) + e);
  T er = e * r;
  bool nonneg = l >= T(0);
  pos = nonneg ? r : er;
  neg = nonneg ? er : r;
}

}  // namespace math
ZHUSUAN_ISA_END
}  // namespace zhusuan
