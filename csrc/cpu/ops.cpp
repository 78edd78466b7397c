// The CPU backend: the ops of zhusuan/ops_impl.h run by the CPU engine.
// Compiled once per instruction set (-DZHUSUAN_ISA_NS=isa_<name> and that
// ISA's -march; CMakeLists.txt); dispatch.cpp chooses one at run time.
#include "ops.h"

#include "engine.h"
#include "zhusuan/ops_impl.h"

namespace zhusuan {
ZHUSUAN_ISA_BEGIN
namespace cpu {

template <typename T>
void normal_log_prob_forward(const In<T>& x, const In<T>& mean, const In<T>& scale,
                             bool logstd, const Axes& axes, double weight, const Out<T>& out) {
  ops::normal_log_prob_forward(Engine{}, x, mean, scale, logstd, axes, weight, out);
}

template <typename T>
void normal_log_prob_backward(const In<T>& x, const In<T>& mean, const In<T>& scale,
                              bool logstd, const Axes& axes, double weight,
                              const In<T>& grad_out, const Out<T>& grad_x,
                              const Out<T>& grad_mean, const Out<T>& grad_scale) {
  ops::normal_log_prob_backward(Engine{}, x, mean, scale, logstd, axes, weight, grad_out,
                                grad_x, grad_mean, grad_scale);
}

template <typename T>
void bernoulli_log_prob_forward(const In<T>& x, const In<T>& logits, const Axes& axes,
                                double weight, const Out<T>& out, const Out<T>& dlogits) {
  ops::bernoulli_log_prob_forward(Engine{}, x, logits, axes, weight, out, dlogits);
}

template <typename T>
void reduce_product(const In<T>& values, const In<T>& grad_out, const Axes& axes,
                    double weight, const Out<T>& out) {
  ops::reduce_product(Engine{}, values, grad_out, axes, weight, out);
}

template <typename T>
void bernoulli_log_prob_backward(const In<T>& x, const In<T>& logits, const Axes& axes,
                                 double weight, const In<T>& grad_out, const Out<T>& grad_x,
                                 const Out<T>& grad_logits) {
  ops::bernoulli_log_prob_backward(Engine{}, x, logits, axes, weight, grad_out, grad_x,
                                   grad_logits);
}

template <typename T>
void normal_rsample_forward(const In<T>& mean, const In<T>& scale, const In<T>& eps,
                            bool logstd, const Axes& axes, double weight, const Out<T>& z,
                            const Out<T>& log_q) {
  ops::normal_rsample_forward(Engine{}, mean, scale, eps, logstd, axes, weight, z, log_q);
}

template <typename T>
void normal_rsample_backward(const In<T>& mean, const In<T>& scale, const In<T>& eps,
                             bool logstd, const Axes& axes, double weight,
                             const In<T>& grad_z, const In<T>& grad_log_q,
                             const Out<T>& grad_mean, const Out<T>& grad_scale) {
  ops::normal_rsample_backward(Engine{}, mean, scale, eps, logstd, axes, weight, grad_z,
                               grad_log_q, grad_mean, grad_scale);
}

template <typename T>
void family_log_prob_forward(const std::string& family, const In<T>& x,
                             const std::vector<In<T>>& params, const Axes& axes, double weight,
                             const Out<T>& out) {
  ops::with_family(family, [&](auto f) {
    ops::family_log_prob_forward<decltype(f)>(Engine{}, x, params, axes, weight, out);
  });
}

template <typename T>
void family_log_prob_backward(const std::string& family, const In<T>& x,
                              const std::vector<In<T>>& params, const Axes& axes, double weight,
                              const In<T>& grad_out, const std::vector<Out<T>>& grads) {
  ops::with_family(family, [&](auto f) {
    ops::family_log_prob_backward<decltype(f)>(Engine{}, x, params, axes, weight, grad_out,
                                               grads);
  });
}

#define ZHUSUAN_INSTANTIATE(T)                                                              \
  template void normal_log_prob_forward<T>(const In<T>&, const In<T>&, const In<T>&, bool, \
                                           const Axes&, double, const Out<T>&);             \
  template void normal_log_prob_backward<T>(const In<T>&, const In<T>&, const In<T>&, bool, \
                                            const Axes&, double, const In<T>&,              \
                                            const Out<T>&, const Out<T>&, const Out<T>&);   \
  template void bernoulli_log_prob_forward<T>(const In<T>&, const In<T>&, const Axes&,      \
                                              double, const Out<T>&, const Out<T>&);        \
  template void reduce_product<T>(const In<T>&, const In<T>&, const Axes&, double,         \
                                  const Out<T>&);                                           \
  template void bernoulli_log_prob_backward<T>(const In<T>&, const In<T>&, const Axes&,     \
                                               double, const In<T>&, const Out<T>&,         \
                                               const Out<T>&);                              \
  template void normal_rsample_forward<T>(const In<T>&, const In<T>&, const In<T>&, bool,  \
                                          const Axes&, double, const Out<T>&,               \
                                          const Out<T>&);                                   \
  template void normal_rsample_backward<T>(const In<T>&, const In<T>&, const In<T>&, bool, \
                                           const Axes&, double, const In<T>&, const In<T>&, \
                                           const Out<T>&, const Out<T>&);                 \
  template void family_log_prob_forward<T>(const std::string&, const In<T>&,               \
                                           const std::vector<In<T>>&, const Axes&, double,  \
                                           const Out<T>&);                                  \
  template void family_log_prob_backward<T>(const std::string&, const In<T>&,              \
                                            const std::vector<In<T>>&, const Axes&, double, \
                                            const In<T>&, const std::vector<Out<T>>&);

ZHUSUAN_INSTANTIATE(float)
ZHUSUAN_INSTANTIATE(double)

#undef ZHUSUAN_INSTANTIATE

}  // namespace cpu
ZHUSUAN_ISA_END
}  // namespace zhusuan
