// The CUDA launchers of the optimiser updates (zhusuan/optim.h): device
// pointers, all tensors of one update in as few launches as the kernel
// parameter space allows (kOptimTensorsPerLaunch tensors per launch), on
// `stream` (a cudaStream_t as an integer). Arguments as in cpu/optim.h; the
// pointer arrays and coefficients live on the host. Every launch is checked;
// a failure raises std::runtime_error.
#pragma once

#include <cstdint>

namespace zhusuan {
namespace cuda {

constexpr int kOptimTensorsPerLaunch = 16;

template <typename T>
void adam_step(T* const* params, const T* const* grads, T* const* exp_avg,
               T* const* exp_avg_sq, const std::int64_t* sizes, const double* coefs, int n,
               std::uintptr_t stream);

template <typename T>
void sgd_step(T* const* params, const T* const* grads, T* const* momentum_buffers,
              const std::int64_t* sizes, const double* coefs, int n, std::uintptr_t stream);

}  // namespace cuda
}  // namespace zhusuan
