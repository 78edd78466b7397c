// pybind11 bindings of the fused ops.
//
// Built twice by CMakeLists.txt:
//   * zhusuan._C       (default): the CPU ops on numpy arrays;
//   * zhusuan._C_cuda  (-DZHUSUAN_CUDA_MODULE): the CUDA ops on raw device
//     pointers (e.g. cupy's `a.data.ptr`), launched on a given stream.
// Both check every argument at the boundary (dtype, contiguity, shapes) and
// raise TypeError / ValueError with the actual shapes in the message. The
// outputs are written in place; they are allocated by the caller (Jittor's
// numpy_code hands us its output buffers).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "zhusuan/broadcast.h"
#include "zhusuan/ops_impl.h"  // family_table()

#ifdef ZHUSUAN_CUDA_MODULE
#include "cuda/ops.h"
#define ZHUSUAN_MODULE_NAME _C_cuda
#else
#include "cpu/isa.h"
#include "cpu/ops.h"
#define ZHUSUAN_MODULE_NAME _C
#endif

#ifndef ZHUSUAN_VERSION
#define ZHUSUAN_VERSION "unknown"
#endif

namespace py = pybind11;

namespace zhusuan {
// The optimiser updates (adam_step, sgd_step): csrc/optim_bindings.cpp.
void bind_optim(py::module_& m);
}  // namespace zhusuan

using zhusuan::In;
using zhusuan::Out;
using zhusuan::Shape;
using Axes = std::vector<std::int64_t>;

namespace {

// The math of each op, shared by the docstrings of both modules (macros, so
// that each docstring is one string literal with static storage).
#define ZS_NORMAL_MATH                                                                    \
  "Elementwise log N(x; mean, s) = -((x - mean) / s)^2 / 2 - log s - log(2 pi) / 2 with "  \
  "s = scale, or s = exp(scale) when logstd; x, mean and scale broadcast (numpy rules); "  \
  "the result is summed over `axes` of the broadcast shape F and multiplied by `weight`; " \
  "it has shape F without `axes` ([1] if every axis is reduced). Sums are accumulated in " \
  "double."

#define ZS_BERNOULLI_MATH                                                               \
  "Elementwise log Bernoulli(x; logits l) = x l - softplus(l) (stable softplus); x and " \
  "logits broadcast; summed over `axes` of the broadcast shape F, times `weight`; the "  \
  "result has shape F without `axes` ([1] if every axis is reduced)."

#define ZS_RSAMPLE_MATH                                                                    \
  "Reparameterised Normal sample z = mean + s eps (s = scale, or exp(scale) when logstd) " \
  "and, in the same pass, its log-density -eps^2 / 2 - log s - log(2 pi) / 2 summed over " \
  "`axes` and multiplied by `weight` (log_q). eps has the broadcast shape F of mean, "     \
  "scale and eps; z has shape F; log_q has shape F without `axes` ([1] if all are "        \
  "reduced)."

#define ZS_FAMILY_MATH                                                                  \
  "x and the family's parameters (in the order families() lists them) broadcast (numpy " \
  "rules); the elementwise log-density is summed over `axes` of the broadcast shape F "  \
  "and multiplied by `weight`; the result has shape F without `axes` ([1] if every "     \
  "axis is reduced). Values outside the support give -inf."

enum class DType { kFloat32, kFloat64 };

#ifndef ZHUSUAN_CUDA_MODULE
// ------------------------------------------------------- numpy (CPU) side ----
Shape shape_of(const py::array& a) {
  Shape s;
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s.push_back(static_cast<std::int64_t>(a.shape(i)));
  return s;
}

DType dtype_of(const py::array& a, const std::string& op, const std::string& what) {
  if (a.dtype().is(py::dtype::of<float>())) return DType::kFloat32;
  if (a.dtype().is(py::dtype::of<double>())) return DType::kFloat64;
  throw py::type_error(op + ": " + what + " must be float32 or float64, got " +
                       std::string(py::str(a.dtype())) + " with shape " +
                       zhusuan::shape_str(shape_of(a)));
}

// All arrays of one call: same float dtype, C-contiguous; outputs writeable.
struct Args {
  std::string op;
  std::vector<std::pair<std::string, py::array>> arrays;
  std::vector<bool> is_output;

  void add(const std::string& name, const py::array& a, bool output = false) {
    arrays.emplace_back(name, a);
    is_output.push_back(output);
  }
  void add(const std::string& name, const std::optional<py::array>& a, bool output = false) {
    if (a) add(name, *a, output);
  }

  DType check() const {
    DType dt = dtype_of(arrays.front().second, op, arrays.front().first);
    for (std::size_t i = 0; i < arrays.size(); ++i) {
      const auto& [name, a] = arrays[i];
      DType d = dtype_of(a, op, name);
      if (d != dt) {
        std::string msg = op + ": all arrays must have one dtype; got";
        for (const auto& [n, b] : arrays)
          msg += " " + n + " " + std::string(py::str(b.dtype())) + zhusuan::shape_str(shape_of(b));
        throw py::type_error(msg);
      }
      if (!(a.flags() & py::array::c_style))
        throw py::value_error(op + ": " + name + " (shape " + zhusuan::shape_str(shape_of(a)) +
                              ") must be C-contiguous");
      if (is_output[i] && !a.writeable())
        throw py::value_error(op + ": output " + name + " is not writeable");
    }
    return dt;
  }
};

template <typename T>
In<T> in_view(const py::array& a) {
  return {static_cast<const T*>(a.data()), shape_of(a)};
}

template <typename T>
In<T> in_view(const std::optional<py::array>& a) {
  return a ? in_view<T>(*a) : In<T>{nullptr, {}};
}

template <typename T>
Out<T> out_view(const py::array& a) {
  return {static_cast<T*>(const_cast<void*>(a.data())), shape_of(a)};
}

template <typename T>
Out<T> out_view(const std::optional<py::array>& a) {
  return a ? out_view<T>(*a) : Out<T>{nullptr, {}};
}

// Run fn.template operator()<T>() for the dtype, without the GIL.
template <typename Fn>
void dispatch(DType dt, Fn&& fn) {
  py::gil_scoped_release nogil;
  if (dt == DType::kFloat32)
    fn(float{});
  else
    fn(double{});
}

void normal_log_prob_forward(const py::array& x, const py::array& mean, const py::array& scale,
                             const py::array& out, bool logstd, const Axes& axes,
                             double weight) {
  Args args{"normal_log_prob", {}, {}};
  args.add("x", x);
  args.add("mean", mean);
  args.add("scale", scale);
  args.add("out", out, true);
  dispatch(args.check(), [&](auto t) {
    using T = decltype(t);
    zhusuan::cpu::normal_log_prob_forward<T>(in_view<T>(x), in_view<T>(mean), in_view<T>(scale),
                                             logstd, axes, weight, out_view<T>(out));
  });
}

void normal_log_prob_backward(const py::array& x, const py::array& mean,
                              const py::array& scale, const py::array& grad_out,
                              const std::optional<py::array>& grad_x,
                              const std::optional<py::array>& grad_mean,
                              const std::optional<py::array>& grad_scale, bool logstd,
                              const Axes& axes, double weight) {
  Args args{"normal_log_prob_backward", {}, {}};
  args.add("x", x);
  args.add("mean", mean);
  args.add("scale", scale);
  args.add("grad_out", grad_out);
  args.add("grad_x", grad_x, true);
  args.add("grad_mean", grad_mean, true);
  args.add("grad_scale", grad_scale, true);
  dispatch(args.check(), [&](auto t) {
    using T = decltype(t);
    zhusuan::cpu::normal_log_prob_backward<T>(
        in_view<T>(x), in_view<T>(mean), in_view<T>(scale), logstd, axes, weight,
        in_view<T>(grad_out), out_view<T>(grad_x), out_view<T>(grad_mean),
        out_view<T>(grad_scale));
  });
}

void bernoulli_log_prob_forward(const py::array& x, const py::array& logits,
                                const py::array& out, const Axes& axes, double weight,
                                const std::optional<py::array>& dlogits) {
  Args args{"bernoulli_log_prob", {}, {}};
  args.add("x", x);
  args.add("logits", logits);
  args.add("out", out, true);
  args.add("dlogits", dlogits, true);
  dispatch(args.check(), [&](auto t) {
    using T = decltype(t);
    zhusuan::cpu::bernoulli_log_prob_forward<T>(in_view<T>(x), in_view<T>(logits), axes, weight,
                                                out_view<T>(out), out_view<T>(dlogits));
  });
}

void reduce_product(const py::array& values, const py::array& grad_out, const py::array& out,
                    const Axes& axes, double weight) {
  Args args{"reduce_product", {}, {}};
  args.add("values", values);
  args.add("grad_out", grad_out);
  args.add("out", out, true);
  dispatch(args.check(), [&](auto t) {
    using T = decltype(t);
    zhusuan::cpu::reduce_product<T>(in_view<T>(values), in_view<T>(grad_out), axes, weight,
                                    out_view<T>(out));
  });
}

void bernoulli_log_prob_backward(const py::array& x, const py::array& logits,
                                 const py::array& grad_out,
                                 const std::optional<py::array>& grad_x,
                                 const std::optional<py::array>& grad_logits, const Axes& axes,
                                 double weight) {
  Args args{"bernoulli_log_prob_backward", {}, {}};
  args.add("x", x);
  args.add("logits", logits);
  args.add("grad_out", grad_out);
  args.add("grad_x", grad_x, true);
  args.add("grad_logits", grad_logits, true);
  dispatch(args.check(), [&](auto t) {
    using T = decltype(t);
    zhusuan::cpu::bernoulli_log_prob_backward<T>(in_view<T>(x), in_view<T>(logits), axes,
                                                 weight, in_view<T>(grad_out),
                                                 out_view<T>(grad_x), out_view<T>(grad_logits));
  });
}

void normal_rsample_forward(const py::array& mean, const py::array& scale, const py::array& eps,
                            const py::array& z, const py::array& log_q, bool logstd,
                            const Axes& axes, double weight) {
  Args args{"normal_rsample", {}, {}};
  args.add("mean", mean);
  args.add("scale", scale);
  args.add("eps", eps);
  args.add("z", z, true);
  args.add("log_q", log_q, true);
  dispatch(args.check(), [&](auto t) {
    using T = decltype(t);
    zhusuan::cpu::normal_rsample_forward<T>(in_view<T>(mean), in_view<T>(scale), in_view<T>(eps),
                                            logstd, axes, weight, out_view<T>(z),
                                            out_view<T>(log_q));
  });
}

void normal_rsample_backward(const py::array& mean, const py::array& scale,
                             const py::array& eps, const std::optional<py::array>& grad_z,
                             const std::optional<py::array>& grad_log_q,
                             const std::optional<py::array>& grad_mean,
                             const std::optional<py::array>& grad_scale, bool logstd,
                             const Axes& axes, double weight) {
  Args args{"normal_rsample_backward", {}, {}};
  args.add("mean", mean);
  args.add("scale", scale);
  args.add("eps", eps);
  args.add("grad_z", grad_z);
  args.add("grad_log_q", grad_log_q);
  args.add("grad_mean", grad_mean, true);
  args.add("grad_scale", grad_scale, true);
  dispatch(args.check(), [&](auto t) {
    using T = decltype(t);
    zhusuan::cpu::normal_rsample_backward<T>(
        in_view<T>(mean), in_view<T>(scale), in_view<T>(eps), logstd, axes, weight,
        in_view<T>(grad_z), in_view<T>(grad_log_q), out_view<T>(grad_mean),
        out_view<T>(grad_scale));
  });
}

void family_log_prob_forward(const std::string& family, const py::array& x,
                             const std::vector<py::array>& params, const py::array& out,
                             const Axes& axes, double weight) {
  Args args{family + "_log_prob", {}, {}};
  args.add("x", x);
  for (std::size_t k = 0; k < params.size(); ++k) args.add("params[" + std::to_string(k) + "]", params[k]);
  args.add("out", out, true);
  dispatch(args.check(), [&](auto t) {
    using T = decltype(t);
    std::vector<In<T>> ps;
    for (const auto& p : params) ps.push_back(in_view<T>(p));
    zhusuan::cpu::family_log_prob_forward<T>(family, in_view<T>(x), ps, axes, weight,
                                             out_view<T>(out));
  });
}

void family_log_prob_backward(const std::string& family, const py::array& x,
                              const std::vector<py::array>& params, const py::array& grad_out,
                              const std::vector<std::optional<py::array>>& grads,
                              const Axes& axes, double weight) {
  Args args{family + "_log_prob_backward", {}, {}};
  args.add("x", x);
  for (std::size_t k = 0; k < params.size(); ++k) args.add("params[" + std::to_string(k) + "]", params[k]);
  args.add("grad_out", grad_out);
  for (std::size_t k = 0; k < grads.size(); ++k) args.add("grads[" + std::to_string(k) + "]", grads[k], true);
  dispatch(args.check(), [&](auto t) {
    using T = decltype(t);
    std::vector<In<T>> ps;
    for (const auto& p : params) ps.push_back(in_view<T>(p));
    std::vector<Out<T>> gs;
    for (const auto& g : grads) gs.push_back(out_view<T>(g));
    zhusuan::cpu::family_log_prob_backward<T>(family, in_view<T>(x), ps, axes, weight,
                                              in_view<T>(grad_out), gs);
  });
}

#else
// ------------------------------------------------ device pointers (CUDA) ----
// An array on the device: its address (0 = absent) and shape.
struct DevArray {
  std::uintptr_t ptr;
  Shape shape;
};

template <typename T>
In<T> in_view(const DevArray& a) {
  return {reinterpret_cast<const T*>(a.ptr), a.ptr ? a.shape : Shape{}};
}

template <typename T>
Out<T> out_view(const DevArray& a) {
  return {reinterpret_cast<T*>(a.ptr), a.ptr ? a.shape : Shape{}};
}

DType parse_dtype(const std::string& s, const std::string& op) {
  if (s == "float32") return DType::kFloat32;
  if (s == "float64") return DType::kFloat64;
  throw py::type_error(op + ": dtype must be float32 or float64, got " + s);
}

template <typename Fn>
void dispatch(const std::string& dtype, const std::string& op, Fn&& fn) {
  DType dt = parse_dtype(dtype, op);
  py::gil_scoped_release nogil;
  if (dt == DType::kFloat32)
    fn(float{});
  else
    fn(double{});
}
#endif

}  // namespace

PYBIND11_MODULE(ZHUSUAN_MODULE_NAME, m) {
  m.attr("__version__") = ZHUSUAN_VERSION;
  m.def(
      "families",
      [] {
        py::dict d;
        for (const auto& [name, params] : zhusuan::ops::family_table()) d[py::str(name)] = params;
        return d;
      },
      "The families of family_log_prob_*: {name: [parameter names in order]}.");
#ifndef ZHUSUAN_CUDA_MODULE
  m.doc() =
      "zhusuan's fused probabilistic kernels on the CPU (C++, OpenMP, SIMD).\n\n"
      "Every function takes C-contiguous numpy arrays of one dtype (float32 or float64) and "
      "writes its results into the output arrays it is given. Gradient outputs passed as None "
      "are not computed. Use through zhusuan.kernels (backend 'native'), not directly.";
  m.def("num_threads", &zhusuan::cpu::num_threads,
        "Number of OpenMP threads the kernels use (1 when built without OpenMP).");
#ifdef _OPENMP
  m.attr("openmp") = true;
#else
  m.attr("openmp") = false;
#endif
  // The instruction set of the kernels (cpu/isa.h; docs/design.md, "Building").
  m.def("compiled_isas", &zhusuan::cpu::compiled_isas,
        "The instruction sets the CPU kernels were compiled for, baseline first.");
  m.def("supported_isas", &zhusuan::cpu::supported_isas,
        "Those of compiled_isas() this CPU can run, baseline first.");
  m.def("isa", &zhusuan::cpu::active_isa,
        "The instruction set the CPU kernels run with (by default the best supported).");
  m.def("set_isa", &zhusuan::cpu::set_isa, py::arg("name"),
        "Run the CPU kernels with instruction set `name` (one of supported_isas()) from now "
        "on; ValueError naming `name` otherwise. zhusuan.kernels calls it with $ZHUSUAN_ISA.");

  m.def("normal_log_prob_forward", &normal_log_prob_forward, py::arg("x"), py::arg("mean"),
        py::arg("scale"), py::arg("out"), py::arg("logstd"), py::arg("axes"),
        py::arg("weight"),
        "Normal log-density, reduced, into `out`.\n\n" ZS_NORMAL_MATH);
  m.def("normal_log_prob_backward", &normal_log_prob_backward, py::arg("x"), py::arg("mean"),
        py::arg("scale"), py::arg("grad_out"), py::arg("grad_x"), py::arg("grad_mean"),
        py::arg("grad_scale"), py::arg("logstd"), py::arg("axes"), py::arg("weight"),
        "Gradients of normal_log_prob_forward given grad_out (the shape of its "
                     "output): grad_x, grad_mean and grad_scale (each None, or an array of "
                     "its input's own shape, i.e. summed over the axes that input broadcasts "
                     "along). grad_scale is with respect to scale as given (log s when "
                     "logstd).\n\n" ZS_NORMAL_MATH);
  m.def("bernoulli_log_prob_forward", &bernoulli_log_prob_forward, py::arg("x"),
        py::arg("logits"), py::arg("out"), py::arg("axes"), py::arg("weight"),
        py::arg("dlogits") = py::none(),
        "Bernoulli log-mass, reduced, into `out`; with `dlogits` (an array of the "
        "broadcast shape F) also saves the unweighted derivative x - sigmoid(l) of each "
        "element, so that the backward pass is reduce_product(dlogits, grad_out).\n\n"
        ZS_BERNOULLI_MATH);
  m.def("reduce_product", &reduce_product, py::arg("values"), py::arg("grad_out"),
        py::arg("out"), py::arg("axes"), py::arg("weight"),
        "Backward pass from a saved derivative: out = weight * sum of values * grad_out, "
        "where `values` has the broadcast shape F, `grad_out` the forward's reduced shape "
        "(F without `axes`), and `out` an input's shape (the sum runs over the axes of F "
        "along which it broadcasts).");
  m.def("bernoulli_log_prob_backward", &bernoulli_log_prob_backward, py::arg("x"),
        py::arg("logits"), py::arg("grad_out"), py::arg("grad_x"), py::arg("grad_logits"),
        py::arg("axes"), py::arg("weight"),
        "Gradients of bernoulli_log_prob_forward given grad_out: grad_x = "
                     "sum g l and grad_logits = sum g (x - sigmoid(l)), each None or of its "
                     "input's shape.\n\n" ZS_BERNOULLI_MATH);
  m.def("normal_rsample_forward", &normal_rsample_forward, py::arg("mean"), py::arg("scale"),
        py::arg("eps"), py::arg("z"), py::arg("log_q"), py::arg("logstd"), py::arg("axes"),
        py::arg("weight"),
        "Fused reparameterised sample and log-density into `z` and `log_q`.\n\n" ZS_RSAMPLE_MATH);
  m.def("normal_rsample_backward", &normal_rsample_backward, py::arg("mean"), py::arg("scale"),
        py::arg("eps"), py::arg("grad_z"), py::arg("grad_log_q"), py::arg("grad_mean"),
        py::arg("grad_scale"), py::arg("logstd"), py::arg("axes"), py::arg("weight"),
        "Gradients of normal_rsample_forward given grad_z and grad_log_q (either "
                     "may be None: no gradient reached that output): grad_mean = sum grad_z, "
                     "grad_scale = sum grad_z eps (times s when logstd) - weight * grad_log_q "
                     "/ s (or - weight * grad_log_q when logstd), each summed to its input's "
                     "shape. eps gets no gradient.\n\n" ZS_RSAMPLE_MATH);
  m.def("family_log_prob_forward", &family_log_prob_forward, py::arg("family"), py::arg("x"),
        py::arg("params"), py::arg("out"), py::arg("axes"), py::arg("weight"),
        "Log-density of a family of zhusuan/families.h (see families()), reduced, into "
        "`out`.\n\n" ZS_FAMILY_MATH);
  m.def("family_log_prob_backward", &family_log_prob_backward, py::arg("family"), py::arg("x"),
        py::arg("params"), py::arg("grad_out"), py::arg("grads"), py::arg("axes"),
        py::arg("weight"),
        "Gradients of family_log_prob_forward given grad_out: grads[0] for x, grads[k + 1] "
        "for params[k], each None or an array of its input's own shape.\n\n" ZS_FAMILY_MATH);
#else
  m.doc() =
      "zhusuan's fused probabilistic kernels on CUDA.\n\n"
      "Arrays are passed as (device pointer, shape) pairs, e.g. (a.data.ptr, a.shape) for a "
      "cupy array, all of one dtype given by name; a pointer of 0 means absent. Kernels are "
      "launched on `stream` (a cudaStream_t as an int; 0 is the default stream) and checked "
      "for launch errors. Use through zhusuan.kernels (backend 'native'), not directly.";
  py::class_<DevArray>(m, "DevArray", "A device array: pointer (int) and shape.")
      .def(py::init<std::uintptr_t, Shape>(), py::arg("ptr"), py::arg("shape"))
      .def_readonly("ptr", &DevArray::ptr)
      .def_readonly("shape", &DevArray::shape);
  m.def("device_count", &zhusuan::cuda::device_count,
        "Number of CUDA devices visible (0 when there is no driver or device).");

  m.def(
      "normal_log_prob_forward",
      [](const DevArray& x, const DevArray& mean, const DevArray& scale, const DevArray& out,
         bool logstd, const Axes& axes, double weight, const std::string& dtype,
         std::uintptr_t stream) {
        dispatch(dtype, "normal_log_prob", [&](auto t) {
          using T = decltype(t);
          zhusuan::cuda::normal_log_prob_forward<T>(in_view<T>(x), in_view<T>(mean),
                                                    in_view<T>(scale), logstd, axes, weight,
                                                    out_view<T>(out), stream);
        });
      },
      py::arg("x"), py::arg("mean"), py::arg("scale"), py::arg("out"), py::arg("logstd"),
      py::arg("axes"), py::arg("weight"), py::arg("dtype"), py::arg("stream") = 0,
      "Normal log-density on the device.\n\n" ZS_NORMAL_MATH);
  m.def(
      "normal_log_prob_backward",
      [](const DevArray& x, const DevArray& mean, const DevArray& scale,
         const DevArray& grad_out, const DevArray& grad_x, const DevArray& grad_mean,
         const DevArray& grad_scale, bool logstd, const Axes& axes, double weight,
         const std::string& dtype, std::uintptr_t stream) {
        dispatch(dtype, "normal_log_prob_backward", [&](auto t) {
          using T = decltype(t);
          zhusuan::cuda::normal_log_prob_backward<T>(
              in_view<T>(x), in_view<T>(mean), in_view<T>(scale), logstd, axes, weight,
              in_view<T>(grad_out), out_view<T>(grad_x), out_view<T>(grad_mean),
              out_view<T>(grad_scale), stream);
        });
      },
      py::arg("x"), py::arg("mean"), py::arg("scale"), py::arg("grad_out"), py::arg("grad_x"),
      py::arg("grad_mean"), py::arg("grad_scale"), py::arg("logstd"), py::arg("axes"),
      py::arg("weight"), py::arg("dtype"), py::arg("stream") = 0,
      "Gradients of normal_log_prob_forward on the device (absent outputs: "
                   "pointer 0).\n\n" ZS_NORMAL_MATH);
  m.def(
      "bernoulli_log_prob_forward",
      [](const DevArray& x, const DevArray& logits, const DevArray& out, const Axes& axes,
         double weight, const std::string& dtype, std::uintptr_t stream,
         const DevArray& dlogits) {
        dispatch(dtype, "bernoulli_log_prob", [&](auto t) {
          using T = decltype(t);
          zhusuan::cuda::bernoulli_log_prob_forward<T>(in_view<T>(x), in_view<T>(logits), axes,
                                                       weight, out_view<T>(out),
                                                       out_view<T>(dlogits), stream);
        });
      },
      py::arg("x"), py::arg("logits"), py::arg("out"), py::arg("axes"), py::arg("weight"),
      py::arg("dtype"), py::arg("stream") = 0, py::arg("dlogits") = DevArray{0, {}},
      "Bernoulli log-mass on the device (optionally saving d/dlogits, see _C).\n\n"
      ZS_BERNOULLI_MATH);
  m.def(
      "reduce_product",
      [](const DevArray& values, const DevArray& grad_out, const DevArray& out,
         const Axes& axes, double weight, const std::string& dtype, std::uintptr_t stream) {
        dispatch(dtype, "reduce_product", [&](auto t) {
          using T = decltype(t);
          zhusuan::cuda::reduce_product<T>(in_view<T>(values), in_view<T>(grad_out), axes,
                                           weight, out_view<T>(out), stream);
        });
      },
      py::arg("values"), py::arg("grad_out"), py::arg("out"), py::arg("axes"),
      py::arg("weight"), py::arg("dtype"), py::arg("stream") = 0,
      "Backward pass from a saved derivative on the device (see _C.reduce_product).");
  m.def(
      "bernoulli_log_prob_backward",
      [](const DevArray& x, const DevArray& logits, const DevArray& grad_out,
         const DevArray& grad_x, const DevArray& grad_logits, const Axes& axes, double weight,
         const std::string& dtype, std::uintptr_t stream) {
        dispatch(dtype, "bernoulli_log_prob_backward", [&](auto t) {
          using T = decltype(t);
          zhusuan::cuda::bernoulli_log_prob_backward<T>(
              in_view<T>(x), in_view<T>(logits), axes, weight, in_view<T>(grad_out),
              out_view<T>(grad_x), out_view<T>(grad_logits), stream);
        });
      },
      py::arg("x"), py::arg("logits"), py::arg("grad_out"), py::arg("grad_x"),
      py::arg("grad_logits"), py::arg("axes"), py::arg("weight"), py::arg("dtype"),
      py::arg("stream") = 0,
      "Gradients of bernoulli_log_prob_forward on the device.\n\n" ZS_BERNOULLI_MATH);
  m.def(
      "normal_rsample_forward",
      [](const DevArray& mean, const DevArray& scale, const DevArray& eps, const DevArray& z,
         const DevArray& log_q, bool logstd, const Axes& axes, double weight,
         const std::string& dtype, std::uintptr_t stream) {
        dispatch(dtype, "normal_rsample", [&](auto t) {
          using T = decltype(t);
          zhusuan::cuda::normal_rsample_forward<T>(in_view<T>(mean), in_view<T>(scale),
                                                   in_view<T>(eps), logstd, axes, weight,
                                                   out_view<T>(z), out_view<T>(log_q), stream);
        });
      },
      py::arg("mean"), py::arg("scale"), py::arg("eps"), py::arg("z"), py::arg("log_q"),
      py::arg("logstd"), py::arg("axes"), py::arg("weight"), py::arg("dtype"),
      py::arg("stream") = 0,
      "Fused reparameterised sample and log-density on the device.\n\n" ZS_RSAMPLE_MATH);
  m.def(
      "normal_rsample_backward",
      [](const DevArray& mean, const DevArray& scale, const DevArray& eps,
         const DevArray& grad_z, const DevArray& grad_log_q, const DevArray& grad_mean,
         const DevArray& grad_scale, bool logstd, const Axes& axes, double weight,
         const std::string& dtype, std::uintptr_t stream) {
        dispatch(dtype, "normal_rsample_backward", [&](auto t) {
          using T = decltype(t);
          zhusuan::cuda::normal_rsample_backward<T>(
              in_view<T>(mean), in_view<T>(scale), in_view<T>(eps), logstd, axes, weight,
              in_view<T>(grad_z), in_view<T>(grad_log_q), out_view<T>(grad_mean),
              out_view<T>(grad_scale), stream);
        });
      },
      py::arg("mean"), py::arg("scale"), py::arg("eps"), py::arg("grad_z"),
      py::arg("grad_log_q"), py::arg("grad_mean"), py::arg("grad_scale"), py::arg("logstd"),
      py::arg("axes"), py::arg("weight"), py::arg("dtype"), py::arg("stream") = 0,
      "Gradients of normal_rsample_forward on the device.\n\n" ZS_RSAMPLE_MATH);
  m.def(
      "family_log_prob_forward",
      [](const std::string& family, const DevArray& x, const std::vector<DevArray>& params,
         const DevArray& out, const Axes& axes, double weight, const std::string& dtype,
         std::uintptr_t stream) {
        dispatch(dtype, family + "_log_prob", [&](auto t) {
          using T = decltype(t);
          std::vector<In<T>> ps;
          for (const auto& p : params) ps.push_back(in_view<T>(p));
          zhusuan::cuda::family_log_prob_forward<T>(family, in_view<T>(x), ps, axes, weight,
                                                    out_view<T>(out), stream);
        });
      },
      py::arg("family"), py::arg("x"), py::arg("params"), py::arg("out"), py::arg("axes"),
      py::arg("weight"), py::arg("dtype"), py::arg("stream") = 0,
      "Log-density of a family on the device.\n\n" ZS_FAMILY_MATH);
  m.def(
      "family_log_prob_backward",
      [](const std::string& family, const DevArray& x, const std::vector<DevArray>& params,
         const DevArray& grad_out, const std::vector<DevArray>& grads, const Axes& axes,
         double weight, const std::string& dtype, std::uintptr_t stream) {
        dispatch(dtype, family + "_log_prob_backward", [&](auto t) {
          using T = decltype(t);
          std::vector<In<T>> ps;
          for (const auto& p : params) ps.push_back(in_view<T>(p));
          std::vector<Out<T>> gs;
          for (const auto& g : grads) gs.push_back(out_view<T>(g));
          zhusuan::cuda::family_log_prob_backward<T>(family, in_view<T>(x), ps, axes, weight,
                                                     in_view<T>(grad_out), gs, stream);
        });
      },
      py::arg("family"), py::arg("x"), py::arg("params"), py::arg("grad_out"), py::arg("grads"),
      py::arg("axes"), py::arg("weight"), py::arg("dtype"), py::arg("stream") = 0,
      "Gradients of family_log_prob_forward on the device (absent outputs: pointer 0).\n\n"
      ZS_FAMILY_MATH);
#endif
  zhusuan::bind_optim(m);
}
