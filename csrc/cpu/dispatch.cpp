// The CPU entry points the bindings call (ops.h, optim.h in zhusuan::cpu):
// each forwards to the copy of the kernels compiled for the instruction set
// chosen at load time (isa.h). Compiled once, with the baseline flags.
//
// CMakeLists.txt defines ZHUSUAN_HAVE_ISA_<NAME> for every copy it compiled
// (ops.cpp and optim.cpp with -DZHUSUAN_ISA_NS=isa_<name>), and
// ZHUSUAN_DEFAULT_ISA_NS for the one that runs on any CPU the module runs on
// at all (isa_baseline, or isa_native in a -march=native build).
#include "isa.h"

#include <atomic>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "ops.h"
#include "optim.h"

#ifndef ZHUSUAN_DEFAULT_ISA_NS
#error "CMakeLists.txt defines ZHUSUAN_DEFAULT_ISA_NS (isa_baseline or isa_native)"
#endif

// The same declarations once per compiled instruction set; the definitions
// are in the objects compiled from ops.cpp and optim.cpp for it.
#define ZHUSUAN_DECLARE_ISA_BEGIN(ns) \
  namespace zhusuan {                 \
  namespace ns {                      \
  namespace cpu {
#define ZHUSUAN_DECLARE_ISA_END \
  }                             \
  }                             \
  }

#ifdef ZHUSUAN_HAVE_ISA_BASELINE
ZHUSUAN_DECLARE_ISA_BEGIN(isa_baseline)
#include "ops_api.inc"
#include "optim_api.inc"
ZHUSUAN_DECLARE_ISA_END
#endif
#ifdef ZHUSUAN_HAVE_ISA_AVX2
ZHUSUAN_DECLARE_ISA_BEGIN(isa_avx2)
#include "ops_api.inc"
#include "optim_api.inc"
ZHUSUAN_DECLARE_ISA_END
#endif
#ifdef ZHUSUAN_HAVE_ISA_AVX512
ZHUSUAN_DECLARE_ISA_BEGIN(isa_avx512)
#include "ops_api.inc"
#include "optim_api.inc"
ZHUSUAN_DECLARE_ISA_END
#endif
#ifdef ZHUSUAN_HAVE_ISA_NATIVE
ZHUSUAN_DECLARE_ISA_BEGIN(isa_native)
#include "ops_api.inc"
#include "optim_api.inc"
ZHUSUAN_DECLARE_ISA_END
#endif

namespace zhusuan {
namespace cpu {
namespace {

enum class Isa : int { baseline, avx2, avx512, native };

struct IsaEntry {
  Isa isa;
  const char* name;
};

// Compiled in, baseline (the most portable) first.
const std::vector<IsaEntry>& compiled() {
  static const std::vector<IsaEntry> list = {
#ifdef ZHUSUAN_HAVE_ISA_BASELINE
      {Isa::baseline, "baseline"},
#endif
#ifdef ZHUSUAN_HAVE_ISA_AVX2
      {Isa::avx2, "avx2"},
#endif
#ifdef ZHUSUAN_HAVE_ISA_AVX512
      {Isa::avx512, "avx512"},
#endif
#ifdef ZHUSUAN_HAVE_ISA_NATIVE
      {Isa::native, "native"},
#endif
  };
  return list;
}

// Whether this CPU (and OS) can run the code compiled for `isa`. The levels
// are the x86-64 micro-architecture levels the copies are compiled for
// (-march=x86-64-v3 / -v4): GCC 12 and newer test them as a whole; otherwise
// their features one by one (v3 also has f16c, lzcnt and movbe, which no
// generation of CPU has without avx2, fma and bmi2).
bool cpu_supports(Isa isa) {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  switch (isa) {
    case Isa::avx2:
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
      return __builtin_cpu_supports("x86-64-v3");
#else
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
             __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2");
#endif
    case Isa::avx512:
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 12
      return __builtin_cpu_supports("x86-64-v4");
#else
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
             __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("avx512f") &&
             __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512cd") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#endif
    default:
      break;
  }
#endif
  // baseline: what the whole module is compiled for; native: the build
  // machine, which the module was built to run on and nowhere else.
  return isa == Isa::baseline || isa == Isa::native;
}

// The best supported one: the last of compiled() the CPU can run.
Isa best_supported() {
  Isa best = compiled().front().isa;
  for (const auto& e : compiled())
    if (cpu_supports(e.isa)) best = e.isa;
  return best;
}

std::atomic<int>& active() {
  static std::atomic<int> isa{static_cast<int>(best_supported())};
  return isa;
}

std::string join(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

}  // namespace

std::vector<std::string> compiled_isas() {
  std::vector<std::string> out;
  for (const auto& e : compiled()) out.push_back(e.name);
  return out;
}

std::vector<std::string> supported_isas() {
  std::vector<std::string> out;
  for (const auto& e : compiled())
    if (cpu_supports(e.isa)) out.push_back(e.name);
  return out;
}

std::string active_isa() {
  const int isa = active().load(std::memory_order_relaxed);
  for (const auto& e : compiled())
    if (static_cast<int>(e.isa) == isa) return e.name;
  return "?";
}

void set_isa(const std::string& name) {
  for (const auto& e : compiled()) {
    if (name != e.name) continue;
    if (!cpu_supports(e.isa))
      throw std::invalid_argument("instruction set '" + name +
                                  "' is compiled in but this CPU does not support it "
                                  "(supported here: " + join(supported_isas()) + ")");
    active().store(static_cast<int>(e.isa), std::memory_order_relaxed);
    return;
  }
  throw std::invalid_argument("unknown instruction set '" + name + "': this build has " +
                              join(compiled_isas()) + " (of which this CPU supports " +
                              join(supported_isas()) + ")");
}

int num_threads() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

// ------------------------------------------------------------ forwarding ----
#ifdef ZHUSUAN_HAVE_ISA_AVX2
#define ZHUSUAN_CASE_AVX2(call, args) \
  case Isa::avx2:                     \
    return isa_avx2::cpu::call args;
#else
#define ZHUSUAN_CASE_AVX2(call, args)
#endif
#ifdef ZHUSUAN_HAVE_ISA_AVX512
#define ZHUSUAN_CASE_AVX512(call, args) \
  case Isa::avx512:                     \
    return isa_avx512::cpu::call args;
#else
#define ZHUSUAN_CASE_AVX512(call, args)
#endif

// Calls `call args` in the copy of the active instruction set.
#define ZHUSUAN_DISPATCH(call, args)                          \
  switch (static_cast<Isa>(active().load(std::memory_order_relaxed))) { \
    ZHUSUAN_CASE_AVX512(call, args)                           \
    ZHUSUAN_CASE_AVX2(call, args)                             \
    default:                                                  \
      return ZHUSUAN_DEFAULT_ISA_NS::cpu::call args;          \
  }

template <typename T>
void normal_log_prob_forward(const In<T>& x, const In<T>& mean, const In<T>& scale,
                             bool logstd, const Axes& axes, double weight, const Out<T>& out) {
  ZHUSUAN_DISPATCH(normal_log_prob_forward<T>, (x, mean, scale, logstd, axes, weight, out))
}

template <typename T>
void normal_log_prob_backward(const In<T>& x, const In<T>& mean, const In<T>& scale,
                              bool logstd, const Axes& axes, double weight,
                              const In<T>& grad_out, const Out<T>& grad_x,
                              const Out<T>& grad_mean, const Out<T>& grad_scale) {
  ZHUSUAN_DISPATCH(normal_log_prob_backward<T>, (x, mean, scale, logstd, axes, weight,
                                                  grad_out, grad_x, grad_mean, grad_scale))
}

template <typename T>
void bernoulli_log_prob_forward(const In<T>& x, const In<T>& logits, const Axes& axes,
                                double weight, const Out<T>& out, const Out<T>& dlogits) {
  ZHUSUAN_DISPATCH(bernoulli_log_prob_forward<T>, (x, logits, axes, weight, out, dlogits))
}

template <typename T>
void reduce_product(const In<T>& values, const In<T>& grad_out, const Axes& axes,
                    double weight, const Out<T>& out) {
  ZHUSUAN_DISPATCH(reduce_product<T>, (values, grad_out, axes, weight, out))
}

template <typename T>
void bernoulli_log_prob_backward(const In<T>& x, const In<T>& logits, const Axes& axes,
                                 double weight, const In<T>& grad_out, const Out<T>& grad_x,
                                 const Out<T>& grad_logits) {
  ZHUSUAN_DISPATCH(bernoulli_log_prob_backward<T>,
                   (x, logits, axes, weight, grad_out, grad_x, grad_logits))
}

template <typename T>
void normal_rsample_forward(const In<T>& mean, const In<T>& scale, const In<T>& eps,
                            bool logstd, const Axes& axes, double weight, const Out<T>& z,
                            const Out<T>& log_q) {
  ZHUSUAN_DISPATCH(normal_rsample_forward<T>, (mean, scale, eps, logstd, axes, weight, z, log_q))
}

template <typename T>
void normal_rsample_backward(const In<T>& mean, const In<T>& scale, const In<T>& eps,
                             bool logstd, const Axes& axes, double weight,
                             const In<T>& grad_z, const In<T>& grad_log_q,
                             const Out<T>& grad_mean, const Out<T>& grad_scale) {
  ZHUSUAN_DISPATCH(normal_rsample_backward<T>, (mean, scale, eps, logstd, axes, weight, grad_z,
                                                 grad_log_q, grad_mean, grad_scale))
}

template <typename T>
void family_log_prob_forward(const std::string& family, const In<T>& x,
                             const std::vector<In<T>>& params, const Axes& axes, double weight,
                             const Out<T>& out) {
  ZHUSUAN_DISPATCH(family_log_prob_forward<T>, (family, x, params, axes, weight, out))
}

template <typename T>
void family_log_prob_backward(const std::string& family, const In<T>& x,
                              const std::vector<In<T>>& params, const Axes& axes, double weight,
                              const In<T>& grad_out, const std::vector<Out<T>>& grads) {
  ZHUSUAN_DISPATCH(family_log_prob_backward<T>,
                   (family, x, params, axes, weight, grad_out, grads))
}

template <typename T>
void adam_step(T* const* params, const T* const* grads, T* const* exp_avg,
               T* const* exp_avg_sq, const std::int64_t* sizes, const double* coefs, int n) {
  ZHUSUAN_DISPATCH(adam_step<T>, (params, grads, exp_avg, exp_avg_sq, sizes, coefs, n))
}

template <typename T>
void sgd_step(T* const* params, const T* const* grads, T* const* momentum_buffers,
              const std::int64_t* sizes, const double* coefs, int n) {
  ZHUSUAN_DISPATCH(sgd_step<T>, (params, grads, momentum_buffers, sizes, coefs, n))
}

#define ZHUSUAN_INSTANTIATE(T)                                                           \
  template void normal_log_prob_forward<T>(const In<T>&, const In<T>&, const In<T>&, bool, \
                                           const Axes&, double, const Out<T>&);          \
  template void normal_log_prob_backward<T>(const In<T>&, const In<T>&, const In<T>&,    \
                                            bool, const Axes&, double, const In<T>&,     \
                                            const Out<T>&, const Out<T>&, const Out<T>&); \
  template void bernoulli_log_prob_forward<T>(const In<T>&, const In<T>&, const Axes&,   \
                                              double, const Out<T>&, const Out<T>&);     \
  template void reduce_product<T>(const In<T>&, const In<T>&, const Axes&, double,       \
                                  const Out<T>&);                                        \
  template void bernoulli_log_prob_backward<T>(const In<T>&, const In<T>&, const Axes&,  \
                                               double, const In<T>&, const Out<T>&,      \
                                               const Out<T>&);                           \
  template void normal_rsample_forward<T>(const In<T>&, const In<T>&, const In<T>&, bool, \
                                          const Axes&, double, const Out<T>&,            \
                                          const Out<T>&);                                \
  template void normal_rsample_backward<T>(const In<T>&, const In<T>&, const In<T>&,     \
                                           bool, const Axes&, double, const In<T>&,      \
                                           const In<T>&, const Out<T>&, const Out<T>&);  \
  template void family_log_prob_forward<T>(const std::string&, const In<T>&,             \
                                           const std::vector<In<T>>&, const Axes&,       \
                                           double, const Out<T>&);                       \
  template void family_log_prob_backward<T>(const std::string&, const In<T>&,            \
                                            const std::vector<In<T>>&, const Axes&,      \
                                            double, const In<T>&,                        \
                                            const std::vector<Out<T>>&);                 \
  template void adam_step<T>(T* const*, const T* const*, T* const*, T* const*,           \
                             const std::int64_t*, const double*, int);                   \
  template void sgd_step<T>(T* const*, const T* const*, T* const*, const std::int64_t*, \
                            const double*, int);

ZHUSUAN_INSTANTIATE(float)
ZHUSUAN_INSTANTIATE(double)

#undef ZHUSUAN_INSTANTIATE

}  // namespace cpu
}  // namespace zhusuan
