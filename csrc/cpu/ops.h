// The CPU backend of the fused ops: host pointers, OpenMP + SIMD.
// Declarations only; the definitions instantiate zhusuan/ops_impl.h with the
// CPU engine (engine.h) for float and double in ops.cpp. The contract of each
// op (shapes, axes, weight, null gradient outputs) is in ops_impl.h.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "zhusuan/broadcast.h"

namespace zhusuan {
namespace cpu {

using Axes = std::vector<std::int64_t>;

template <typename T>
void normal_log_prob_forward(const In<T>& x, const In<T>& mean, const In<T>& scale,
                             bool logstd, const Axes& axes, double weight, const Out<T>& out);

template <typename T>
void normal_log_prob_backward(const In<T>& x, const In<T>& mean, const In<T>& scale,
                              bool logstd, const Axes& axes, double weight,
                              const In<T>& grad_out, const Out<T>& grad_x,
                              const Out<T>& grad_mean, const Out<T>& grad_scale);

template <typename T>
void bernoulli_log_prob_forward(const In<T>& x, const In<T>& logits, const Axes& axes,
                                double weight, const Out<T>& out, const Out<T>& dlogits);

template <typename T>
void reduce_product(const In<T>& values, const In<T>& grad_out, const Axes& axes,
                    double weight, const Out<T>& out);

template <typename T>
void bernoulli_log_prob_backward(const In<T>& x, const In<T>& logits, const Axes& axes,
                                 double weight, const In<T>& grad_out, const Out<T>& grad_x,
                                 const Out<T>& grad_logits);

template <typename T>
void normal_rsample_forward(const In<T>& mean, const In<T>& scale, const In<T>& eps,
                            bool logstd, const Axes& axes, double weight, const Out<T>& z,
                            const Out<T>& log_q);

template <typename T>
void normal_rsample_backward(const In<T>& mean, const In<T>& scale, const In<T>& eps,
                             bool logstd, const Axes& axes, double weight,
                             const In<T>& grad_z, const In<T>& grad_log_q,
                             const Out<T>& grad_mean, const Out<T>& grad_scale);

// The generic op of the families in zhusuan/families.h, by family name.
// params: the family's parameters in order; grads: 1 + #params slots (x's
// first), data == nullptr skips one.
template <typename T>
void family_log_prob_forward(const std::string& family, const In<T>& x,
                             const std::vector<In<T>>& params, const Axes& axes, double weight,
                             const Out<T>& out);

template <typename T>
void family_log_prob_backward(const std::string& family, const In<T>& x,
                              const std::vector<In<T>>& params, const Axes& axes, double weight,
                              const In<T>& grad_out, const std::vector<Out<T>>& grads);

// Number of OpenMP threads the launchers use (1 without OpenMP).
int num_threads();

}  // namespace cpu
}  // namespace zhusuan
