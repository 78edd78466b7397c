// The CUDA backend of the fused ops: device pointers, launched on `stream`
// (a cudaStream_t passed as an integer so that this header needs no CUDA
// headers). Contract of each op as in zhusuan/ops_impl.h; every launch is
// checked and a failure raises std::runtime_error.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "zhusuan/broadcast.h"

namespace zhusuan {
namespace cuda {

using Axes = std::vector<std::int64_t>;
using Stream = std::uintptr_t;

template <typename T>
void normal_log_prob_forward(const In<T>& x, const In<T>& mean, const In<T>& scale,
                             bool logstd, const Axes& axes, double weight, const Out<T>& out,
                             Stream stream);

template <typename T>
void normal_log_prob_backward(const In<T>& x, const In<T>& mean, const In<T>& scale,
                              bool logstd, const Axes& axes, double weight,
                              const In<T>& grad_out, const Out<T>& grad_x,
                              const Out<T>& grad_mean, const Out<T>& grad_scale, Stream stream);

template <typename T>
void bernoulli_log_prob_forward(const In<T>& x, const In<T>& logits, const Axes& axes,
                                double weight, const Out<T>& out, const Out<T>& dlogits,
                                Stream stream);

template <typename T>
void reduce_product(const In<T>& values, const In<T>& grad_out, const Axes& axes,
                    double weight, const Out<T>& out, Stream stream);

template <typename T>
void bernoulli_log_prob_backward(const In<T>& x, const In<T>& logits, const Axes& axes,
                                 double weight, const In<T>& grad_out, const Out<T>& grad_x,
                                 const Out<T>& grad_logits, Stream stream);

template <typename T>
void normal_rsample_forward(const In<T>& mean, const In<T>& scale, const In<T>& eps,
                            bool logstd, const Axes& axes, double weight, const Out<T>& z,
                            const Out<T>& log_q, Stream stream);

template <typename T>
void normal_rsample_backward(const In<T>& mean, const In<T>& scale, const In<T>& eps,
                             bool logstd, const Axes& axes, double weight,
                             const In<T>& grad_z, const In<T>& grad_log_q,
                             const Out<T>& grad_mean, const Out<T>& grad_scale, Stream stream);

// Number of visible devices; 0 when there is no driver or device.
int device_count();

// The generic op of the families in zhusuan/families.h (see cpu/ops.h).
template <typename T>
void family_log_prob_forward(const std::string& family, const In<T>& x,
                             const std::vector<In<T>>& params, const Axes& axes, double weight,
                             const Out<T>& out, Stream stream);

template <typename T>
void family_log_prob_backward(const std::string& family, const In<T>& x,
                              const std::vector<In<T>>& params, const Axes& axes, double weight,
                              const In<T>& grad_out, const std::vector<Out<T>>& grads,
                              Stream stream);

}  // namespace cuda
}  // namespace zhusuan
