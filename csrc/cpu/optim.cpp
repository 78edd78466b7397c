// The CPU launchers of the optimiser updates: the host loops of
// zhusuan/optim.h (the same code the jit backend's jt.code source runs),
// instantiated for float and double. CMakeLists.txt compiles this file with
// -fno-math-errno (so that sqrt vectorises) and -ffp-contract=off (the
// header's explicit fused multiply-adds are the only ones: Jittor's bits),
// once per instruction set like ops.cpp (dispatch.cpp chooses at run time).
#include "optim.h"

#include "zhusuan/optim.h"

namespace zhusuan {
ZHUSUAN_ISA_BEGIN
namespace cpu {

template <typename T>
void adam_step(T* const* params, const T* const* grads, T* const* exp_avg,
               T* const* exp_avg_sq, const std::int64_t* sizes, const double* coefs, int n) {
  optim::host::adam_step<T>(params, grads, exp_avg, exp_avg_sq, sizes, coefs, n);
}

template <typename T>
void sgd_step(T* const* params, const T* const* grads, T* const* momentum_buffers,
              const std::int64_t* sizes, const double* coefs, int n) {
  optim::host::sgd_step<T>(params, grads, momentum_buffers, sizes, coefs, n);
}

#define ZHUSUAN_INSTANTIATE(T)                                                           \
  template void adam_step<T>(T* const*, const T* const*, T* const*, T* const*,           \
                             const std::int64_t*, const double*, int);                   \
  template void sgd_step<T>(T* const*, const T* const*, T* const*, const std::int64_t*, \
                            const double*, int);

ZHUSUAN_INSTANTIATE(float)
ZHUSUAN_INSTANTIATE(double)

#undef ZHUSUAN_INSTANTIATE

}  // namespace cpu
ZHUSUAN_ISA_END
}  // namespace zhusuan
