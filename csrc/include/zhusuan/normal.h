// The univariate Normal distribution, per element: log-density, its partial
// derivatives, and the reparameterised sample. Used by the CPU launchers,
// the CUDA kernels and the jt.code sources alike.
//
// The scale parameter is either the standard deviation sigma (kLogStd =
// false) or its logarithm (kLogStd = true); every function is templated on
// that choice so that the log-std form never exponentiates and logs again.
//
//   log p(x) = -z^2 / 2 - log sigma - log(2 pi) / 2,   z = (x - mean) / sigma
//   d/dx     = -z / sigma          d/dmean = z / sigma
//   d/dsigma = (z^2 - 1) / sigma   d/dlogsigma = z^2 - 1
//
// Everything is computed from the standardised residual z, never from
// 1 / sigma^2, and in the log-std form 1 / sigma = exp(-s) is applied as two
// factors exp(-s/2) when exp(-s) alone would overflow or underflow
// (|s| > 87 in float32, 708 in float64): log N(0; 0, exp(-90)) is 89.08 in
// float32, with gradients 0 (x, mean) and -1 (logstd), instead of NaN from
// 0 * inf. Beyond twice that range the factors are clamped: z is then 0
// (x = mean), or its square overflows (log p = -inf) or vanishes (z below
// the dtype's smallest number), which is what the exact value rounds to.
//
// Reparameterised sample z = mean + sigma * eps with eps ~ N(0, 1); its
// log-density in the same pass is -eps^2 / 2 - log sigma - log(2 pi) / 2.
#pragma once

#include "common.h"

namespace zhusuan {
ZHUSUAN_ISA_BEGIN
namespace normal {

// ---------------------------------------------------------- the scale -----
template <bool kLogStd, typename T>
ZS_HD T log_std(T scale) {
  return kLogStd ? scale : math::log(scale);
}

template <bool kLogStd, typename T>
ZS_HD T std_dev(T scale) {
  return kLogStd ? math::exp(scale) : scale;
}

// The largest |a| for which exp(a) and exp(-a) are both finite normal
// numbers of the type.
template <typename T>
ZS_HD T exp_range();
template <>
ZS_HD float exp_range<float>() { return 87.0f; }
template <>
ZS_HD double exp_range<double>() { return 708.0; }

// 1 / sigma = exp(-s) as a product f1 * f2 of finite factors: (exp(-s), 1)
// when |s| <= exp_range, else exp(-s/2) twice (clamped to the range, see the
// top of this file). Only selects between computed values: the loops
// vectorise (common.h).
template <typename T>
struct InvStd {
  T f1, f2;
};

template <typename T>
ZS_HD InvStd<T> inv_std_factors(T s) {
  const T lim = exp_range<T>();
  T half = T(-0.5) * s;
  half = half > lim ? lim : half;
  half = half < -lim ? -lim : half;
  const bool direct = math::abs(s) <= lim;
  T e = math::exp(direct ? -s : half);
  return {e, direct ? T(1) : e};
}

// z = (x - mean) / sigma.
template <bool kLogStd, typename T>
ZS_HD T standardise(T x, T mean, T scale) {
  if (kLogStd) {
    InvStd<T> f = inv_std_factors(scale);
    return ((x - mean) * f.f1) * f.f2;
  }
  return (x - mean) / scale;
}

// z / sigma, from z (the factors once more, or a division by sigma).
template <bool kLogStd, typename T>
ZS_HD T over_std(T z, T scale) {
  if (kLogStd) {
    InvStd<T> f = inv_std_factors(scale);
    return (z * f.f1) * f.f2;
  }
  return z / scale;
}

// ------------------------------------------------------------ density -----
template <bool kLogStd, typename T>
ZS_HD T log_prob(T x, T mean, T scale) {
  T z = standardise<kLogStd>(x, mean, scale);
  return T(-0.5) * z * z - log_std<kLogStd>(scale) - math::half_log_2pi<T>();
}

template <bool kLogStd, typename T>
ZS_HD T dlog_prob_dx(T x, T mean, T scale) {
  return -over_std<kLogStd>(standardise<kLogStd>(x, mean, scale), scale);
}

template <bool kLogStd, typename T>
ZS_HD T dlog_prob_dmean(T x, T mean, T scale) {
  return over_std<kLogStd>(standardise<kLogStd>(x, mean, scale), scale);
}

// With respect to the scale parameter as given: sigma, or log sigma.
template <bool kLogStd, typename T>
ZS_HD T dlog_prob_dscale(T x, T mean, T scale) {
  T z = standardise<kLogStd>(x, mean, scale);
  T d = z * z - T(1);
  return kLogStd ? d : d / scale;
}

// ---------------------------------------------- reparameterised sample -----
template <bool kLogStd, typename T>
ZS_HD T rsample(T mean, T scale, T eps) {
  return mean + std_dev<kLogStd>(scale) * eps;
}

// log N(z; mean, sigma) at z = rsample(mean, scale, eps).
template <bool kLogStd, typename T>
ZS_HD T rsample_log_prob(T scale, T eps) {
  return T(-0.5) * eps * eps - log_std<kLogStd>(scale) - math::half_log_2pi<T>();
}

// Total derivatives with respect to the scale parameter of
//   gz * z + glq * log_q   (z = mean + sigma * eps, eps held fixed):
//   sigma:      gz * eps         - glq / sigma
//   log sigma:  gz * eps * sigma - glq
// (d/dmean is gz; log_q does not depend on mean once eps is fixed.)
template <bool kLogStd, typename T>
ZS_HD T drsample_dscale(T scale, T eps, T gz, T glq) {
  return kLogStd ? gz * eps * math::exp(scale) - glq : gz * eps - glq / scale;
}

// ------------------------------------------------------------ functors -----
// The launchers map functors over broadcast operands. Each takes the operand
// values of one element of the broadcast shape and returns the term to sum.

template <bool kLogStd>
struct LogProbFn {
  static constexpr int kArity = 3;  // x, mean, scale
  template <typename T>
  ZS_HD T operator()(T x, T mean, T scale) const {
    return log_prob<kLogStd>(x, mean, scale);
  }
};

// g * d log p / d(operand kWrt), kWrt: 0 = x, 1 = mean, 2 = scale; operands
// x, mean, scale, g (the upstream gradient, broadcast from the reduced shape).
template <bool kLogStd, int kWrt>
struct LogProbGradFn {
  static constexpr int kArity = 4;
  template <typename T>
  ZS_HD T operator()(T x, T mean, T scale, T g) const {
    return g * (kWrt == 0   ? dlog_prob_dx<kLogStd>(x, mean, scale)
                : kWrt == 1 ? dlog_prob_dmean<kLogStd>(x, mean, scale)
                            : dlog_prob_dscale<kLogStd>(x, mean, scale));
  }
};

// Fused sample + log-density: operator() is the log-density term, side() the
// sample written elementwise. Operands mean, scale, eps.
template <bool kLogStd>
struct RsampleFn {
  static constexpr int kArity = 3;
  template <typename T>
  ZS_HD T operator()(T, T scale, T eps) const {
    return rsample_log_prob<kLogStd>(scale, eps);
  }
  template <typename T>
  ZS_HD T side(T mean, T scale, T eps) const {
    return rsample<kLogStd>(mean, scale, eps);
  }
};

// Gradient of the rsample outputs with respect to mean: the upstream gradient
// of z. Operand gz only.
struct RsampleGradMeanFn {
  static constexpr int kArity = 1;
  template <typename T>
  ZS_HD T operator()(T gz) const { return gz; }
};

// Gradient with respect to the scale parameter. Operands scale, eps, gz, glq;
// kHasGz / kHasGlq false when that output received no gradient (its operand
// is then a dummy and ignored). weight_lq is the weight the forward applied to
// log_q (z itself is not weighted).
template <bool kLogStd, bool kHasGz, bool kHasGlq>
struct RsampleGradScaleFn {
  static constexpr int kArity = 4;
  double weight_lq;
  template <typename T>
  ZS_HD T operator()(T scale, T eps, T gz, T glq) const {
    return drsample_dscale<kLogStd>(scale, eps, kHasGz ? gz : T(0),
                                    kHasGlq ? glq * T(weight_lq) : T(0));
  }
};

}  // namespace normal
ZHUSUAN_ISA_END
}  // namespace zhusuan
