// The CPU launchers of the optimiser updates (zhusuan/optim.h): every tensor
// of one update in one OpenMP pass, in place. Arrays of n pointers (one per
// tensor), their element counts, and kAdamCoefs / kSgdCoefs doubles per
// tensor (see zhusuan/optim.h for the layout). The caller checks dtypes,
// sizes and aliasing (csrc/optim_bindings.cpp).
#pragma once

#include <cstdint>

namespace zhusuan {
namespace cpu {

template <typename T>
void adam_step(T* const* params, const T* const* grads, T* const* exp_avg,
               T* const* exp_avg_sq, const std::int64_t* sizes, const double* coefs, int n);

template <typename T>
void sgd_step(T* const* params, const T* const* grads, T* const* momentum_buffers,
              const std::int64_t* sizes, const double* coefs, int n);

}  // namespace cpu
}  // namespace zhusuan
