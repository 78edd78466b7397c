// The elementwise distribution families beyond Normal and Bernoulli: one
// block of per-element math each, shared by the CPU launchers, the CUDA
// kernels and the jt.code sources, and run by the generic fused ops
// family_log_prob_forward / _backward (ops_impl.h).
//
// A family is a struct with
//
//   static constexpr int kParams;              // number of parameters
//   static const char* name();                 // the name Python uses
//   static const char* param(int k);           // parameter k's name
//   template <typename T>
//   ZS_HD static T log_prob(T x, T p0, ...);   // log-density at x
//   template <int K, typename T>
//   ZS_HD static T grad(T x, T p0, ...);       // d log_prob / d operand K
//                                              // (K = 0: x, K = k + 1: p_k)
//
// and one line in ZS_FAMILIES at the end of this file. Adding a family is
// adding one such block (plus its Python class and its tests); nothing else
// in csrc/ changes.
//
// Conventions: parameters are given in the form the kernels use (log-space
// where one exists: logits, log-rates, log-std); the Python classes convert
// what users pass. A value outside the support has log-density -inf and
// gradient 0 (scipy's convention); validate_args in Python raises instead.
// The derivative with respect to a discrete value (Poisson, Geometric,
// Binomial counts) or a discrete parameter (Binomial's n) is 0. Every
// function is branch-free except for selects, written in C++14 (jt.code).
#pragma once

#include "common.h"
#include "normal.h"
#include "special.h"

namespace zhusuan {
ZHUSUAN_ISA_BEGIN
namespace families {

template <typename T>
ZS_HD T neg_inf() {
  return -math::infinity<T>();
}

// log 2 (HalfNormal's normalising constant, Laplace's 2b).
template <typename T>
ZS_HD T ln2() {
  return T(0.69314718055994530941723212145818);
}

// ------------------------------------------------------------------ Laplace --
//   log p(x) = -|x - loc| / b - log b - log 2
//   d/dx = -sign(x - loc) / b,  d/dloc = sign(x - loc) / b,
//   d/db = (|x - loc| / b - 1) / b      (sign(0) = 0: the subgradient 0)
struct Laplace {
  static constexpr int kParams = 2;
  static const char* name() { return "Laplace"; }
  static const char* param(int k) { return k == 0 ? "loc" : "scale"; }
  template <typename T>
  ZS_HD static T log_prob(T x, T loc, T scale) {
    return -math::abs(x - loc) / scale - math::log(scale) - ln2<T>();
  }
  template <int K, typename T>
  ZS_HD static T grad(T x, T loc, T scale) {
    T d = x - loc;
    T s = d > T(0) ? T(1) : (d < T(0) ? T(-1) : T(0));
    T inv = T(1) / scale;
    return K == 0 ? -s * inv : (K == 1 ? s * inv : (math::abs(d) * inv - T(1)) * inv);
  }
};

// ----------------------------------------------------------------- Logistic --
//   z = (x - loc) / s,  log p(x) = -z - 2 softplus(-z) - log s
//                                = -|z| - 2 log1p(exp(-|z|)) - log s
//   (the second form is symmetric and never adds large opposite terms)
//   d/dz = -tanh(z / 2);  d/dx = d/dz / s,  d/dloc = -d/dz / s,
//   d/ds = (z tanh(z / 2) - 1) / s
struct Logistic {
  static constexpr int kParams = 2;
  static const char* name() { return "Logistic"; }
  static const char* param(int k) { return k == 0 ? "loc" : "scale"; }
  template <typename T>
  ZS_HD static T log_prob(T x, T loc, T scale) {
    T z = (x - loc) / scale;
    return -math::abs(z) - T(2) * math::softplus_tail(z) - math::log(scale);
  }
  template <int K, typename T>
  ZS_HD static T grad(T x, T loc, T scale) {
    T inv = T(1) / scale;
    T z = (x - loc) * inv;
    T e = math::exp(-math::abs(z));
    T th = (T(1) - e) / (T(1) + e);  // tanh(|z| / 2)
    th = z >= T(0) ? th : -th;       // tanh(z / 2)
    return K == 0 ? -th * inv : (K == 1 ? th * inv : (z * th - T(1)) * inv);
  }
};

// -------------------------------------------------------------- Exponential --
//   log p(x) = log rate - rate x  (x >= 0)
//   d/dx = -rate,  d/drate = 1 / rate - x
struct Exponential {
  static constexpr int kParams = 1;
  static const char* name() { return "Exponential"; }
  static const char* param(int) { return "rate"; }
  template <typename T>
  ZS_HD static T log_prob(T x, T rate) {
    T lp = math::log(rate) - rate * x;
    return x >= T(0) ? lp : neg_inf<T>();
  }
  template <int K, typename T>
  ZS_HD static T grad(T x, T rate) {
    T g = K == 0 ? -rate : T(1) / rate - x;
    return x >= T(0) ? g : T(0);
  }
};

// --------------------------------------------------------------- HalfNormal --
// In the log of the scale sigma of the underlying Normal:
//   z = x / sigma,  log p(x) = log 2 - log(2 pi) / 2 - log sigma - z^2 / 2
//   d/dx = -z / sigma,  d/dlog sigma = z^2 - 1      (x >= 0)
// z and z / sigma come from normal.h (standardise, over_std), as in every
// family given log sigma: exact for every finite log sigma.
struct HalfNormal {
  static constexpr int kParams = 1;
  static const char* name() { return "HalfNormal"; }
  static const char* param(int) { return "logstd"; }
  template <typename T>
  ZS_HD static T log_prob(T x, T logstd) {
    T z = normal::standardise<true>(x, T(0), logstd);
    T lp = ln2<T>() - math::half_log_2pi<T>() - logstd - T(0.5) * z * z;
    return x >= T(0) ? lp : neg_inf<T>();
  }
  template <int K, typename T>
  ZS_HD static T grad(T x, T logstd) {
    T z = normal::standardise<true>(x, T(0), logstd);
    T g = K == 0 ? -normal::over_std<true>(z, logstd) : z * z - T(1);
    return x >= T(0) ? g : T(0);
  }
};

// --------------------------------------------------------------- FoldNormal --
// |Y| for Y ~ N(mean, sigma^2), in log sigma. With a = (x - mean) / sigma,
// b = (x + mean) / sigma and t = (b^2 - a^2) / 2 = 2 x mean / sigma^2:
//   log p(x) = log(phi(a) + phi(b)) - log sigma
//            = -min(a^2, b^2) / 2 + log1p(exp(-|t|)) - log(2 pi) / 2 - log sigma
// (log-sum-exp of the two Gaussian terms). With wa = sigmoid(t), wb =
// sigmoid(-t) the posterior weights of the two branches:
//   d/dx = -(wa a + wb b) / sigma,  d/dmean = (wa a - wb b) / sigma,
//   d/dlog sigma = wa a^2 + wb b^2 - 1                 (x >= 0)
struct FoldNormal {
  static constexpr int kParams = 2;
  static const char* name() { return "FoldNormal"; }
  static const char* param(int k) { return k == 0 ? "mean" : "logstd"; }
  // a, b and t = 2 (x / sigma) (mean / sigma), each scaled by 1 / sigma as
  // normal.h's standardise does (two finite factors where exp(-log sigma)
  // alone over- or underflows), so that every finite log sigma is exact.
  template <typename T>
  ZS_HD static void parts(T x, T mean, T logstd, T& a, T& b, T& t) {
    a = normal::standardise<true>(x, mean, logstd);
    b = normal::standardise<true>(x, -mean, logstd);
    T u = normal::standardise<true>(x, T(0), logstd);
    T v = normal::standardise<true>(mean, T(0), logstd);
    // t is exactly 0 when x or mean is (u * v would be inf * 0 where the
    // other overflows; a^2 or b^2 is then inf and log p is -inf).
    t = (x == T(0) || mean == T(0)) ? T(0) : T(2) * u * v;
  }
  template <typename T>
  ZS_HD static T log_prob(T x, T mean, T logstd) {
    T a, b, t;
    parts(x, mean, logstd, a, b, t);
    T a2 = a * a, b2 = b * b;
    T m = a2 < b2 ? a2 : b2;
    T lp = -T(0.5) * m + math::softplus_tail(t) - math::half_log_2pi<T>() - logstd;
    return x >= T(0) ? lp : neg_inf<T>();
  }
  template <int K, typename T>
  ZS_HD static T grad(T x, T mean, T logstd) {
    T a, b, t;
    parts(x, mean, logstd, a, b, t);
    T wa, wb;
    math::sigmoid_pair(t, wa, wb);
    T g = K == 0 ? -normal::over_std<true>(wa * a + wb * b, logstd)
                 : (K == 1 ? normal::over_std<true>(wa * a - wb * b, logstd)
                           : wa * a * a + wb * b * b - T(1));
    return x >= T(0) ? g : T(0);
  }
};

// ---------------------------------------------------------------- LogNormal --
// exp(Y) for Y ~ N(mean, sigma^2), in log sigma. y = log x, z = (y - mean) / sigma:
//   log p(x) = -y - log sigma - log(2 pi) / 2 - z^2 / 2
//   d/dx = -(1 + z / sigma) / x,  d/dmean = z / sigma,  d/dlog sigma = z^2 - 1
struct LogNormal {
  static constexpr int kParams = 2;
  static const char* name() { return "LogNormal"; }
  static const char* param(int k) { return k == 0 ? "mean" : "logstd"; }
  template <typename T>
  ZS_HD static T log_prob(T x, T mean, T logstd) {
    T y = math::log(x);
    T z = normal::standardise<true>(y, mean, logstd);
    T lp = -y - logstd - math::half_log_2pi<T>() - T(0.5) * z * z;
    return x > T(0) ? lp : neg_inf<T>();
  }
  template <int K, typename T>
  ZS_HD static T grad(T x, T mean, T logstd) {
    T z = normal::standardise<true>(math::log(x), mean, logstd);
    T zs = normal::over_std<true>(z, logstd);
    T g = K == 0 ? -(T(1) + zs) / x : (K == 1 ? zs : z * z - T(1));
    return x > T(0) ? g : T(0);
  }
};

// ------------------------------------------------------------------ Uniform --
//   log p(x) = -log(maxval - minval) on [minval, maxval), -inf elsewhere
//   d/dx = 0,  d/dminval = 1 / (maxval - minval),  d/dmaxval = -1 / (maxval - minval)
struct Uniform {
  static constexpr int kParams = 2;
  static const char* name() { return "Uniform"; }
  static const char* param(int k) { return k == 0 ? "minval" : "maxval"; }
  template <typename T>
  ZS_HD static T log_prob(T x, T lo, T hi) {
    T lp = -math::log(hi - lo);
    return (x >= lo && x < hi) ? lp : neg_inf<T>();
  }
  template <int K, typename T>
  ZS_HD static T grad(T x, T lo, T hi) {
    T inv = T(1) / (hi - lo);
    T g = K == 0 ? T(0) : (K == 1 ? inv : -inv);
    return (x >= lo && x < hi) ? g : T(0);
  }
};

// ------------------------------------------------------------------ Poisson --
// In the log-rate r (rate = exp(r)); x a count >= 0:
//   log p(x) = x r - exp(r) - lgamma(x + 1)      (x r read as 0 when x = 0,
//                                                 so rate 0 gives p(0) = 1)
//   d/dr = x - exp(r)
struct Poisson {
  static constexpr int kParams = 1;
  static const char* name() { return "Poisson"; }
  static const char* param(int) { return "log_rate"; }
  template <typename T>
  ZS_HD static T log_prob(T x, T log_rate) {
    T xr = x * log_rate;
    xr = x == T(0) ? T(0) : xr;
    T lp = xr - math::exp(log_rate) - math::lgamma(x + T(1));
    return x >= T(0) ? lp : neg_inf<T>();
  }
  template <int K, typename T>
  ZS_HD static T grad(T x, T log_rate) {
    T g = K == 0 ? T(0) : x - math::exp(log_rate);
    return x >= T(0) ? g : T(0);
  }
};

// ---------------------------------------------------------------- Geometric --
// Failures before the first success, success probability sigmoid(l):
//   log p(x) = x log(1 - p) + log p = -x softplus(l) - softplus(-l)
//   d/dl = -x sigmoid(l) + sigmoid(-l)
struct Geometric {
  static constexpr int kParams = 1;
  static const char* name() { return "Geometric"; }
  static const char* param(int) { return "logits"; }
  template <typename T>
  ZS_HD static T log_prob(T x, T logits) {
    T tail = math::softplus_tail(logits);
    T pos = logits > T(0) ? logits : T(0);
    T neg = logits < T(0) ? -logits : T(0);
    T lp = -x * (pos + tail) - (neg + tail);
    return x >= T(0) ? lp : neg_inf<T>();
  }
  template <int K, typename T>
  ZS_HD static T grad(T x, T logits) {
    T sp, sn;
    math::sigmoid_pair(logits, sp, sn);
    T g = K == 0 ? T(0) : sn - x * sp;
    return x >= T(0) ? g : T(0);
  }
};

// ----------------------------------------------------------------- Binomial --
// n trials with success probability sigmoid(l); x successes, 0 <= x <= n:
//   log p(x) = lgamma(n+1) - lgamma(x+1) - lgamma(n-x+1)
//              - x softplus(-l) - (n - x) softplus(l)
//   d/dl = x sigmoid(-l) - (n - x) sigmoid(l)
struct Binomial {
  static constexpr int kParams = 2;
  static const char* name() { return "Binomial"; }
  static const char* param(int k) { return k == 0 ? "logits" : "n_experiments"; }
  template <typename T>
  ZS_HD static T log_prob(T x, T logits, T n) {
    T tail = math::softplus_tail(logits);
    T pos = logits > T(0) ? logits : T(0);
    T neg = logits < T(0) ? -logits : T(0);
    T lp = math::lgamma(n + T(1)) - math::lgamma(x + T(1)) - math::lgamma(n - x + T(1)) -
           x * (neg + tail) - (n - x) * (pos + tail);
    return (x >= T(0) && x <= n) ? lp : neg_inf<T>();
  }
  template <int K, typename T>
  ZS_HD static T grad(T x, T logits, T n) {
    T sp, sn;
    math::sigmoid_pair(logits, sp, sn);
    T g = K == 1 ? x * sn - (n - x) * sp : T(0);
    return (x >= T(0) && x <= n) ? g : T(0);
  }
};

// -------------------------------------------------------------------- Gamma --
// Shape alpha, rate beta:
//   log p(x) = alpha log beta - lgamma(alpha) + (alpha - 1) log x - beta x
//   ((alpha - 1) log x read as 0 when alpha = 1, so that x = 0 is finite)
//   d/dx = (alpha - 1) / x - beta,  d/dalpha = log beta - digamma(alpha) + log x,
//   d/dbeta = alpha / beta - x                          (x >= 0)
struct Gamma {
  static constexpr int kParams = 2;
  static const char* name() { return "Gamma"; }
  static const char* param(int k) { return k == 0 ? "alpha" : "beta"; }
  template <typename T>
  ZS_HD static T log_prob(T x, T alpha, T beta) {
    T am1 = alpha - T(1);
    T t = am1 * math::log(x);
    t = am1 == T(0) ? T(0) : t;
    T lp = alpha * math::log(beta) - math::lgamma(alpha) + t - beta * x;
    return x >= T(0) ? lp : neg_inf<T>();
  }
  template <int K, typename T>
  ZS_HD static T grad(T x, T alpha, T beta) {
    T g = K == 0 ? (alpha - T(1)) / x - beta
                 : (K == 1 ? math::log(beta) - math::digamma(alpha) + math::log(x)
                           : alpha / beta - x);
    return x >= T(0) ? g : T(0);
  }
};

// --------------------------------------------------------------------- Beta --
//   log p(x) = (a - 1) log x + (b - 1) log1p(-x) - lgamma(a) - lgamma(b) + lgamma(a + b)
//   (each (c - 1) log(.) read as 0 when c = 1)
//   d/dx = (a - 1) / x - (b - 1) / (1 - x)
//   d/da = log x - digamma(a) + digamma(a + b)
//   d/db = log1p(-x) - digamma(b) + digamma(a + b)      (0 <= x <= 1)
struct Beta {
  static constexpr int kParams = 2;
  static const char* name() { return "Beta"; }
  static const char* param(int k) { return k == 0 ? "alpha" : "beta"; }
  template <typename T>
  ZS_HD static T log_prob(T x, T a, T b) {
    T u = (a - T(1)) * math::log(x);
    u = a == T(1) ? T(0) : u;
    T v = (b - T(1)) * math::log1p(-x);
    v = b == T(1) ? T(0) : v;
    T lp = u + v - math::lgamma(a) - math::lgamma(b) + math::lgamma(a + b);
    return (x >= T(0) && x <= T(1)) ? lp : neg_inf<T>();
  }
  template <int K, typename T>
  ZS_HD static T grad(T x, T a, T b) {
    T g;
    if (K == 0) {
      g = (a - T(1)) / x - (b - T(1)) / (T(1) - x);
    } else {
      T both = math::digamma(a + b);
      g = K == 1 ? math::log(x) - math::digamma(a) + both
                 : math::log1p(-x) - math::digamma(b) + both;
    }
    return (x >= T(0) && x <= T(1)) ? g : T(0);
  }
};

// ----------------------------------------------------------------- StudentT --
// df nu, location loc, scale s; z = (x - loc) / s:
//   log p(x) = lgamma((nu + 1) / 2) - lgamma(nu / 2) - log(nu pi) / 2 - log s
//              - (nu + 1) / 2 log1p(z^2 / nu)
//   d/dx = -(nu + 1) z / (s (nu + z^2)),  d/dloc = -d/dx,
//   d/ds = ((nu + 1) z^2 / (nu + z^2) - 1) / s,
//   d/dnu = (digamma((nu + 1) / 2) - digamma(nu / 2) - 1 / nu
//            - log1p(z^2 / nu) + (nu + 1) z^2 / (nu (nu + z^2))) / 2
struct StudentT {
  static constexpr int kParams = 3;
  static const char* name() { return "StudentT"; }
  static const char* param(int k) { return k == 0 ? "df" : (k == 1 ? "loc" : "scale"); }
  template <typename T>
  ZS_HD static T log_prob(T x, T df, T loc, T scale) {
    T z = (x - loc) / scale;
    const T log_pi = T(1.1447298858494001741434273513530587);
    return math::lgamma(T(0.5) * (df + T(1))) - math::lgamma(T(0.5) * df) -
           T(0.5) * (math::log(df) + log_pi) - math::log(scale) -
           T(0.5) * (df + T(1)) * math::log1p(z * z / df);
  }
  template <int K, typename T>
  ZS_HD static T grad(T x, T df, T loc, T scale) {
    T inv = T(1) / scale;
    T z = (x - loc) * inv;
    T z2 = z * z;
    T r = (df + T(1)) / (df + z2);
    if (K == 0) return -r * z * inv;
    if (K == 2) return r * z * inv;
    if (K == 3) return (r * z2 - T(1)) * inv;
    return T(0.5) * (math::digamma(T(0.5) * (df + T(1))) - math::digamma(T(0.5) * df) -
                     T(1) / df - math::log1p(z2 / df) + r * z2 / df);
  }
};

// ------------------------------------------------ Cauchy and HalfCauchy --
// With z = d / s (d = x - loc for Cauchy, x for HalfCauchy):
//   log1p(z^2) = 2 (log|d| - log s) + log1p(1 / z^2)     for |z| > 1,
// which stays finite where z^2 (or z itself) overflows; and the two
// quotients the gradients need,
//   w = 2 z / (1 + z^2),  q = 1 / (1 + z^2),
// written in 1 / z for |z| > 1 for the same reason.
template <typename T>
ZS_HD T log1p_square(T d, T s) {
  T z = d / s;
  T r = T(1) / z;
  T far = T(2) * (math::log(math::abs(d)) - math::log(s)) + math::log1p(r * r);
  return math::abs(z) > T(1) ? far : math::log1p(z * z);
}

template <typename T>
ZS_HD void cauchy_quotients(T z, T& w, T& q) {
  T r = T(1) / z;
  bool far = math::abs(z) > T(1);
  T rr = T(1) / (T(1) + r * r);
  T zz = T(1) / (T(1) + z * z);
  w = far ? T(2) * r * rr : T(2) * z * zz;
  q = far ? r * r * rr : zz;
}

//   log p(x) = -log pi - log s - log1p(z^2),  z = (x - loc) / s
//   d/dx = -w / s,  d/dloc = w / s,  d/ds = (1 - 2 q) / s
struct Cauchy {
  static constexpr int kParams = 2;
  static const char* name() { return "Cauchy"; }
  static const char* param(int k) { return k == 0 ? "loc" : "scale"; }
  template <typename T>
  ZS_HD static T log_prob(T x, T loc, T scale) {
    const T log_pi = T(1.1447298858494001741434273513530587);
    return -log_pi - math::log(scale) - log1p_square(x - loc, scale);
  }
  template <int K, typename T>
  ZS_HD static T grad(T x, T loc, T scale) {
    T inv = T(1) / scale;
    T w, q;
    cauchy_quotients((x - loc) * inv, w, q);
    return K == 0 ? -w * inv : (K == 1 ? w * inv : (T(1) - T(2) * q) * inv);
  }
};

// The law of |y|, y ~ Cauchy(0, s):
//   log p(x) = log 2 - log pi - log s - log1p(z^2),  z = x / s   (x >= 0)
//   d/dx = -w / s,  d/ds = (1 - 2 q) / s
struct HalfCauchy {
  static constexpr int kParams = 1;
  static const char* name() { return "HalfCauchy"; }
  static const char* param(int) { return "scale"; }
  template <typename T>
  ZS_HD static T log_prob(T x, T scale) {
    const T log_pi = T(1.1447298858494001741434273513530587);
    T lp = ln2<T>() - log_pi - math::log(scale) - log1p_square(x, scale);
    return x >= T(0) ? lp : neg_inf<T>();
  }
  template <int K, typename T>
  ZS_HD static T grad(T x, T scale) {
    T inv = T(1) / scale;
    T w, q;
    cauchy_quotients(x * inv, w, q);
    T g = K == 0 ? -w * inv : (T(1) - T(2) * q) * inv;
    return x >= T(0) ? g : T(0);
  }
};

// ------------------------------------------------------------- InverseGamma --
// Shape alpha, scale beta (ZhuSuan-TF's): the law of 1 / X, X ~ Gamma(alpha, rate beta):
//   log p(x) = alpha log beta - lgamma(alpha) - (alpha + 1) log x - beta / x
//   d/dx = (beta / x - alpha - 1) / x,  d/dalpha = log beta - digamma(alpha) - log x,
//   d/dbeta = alpha / beta - 1 / x                                  (x > 0)
struct InverseGamma {
  static constexpr int kParams = 2;
  static const char* name() { return "InverseGamma"; }
  static const char* param(int k) { return k == 0 ? "alpha" : "beta"; }
  template <typename T>
  ZS_HD static T log_prob(T x, T alpha, T beta) {
    T lp = alpha * math::log(beta) - math::lgamma(alpha) - (alpha + T(1)) * math::log(x) -
           beta / x;
    return x > T(0) ? lp : neg_inf<T>();
  }
  template <int K, typename T>
  ZS_HD static T grad(T x, T alpha, T beta) {
    T inv = T(1) / x;
    T g = K == 0 ? (beta * inv - alpha - T(1)) * inv
                 : (K == 1 ? math::log(beta) - math::digamma(alpha) - math::log(x)
                           : alpha / beta - inv);
    return x > T(0) ? g : T(0);
  }
};

// ----------------------------------------------------- the generic functors --
// For the engines (ops_impl.h): the log-density of one element, and the
// upstream gradient g times its derivative with respect to operand K.
template <class F>
struct LogProbFn {
  static constexpr int kArity = 1 + F::kParams;
  template <typename T, typename... P>
  ZS_HD T operator()(T x, P... p) const {
    return F::log_prob(x, p...);
  }
};

template <class F, int K>
struct GradFn {
  static constexpr int kArity = 2 + F::kParams;
  template <typename T, typename... P>
  ZS_HD T operator()(T g, T x, P... p) const {
    return g * F::template grad<K>(x, p...);
  }
};

// Every family, for dispatch by name (X is called with each struct name).
#define ZS_FAMILIES(X)                                                                   \
  X(Laplace) X(Logistic) X(Exponential) X(HalfNormal) X(FoldNormal) X(LogNormal)          \
      X(Uniform) X(Poisson) X(Geometric) X(Binomial) X(Gamma) X(Beta) X(StudentT)      \
          X(Cauchy) X(HalfCauchy) X(InverseGamma)

}  // namespace families
ZHUSUAN_ISA_END
}  // namespace zhusuan
