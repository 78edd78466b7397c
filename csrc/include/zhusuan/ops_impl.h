// The fused ops, written once over an execution engine (host code only).
//
// Each op checks its arguments (shapes, axes) with messages that print the
// actual shapes, builds a loop plan (broadcast.h) and hands a functor from
// normal.h / bernoulli.h to the engine. The engines are the backends:
// cpu::Engine (csrc/cpu/engine.h, OpenMP) and cuda::Engine (csrc/cuda/engine.cuh).
// An engine provides
//
//   template <typename T, int NIN, bool kSide, typename F>
//   void map_reduce(const Plan<NIN + 2>& plan, const std::array<const T*, NIN>& in,
//                   T* out, std::int64_t n_out, double weight, const F& f,
//                   T* side) const;
//     out[o] = weight * sum over the reduced axes of f(in...) (accumulated in
//     double); with kSide, also side[e] = f.side(in...) for every element e of
//     the broadcast shape (side uses the strides of the last slot);
//   template <typename T> void zero(T* out, std::int64_t n) const;
//
// Pointers are host pointers for the CPU engine and device pointers for the
// CUDA engine; this file never dereferences them.
//
// Conventions of every op: all operands share one dtype T and are contiguous;
// `axes` are axes of the broadcast shape F (negative allowed), summed and then
// multiplied by `weight`; the result has shape F without `axes`, or [1].
// Gradient outputs with data == nullptr are skipped.
#pragma once

#include <array>
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <initializer_list>
#include <utility>

#include "bernoulli.h"
#include "broadcast.h"
#include "families.h"
#include "normal.h"

namespace zhusuan {
ZHUSUAN_ISA_BEGIN
namespace ops {
namespace detail {

inline std::string axes_str(const std::vector<std::int64_t>& axes) {
  std::ostringstream os;
  os << '(';
  for (std::size_t i = 0; i < axes.size(); ++i) os << (i ? ", " : "") << axes[i];
  os << (axes.size() == 1 ? ",)" : ")");
  return os.str();
}

inline void check_shape(const std::string& op, const std::string& what, const Shape& got,
                        const Shape& want, const std::string& context) {
  if (got != want) {
    throw std::invalid_argument(op + ": " + what + " has shape " + shape_str(got) +
                                ", expected " + shape_str(want) + " (" + context + ")");
  }
}

template <typename T>
void check_data(const std::string& op, const std::string& what, const T* p, const Shape& s) {
  if (p == nullptr && numel(s) != 0)
    throw std::invalid_argument(op + ": " + what + " is missing (null data)");
}

// Everything an op needs about its operands' geometry.
struct Geometry {
  Shape full;
  std::vector<bool> reduced;
  Shape out_shape;
  std::string context;  // "x [..], mean [..], ... axes (..)" for messages
};

inline Geometry geometry(const std::string& op, const std::vector<Shape>& shapes,
                         const std::vector<std::string>& names,
                         const std::vector<std::int64_t>& axes) {
  Geometry g;
  std::ostringstream os;
  for (std::size_t k = 0; k < shapes.size(); ++k)
    os << (k ? ", " : "") << names[k] << ' ' << shape_str(shapes[k]);
  os << ", axes " << axes_str(axes);
  g.context = os.str();
  g.full = broadcast_shapes(shapes, names, op);
  auto ax = normalize_axes(axes, g.full.size(), op);
  g.reduced = axes_mask(ax, g.full.size());
  g.out_shape = reduced_shape(g.full, g.reduced);
  return g;
}

// The upstream gradient of a reduced output, seen in F: size 1 on the
// reduced axes, so that broadcast_strides() gives it stride 0 there.
inline Shape upstream_shape(const Geometry& g) {
  Shape s = g.full;
  for (std::size_t i = 0; i < s.size(); ++i)
    if (g.reduced[i]) s[i] = 1;
  return s;
}

template <int NS>
std::array<std::vector<std::int64_t>, NS> slot_strides(
    const Geometry& g, const std::vector<Shape>& inputs, const std::vector<std::int64_t>& out,
    const std::vector<std::int64_t>& side) {
  std::array<std::vector<std::int64_t>, NS> st;
  for (std::size_t k = 0; k < inputs.size(); ++k) st[k] = broadcast_strides(inputs[k], g.full);
  st[NS - 2] = out;
  st[NS - 1] = side.empty() ? std::vector<std::int64_t>(g.full.size(), 0) : side;
  return st;
}

// One engine call: out (kept over `out_strides`) = weight * sum f(inputs).
template <class E, typename T, int NIN, bool kSide = false, typename F>
void launch(const E& eng, const std::string& op, const Geometry& g,
            const std::vector<Shape>& shapes, const std::array<const T*, NIN>& in,
            const std::vector<std::int64_t>& out_strides, T* out, std::int64_t n_out,
            double weight, const F& f, T* side = nullptr,
            const std::vector<std::int64_t>& side_strides = {}) {
  static_assert(F::kArity == NIN, "functor arity does not match the operands");
  if (n_out == 0) return;
  auto st = slot_strides<NIN + 2>(g, shapes, out_strides, side_strides);
  Plan<NIN + 2> plan = make_plan<NIN + 2>(g.full, st, op);
  if (plan.total == 0) {  // a sum over nothing
    eng.zero(out, n_out);
    return;
  }
  if (plan.n_out != n_out) throw std::logic_error(op + ": internal error: output size");
  eng.template map_reduce<T, NIN, kSide>(plan, in, out, n_out, weight, f, side);
}

}  // namespace detail

// ------------------------------------------------------- normal_log_prob -----
template <class E, typename T>
void normal_log_prob_forward(const E& eng, const In<T>& x, const In<T>& mean,
                             const In<T>& scale, bool logstd,
                             const std::vector<std::int64_t>& axes, double weight,
                             const Out<T>& out) {
  const std::string op = "normal_log_prob";
  const std::vector<Shape> shapes = {x.shape, mean.shape, scale.shape};
  auto g = detail::geometry(op, shapes, {"x", "mean", "scale"}, axes);
  detail::check_shape(op, "out", out.shape, g.out_shape, g.context);
  detail::check_data(op, "out", out.data, out.shape);
  std::array<const T*, 3> in = {x.data, mean.data, scale.data};
  auto ost = kept_strides(g.full, g.reduced);
  const std::int64_t n = numel(out.shape);
  if (logstd)
    detail::launch<E, T, 3>(eng, op, g, shapes, in, ost, out.data, n, weight,
                            normal::LogProbFn<true>{});
  else
    detail::launch<E, T, 3>(eng, op, g, shapes, in, ost, out.data, n, weight,
                            normal::LogProbFn<false>{});
}

namespace detail {
template <class E, typename T, bool kLogStd, int kWrt>
void normal_grad_one(const E& eng, const std::string& op, const Geometry& g,
                     const std::vector<Shape>& shapes, const std::array<const T*, 4>& in,
                     double weight, const Out<T>& grad) {
  launch<E, T, 4>(eng, op, g, shapes, in, broadcast_strides(shapes[kWrt], g.full), grad.data,
                  numel(grad.shape), weight, normal::LogProbGradFn<kLogStd, kWrt>{});
}
}  // namespace detail

template <class E, typename T>
void normal_log_prob_backward(const E& eng, const In<T>& x, const In<T>& mean,
                              const In<T>& scale, bool logstd,
                              const std::vector<std::int64_t>& axes, double weight,
                              const In<T>& grad_out, const Out<T>& grad_x,
                              const Out<T>& grad_mean, const Out<T>& grad_scale) {
  const std::string op = "normal_log_prob_backward";
  const std::vector<Shape> shapes = {x.shape, mean.shape, scale.shape};
  auto g = detail::geometry(op, shapes, {"x", "mean", "scale"}, axes);
  detail::check_shape(op, "grad_out", grad_out.shape, g.out_shape, g.context);
  const Out<T>* grads[3] = {&grad_x, &grad_mean, &grad_scale};
  const Shape* own[3] = {&x.shape, &mean.shape, &scale.shape};
  const char* names[3] = {"grad_x", "grad_mean", "grad_scale"};
  for (int k = 0; k < 3; ++k)
    if (grads[k]->data) detail::check_shape(op, names[k], grads[k]->shape, *own[k], g.context);
  // The upstream gradient has the reduced shape; seen in F it is the
  // broadcast shape with size 1 on the reduced axes (stride 0 there).
  const std::vector<Shape> sh = {x.shape, mean.shape, scale.shape, detail::upstream_shape(g)};
  std::array<const T*, 4> in = {x.data, mean.data, scale.data, grad_out.data};
  if (logstd) {
    if (grad_x.data) detail::normal_grad_one<E, T, true, 0>(eng, op, g, sh, in, weight, grad_x);
    if (grad_mean.data) detail::normal_grad_one<E, T, true, 1>(eng, op, g, sh, in, weight, grad_mean);
    if (grad_scale.data) detail::normal_grad_one<E, T, true, 2>(eng, op, g, sh, in, weight, grad_scale);
  } else {
    if (grad_x.data) detail::normal_grad_one<E, T, false, 0>(eng, op, g, sh, in, weight, grad_x);
    if (grad_mean.data) detail::normal_grad_one<E, T, false, 1>(eng, op, g, sh, in, weight, grad_mean);
    if (grad_scale.data) detail::normal_grad_one<E, T, false, 2>(eng, op, g, sh, in, weight, grad_scale);
  }
}

// ---------------------------------------------------- bernoulli_log_prob -----
// With dlogits (optional, the broadcast shape F): also saves the per-element
// derivative of the log-density with respect to the logits, unweighted, for
// reduce_product() to finish the backward pass.
template <class E, typename T>
void bernoulli_log_prob_forward(const E& eng, const In<T>& x, const In<T>& logits,
                                const std::vector<std::int64_t>& axes, double weight,
                                const Out<T>& out, const Out<T>& dlogits = Out<T>{nullptr, {}}) {
  const std::string op = "bernoulli_log_prob";
  const std::vector<Shape> shapes = {x.shape, logits.shape};
  auto g = detail::geometry(op, shapes, {"x", "logits"}, axes);
  detail::check_shape(op, "out", out.shape, g.out_shape, g.context);
  detail::check_data(op, "out", out.data, out.shape);
  std::array<const T*, 2> in = {x.data, logits.data};
  const auto ost = kept_strides(g.full, g.reduced);
  if (dlogits.data) {
    detail::check_shape(op, "dlogits", dlogits.shape, g.full,
                        g.context + "; dlogits has the broadcast shape");
    detail::launch<E, T, 2, true>(eng, op, g, shapes, in, ost, out.data, numel(out.shape),
                                  weight, bernoulli::LogProbSaveGradFn{}, dlogits.data,
                                  broadcast_strides(g.full, g.full));
  } else {
    detail::launch<E, T, 2>(eng, op, g, shapes, in, ost, out.data, numel(out.shape), weight,
                            bernoulli::LogProbFn{});
  }
}

// The backward pass from a saved derivative: out = weight * sum of
// values * grad_out over the axes of F = values.shape along which `out`
// broadcasts, where grad_out has the forward's reduced shape (F without
// `axes`) and `out` the shape of the input being differentiated.
template <class E, typename T>
void reduce_product(const E& eng, const In<T>& values, const In<T>& grad_out,
                    const std::vector<std::int64_t>& axes, double weight, const Out<T>& out) {
  const std::string op = "reduce_product";
  const std::vector<Shape> shapes = {values.shape};
  auto g = detail::geometry(op, shapes, {"values"}, axes);
  detail::check_shape(op, "grad_out", grad_out.shape, g.out_shape, g.context);
  detail::check_data(op, "out", out.data, out.shape);
  // out is an input's gradient: its shape must broadcast to F.
  const std::vector<Shape> both = {out.shape, g.full};
  const std::vector<std::string> names = {"out", "values"};
  if (out.shape.size() > g.full.size() || broadcast_shapes(both, names, op) != g.full)
    throw std::invalid_argument(op + ": out has shape " + shape_str(out.shape) +
                                ", which does not broadcast to " + shape_str(g.full));
  const std::vector<Shape> sh = {values.shape, detail::upstream_shape(g)};
  std::array<const T*, 2> in = {values.data, grad_out.data};
  detail::launch<E, T, 2>(eng, op, g, sh, in, broadcast_strides(out.shape, g.full), out.data,
                          numel(out.shape), weight, ProductFn{});
}

template <class E, typename T>
void bernoulli_log_prob_backward(const E& eng, const In<T>& x, const In<T>& logits,
                                 const std::vector<std::int64_t>& axes, double weight,
                                 const In<T>& grad_out, const Out<T>& grad_x,
                                 const Out<T>& grad_logits) {
  const std::string op = "bernoulli_log_prob_backward";
  const std::vector<Shape> shapes = {x.shape, logits.shape};
  auto g = detail::geometry(op, shapes, {"x", "logits"}, axes);
  detail::check_shape(op, "grad_out", grad_out.shape, g.out_shape, g.context);
  if (grad_x.data) detail::check_shape(op, "grad_x", grad_x.shape, x.shape, g.context);
  if (grad_logits.data)
    detail::check_shape(op, "grad_logits", grad_logits.shape, logits.shape, g.context);
  const std::vector<Shape> sh = {x.shape, logits.shape, detail::upstream_shape(g)};
  std::array<const T*, 3> in = {x.data, logits.data, grad_out.data};
  if (grad_x.data)
    detail::launch<E, T, 3>(eng, op, g, sh, in, broadcast_strides(x.shape, g.full), grad_x.data,
                            numel(x.shape), weight, bernoulli::LogProbGradFn<0>{});
  if (grad_logits.data)
    detail::launch<E, T, 3>(eng, op, g, sh, in, broadcast_strides(logits.shape, g.full),
                            grad_logits.data, numel(logits.shape), weight,
                            bernoulli::LogProbGradFn<1>{});
}

// --------------------------------------------------------- normal_rsample -----
template <class E, typename T>
void normal_rsample_forward(const E& eng, const In<T>& mean, const In<T>& scale,
                            const In<T>& eps, bool logstd,
                            const std::vector<std::int64_t>& axes, double weight,
                            const Out<T>& z, const Out<T>& log_q) {
  const std::string op = "normal_rsample";
  const std::vector<Shape> shapes = {mean.shape, scale.shape, eps.shape};
  auto g = detail::geometry(op, shapes, {"mean", "scale", "eps"}, axes);
  detail::check_shape(op, "eps", eps.shape, g.full,
                      g.context + "; eps must have the full sample shape");
  detail::check_shape(op, "z", z.shape, g.full, g.context);
  detail::check_shape(op, "log_q", log_q.shape, g.out_shape, g.context);
  detail::check_data(op, "z", z.data, z.shape);
  detail::check_data(op, "log_q", log_q.data, log_q.shape);
  std::array<const T*, 3> in = {mean.data, scale.data, eps.data};
  auto ost = kept_strides(g.full, g.reduced);
  auto zst = broadcast_strides(eps.shape, g.full);
  const std::int64_t n = numel(log_q.shape);
  if (logstd)
    detail::launch<E, T, 3, true>(eng, op, g, shapes, in, ost, log_q.data, n, weight,
                                  normal::RsampleFn<true>{}, z.data, zst);
  else
    detail::launch<E, T, 3, true>(eng, op, g, shapes, in, ost, log_q.data, n, weight,
                                  normal::RsampleFn<false>{}, z.data, zst);
}

namespace detail {
template <class E, typename T, bool kLogStd, bool kGz, bool kGlq>
void rsample_grad_scale(const E& eng, const std::string& op, const Geometry& g,
                        const std::vector<Shape>& sh, const std::array<const T*, 4>& in,
                        double weight, const Out<T>& grad_scale) {
  launch<E, T, 4>(eng, op, g, sh, in, broadcast_strides(sh[0], g.full), grad_scale.data,
                  numel(grad_scale.shape), 1.0,
                  normal::RsampleGradScaleFn<kLogStd, kGz, kGlq>{weight});
}
}  // namespace detail

// grad_z (the shape of eps) and grad_log_q (the reduced shape) may be absent
// (data == nullptr): that output received no gradient.
template <class E, typename T>
void normal_rsample_backward(const E& eng, const In<T>& mean, const In<T>& scale,
                             const In<T>& eps, bool logstd,
                             const std::vector<std::int64_t>& axes, double weight,
                             const In<T>& grad_z, const In<T>& grad_log_q,
                             const Out<T>& grad_mean, const Out<T>& grad_scale) {
  const std::string op = "normal_rsample_backward";
  const std::vector<Shape> shapes = {mean.shape, scale.shape, eps.shape};
  auto g = detail::geometry(op, shapes, {"mean", "scale", "eps"}, axes);
  detail::check_shape(op, "eps", eps.shape, g.full, g.context);
  const bool has_gz = grad_z.data != nullptr;
  const bool has_glq = grad_log_q.data != nullptr;
  if (has_gz) detail::check_shape(op, "grad_z", grad_z.shape, g.full, g.context);
  if (has_glq) detail::check_shape(op, "grad_log_q", grad_log_q.shape, g.out_shape, g.context);
  if (grad_mean.data) detail::check_shape(op, "grad_mean", grad_mean.shape, mean.shape, g.context);
  if (grad_scale.data)
    detail::check_shape(op, "grad_scale", grad_scale.shape, scale.shape, g.context);

  if (grad_mean.data) {
    if (!has_gz) {
      eng.zero(grad_mean.data, numel(mean.shape));
    } else {
      std::array<const T*, 1> in = {grad_z.data};
      const std::vector<Shape> gz_shape = {eps.shape};
      detail::launch<E, T, 1>(eng, op, g, gz_shape, in, broadcast_strides(mean.shape, g.full),
                              grad_mean.data, numel(mean.shape), 1.0,
                              normal::RsampleGradMeanFn{});
    }
  }
  if (!grad_scale.data) return;
  if (!has_gz && !has_glq) {
    eng.zero(grad_scale.data, numel(scale.shape));
    return;
  }
  const Shape gshape = detail::upstream_shape(g);
  // An absent upstream gradient is replaced by a stride-0 read of `scale`
  // (valid memory on either device); the functor ignores its value.
  const Shape one(g.full.size(), 1);
  const std::vector<Shape> sh = {scale.shape, eps.shape, has_gz ? eps.shape : one,
                                 has_glq ? gshape : one};
  std::array<const T*, 4> in = {scale.data, eps.data, has_gz ? grad_z.data : scale.data,
                                has_glq ? grad_log_q.data : scale.data};
  if (logstd) {
    if (has_gz && has_glq)
      detail::rsample_grad_scale<E, T, true, true, true>(eng, op, g, sh, in, weight, grad_scale);
    else if (has_gz)
      detail::rsample_grad_scale<E, T, true, true, false>(eng, op, g, sh, in, weight, grad_scale);
    else
      detail::rsample_grad_scale<E, T, true, false, true>(eng, op, g, sh, in, weight, grad_scale);
  } else {
    if (has_gz && has_glq)
      detail::rsample_grad_scale<E, T, false, true, true>(eng, op, g, sh, in, weight, grad_scale);
    else if (has_gz)
      detail::rsample_grad_scale<E, T, false, true, false>(eng, op, g, sh, in, weight, grad_scale);
    else
      detail::rsample_grad_scale<E, T, false, false, true>(eng, op, g, sh, in, weight, grad_scale);
  }
}


// ------------------------------------------------------ family_log_prob -----
// The generic op of every family in families.h: x and the family's
// parameters broadcast together; out = weight * the log-density summed over
// `axes`. The backward writes g * d/d(operand) summed to each operand's own
// shape, for the gradient outputs given (grads[0] is x's, grads[k + 1] the
// k-th parameter's; data == nullptr skips one).
namespace detail {
template <class F, typename T>
Geometry family_geometry(const std::string& op, const In<T>& x,
                         const std::vector<In<T>>& params,
                         const std::vector<std::int64_t>& axes, std::vector<Shape>& shapes) {
  if (static_cast<int>(params.size()) != F::kParams)
    throw std::invalid_argument(op + ": expected " + std::to_string(F::kParams) +
                                " parameters, got " + std::to_string(params.size()));
  std::vector<std::string> names = {"x"};
  shapes = {x.shape};
  for (int k = 0; k < F::kParams; ++k) {
    names.push_back(F::param(k));
    shapes.push_back(params[k].shape);
  }
  return geometry(op, shapes, names, axes);
}

template <class F, class E, typename T, std::size_t... K>
void family_grads(const E& eng, const std::string& op, const Geometry& g,
                  const std::vector<Shape>& shapes, const std::vector<Shape>& sh,
                  const std::array<const T*, 2 + F::kParams>& in, double weight,
                  const std::vector<Out<T>>& grads, std::index_sequence<K...>) {
  (void)std::initializer_list<int>{
      (grads[K].data
           ? (launch<E, T, 2 + F::kParams>(eng, op, g, sh, in,
                                            broadcast_strides(shapes[K], g.full), grads[K].data,
                                            numel(shapes[K]), weight,
                                            families::GradFn<F, static_cast<int>(K)>{}),
              0)
           : 0)...};
}
}  // namespace detail

template <class F, class E, typename T>
void family_log_prob_forward(const E& eng, const In<T>& x, const std::vector<In<T>>& params,
                             const std::vector<std::int64_t>& axes, double weight,
                             const Out<T>& out) {
  const std::string op = std::string(F::name()) + "_log_prob";
  std::vector<Shape> shapes;
  auto g = detail::family_geometry<F>(op, x, params, axes, shapes);
  detail::check_shape(op, "out", out.shape, g.out_shape, g.context);
  detail::check_data(op, "out", out.data, out.shape);
  std::array<const T*, 1 + F::kParams> in;
  in[0] = x.data;
  for (int k = 0; k < F::kParams; ++k) in[k + 1] = params[k].data;
  detail::launch<E, T, 1 + F::kParams>(eng, op, g, shapes, in,
                                       kept_strides(g.full, g.reduced), out.data,
                                       numel(out.shape), weight, families::LogProbFn<F>{});
}

template <class F, class E, typename T>
void family_log_prob_backward(const E& eng, const In<T>& x, const std::vector<In<T>>& params,
                              const std::vector<std::int64_t>& axes, double weight,
                              const In<T>& grad_out, const std::vector<Out<T>>& grads) {
  const std::string op = std::string(F::name()) + "_log_prob_backward";
  std::vector<Shape> shapes;
  auto g = detail::family_geometry<F>(op, x, params, axes, shapes);
  detail::check_shape(op, "grad_out", grad_out.shape, g.out_shape, g.context);
  if (static_cast<int>(grads.size()) != 1 + F::kParams)
    throw std::invalid_argument(op + ": expected " + std::to_string(1 + F::kParams) +
                                " gradient slots, got " + std::to_string(grads.size()));
  for (int k = 0; k <= F::kParams; ++k)
    if (grads[k].data)
      detail::check_shape(op, "gradient of " + std::string(k ? F::param(k - 1) : "x"),
                          grads[k].shape, shapes[k], g.context);
  // Operands: the upstream gradient (size 1 on the reduced axes), x, params.
  std::vector<Shape> sh = {detail::upstream_shape(g)};
  sh.insert(sh.end(), shapes.begin(), shapes.end());
  std::array<const T*, 2 + F::kParams> in;
  in[0] = grad_out.data;
  in[1] = x.data;
  for (int k = 0; k < F::kParams; ++k) in[k + 2] = params[k].data;
  detail::family_grads<F, E, T>(eng, op, g, shapes, sh, in, weight, grads,
                                std::make_index_sequence<1 + F::kParams>{});
}

// Call fn(F{}) for the family called `name`; std::invalid_argument naming
// the known families otherwise.
template <class Fn>
void with_family(const std::string& name, Fn&& fn) {
#define ZS_FAMILY_CASE(F)                      \
  if (name == families::F::name()) {           \
    fn(families::F{});                         \
    return;                                    \
  }
  ZS_FAMILIES(ZS_FAMILY_CASE)
#undef ZS_FAMILY_CASE
  std::string known;
#define ZS_FAMILY_NAME(F) known += std::string(known.empty() ? "" : ", ") + families::F::name();
  ZS_FAMILIES(ZS_FAMILY_NAME)
#undef ZS_FAMILY_NAME
  throw std::invalid_argument("unknown family '" + name + "'; known: " + known);
}

// Each family's name and parameter names, in ZS_FAMILIES order.
inline std::vector<std::pair<std::string, std::vector<std::string>>> family_table() {
  std::vector<std::pair<std::string, std::vector<std::string>>> t;
#define ZS_FAMILY_ROW(F)                                                  \
  {                                                                       \
    std::vector<std::string> ps;                                          \
    for (int k = 0; k < families::F::kParams; ++k) ps.push_back(families::F::param(k)); \
    t.emplace_back(families::F::name(), ps);                              \
  }
  ZS_FAMILIES(ZS_FAMILY_ROW)
#undef ZS_FAMILY_ROW
  return t;
}

}  // namespace ops
ZHUSUAN_ISA_END
}  // namespace zhusuan
