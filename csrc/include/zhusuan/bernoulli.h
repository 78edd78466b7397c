// The Bernoulli distribution in logits l, per element: log-density and its
// partial derivatives. Used by the CPU launchers, the CUDA kernels and the
// jt.code sources alike.
//
//   log p(x) = x l - softplus(l)
//            = -[x softplus(-l) + (1 - x) softplus(l)]
//   d/dx     = l
//   d/dl     = x - sigmoid(l) = x sigmoid(-l) - (1 - x) sigmoid(l)
//
// The second forms are the ones computed: for x in {0, 1} no two large terms
// cancel, so log p(x = 1 | l = 30) = -9.4e-14 keeps its digits even in float
// (x l - softplus(l) would be 30 - 30 = 0), and so does its gradient. The
// reference backend uses the same arrangement. softplus(l) and softplus(-l)
// share log1p(exp(-|l|)) (they differ by l), sigmoid(l) and sigmoid(-l) share
// exp(-|l|): one exp and one cheap log1p per element forward, one exp and one
// division backward. Finite for every finite l; no log(0).
#pragma once

#include "common.h"

namespace zhusuan {
ZHUSUAN_ISA_BEGIN
namespace bernoulli {

template <typename T>
ZS_HD T log_prob(T x, T logits) {
  T tail = math::softplus_tail(logits);
  T pos = logits > T(0) ? logits : T(0);
  T neg = logits < T(0) ? -logits : T(0);
  T sp_pos = pos + tail;  // softplus(l)
  T sp_neg = neg + tail;  // softplus(-l)
  return -(x * sp_neg + (T(1) - x) * sp_pos);
}

template <typename T>
ZS_HD T dlog_prob_dx(T, T logits) {
  return logits;
}

template <typename T>
ZS_HD T dlog_prob_dlogits(T x, T logits) {
  T s_pos, s_neg;
  math::sigmoid_pair(logits, s_pos, s_neg);
  return x * s_neg - (T(1) - x) * s_pos;
}

// ------------------------------------------------------------ functors -----
struct LogProbFn {
  static constexpr int kArity = 2;  // x, logits
  template <typename T>
  ZS_HD T operator()(T x, T logits) const { return log_prob(x, logits); }
};

// The forward pass of training: the log-density to sum, and (side) its
// derivative with respect to the logits, saved so that the backward pass is a
// product with the upstream gradient (zhusuan::ProductFn) instead of a second
// exp and division per element. The two share exp(-|l|) (the compiler merges
// the common subexpressions of the two inlined calls).
struct LogProbSaveGradFn {
  static constexpr int kArity = 2;  // x, logits
  template <typename T>
  ZS_HD T operator()(T x, T logits) const { return log_prob(x, logits); }
  template <typename T>
  ZS_HD T side(T x, T logits) const { return dlog_prob_dlogits(x, logits); }
};

// g * d log p / d(operand kWrt), kWrt: 0 = x, 1 = logits; operands x, logits,
// g (the upstream gradient, broadcast from the reduced shape).
template <int kWrt>
struct LogProbGradFn {
  static constexpr int kArity = 3;
  template <typename T>
  ZS_HD T operator()(T x, T logits, T g) const {
    return g * (kWrt == 0 ? dlog_prob_dx(x, logits) : dlog_prob_dlogits(x, logits));
  }
};

}  // namespace bernoulli
ZHUSUAN_ISA_END
}  // namespace zhusuan
