// pybind11 bindings of the optimiser updates (zhusuan/optim.h), registered
// into zhusuan._C (numpy arrays, CPU) or, compiled with ZHUSUAN_CUDA_MODULE,
// into zhusuan._C_cuda (device pointers) by bind_optim(), which
// csrc/bindings.cpp calls. Every function updates its arrays in place and
// checks them at the boundary first: one float dtype for the whole call,
// C-contiguous arrays, the same size within each tensor's group, writeable
// outputs, and no two outputs (nor an output and a gradient) overlapping in
// memory, since the tensors are updated concurrently.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "zhusuan/broadcast.h"  // shape_str
#include "zhusuan/optim.h"

#ifdef ZHUSUAN_CUDA_MODULE
#include "cuda/optim.h"
#else
#include "cpu/optim.h"
#endif

namespace py = pybind11;

namespace zhusuan {
namespace {

#define ZS_ADAM_DOC                                                                        \
  "Adam (Kingma & Ba 2015) as jt.optim.Adam computes it, in place, over every tensor in " \
  "one pass: d = g + wd p; m = b1 m + (1 - b1) d; v = b2 v + (1 - b2) d^2; p = p - "      \
  "step_size m / (sqrt(v) + eps). coefs: float64 [n, 7] rows (beta1, 1 - beta1, beta2, "  \
  "1 - beta2, eps, weight_decay, step_size), each rounded once to the arrays' dtype; "   \
  "step_size = lr sqrt(1 - beta2^t) / (1 - beta1^t) is the caller's."

#define ZS_SGD_DOC                                                                         \
  "SGD with momentum as jt.optim.SGD computes it, in place, over every tensor in one "    \
  "pass: d = g + wd p; b = momentum b + (1 - dampening) d; p = p - lr b (nesterov: p - "  \
  "lr (d + momentum b)). coefs: float64 [n, 5] rows (lr, momentum, 1 - dampening, "      \
  "weight_decay, nesterov as 0 or 1)."

enum class DType { kFloat32, kFloat64 };

// Byte ranges written (or read, for gradients) by one call: no written range
// may overlap another range.
struct Range {
  std::uintptr_t begin, end;
  std::string name;
  bool written;
};

void check_no_overlap(std::vector<Range> ranges, const std::string& op) {
  ranges.erase(std::remove_if(ranges.begin(), ranges.end(),
                              [](const Range& r) { return r.begin == r.end; }),
               ranges.end());
  std::sort(ranges.begin(), ranges.end(),
            [](const Range& a, const Range& b) { return a.begin < b.begin; });
  // Sorted by start, range i overlaps an earlier range iff it starts before
  // the furthest end so far; that is an error when either range is written.
  std::size_t far_all = 0, far_written = ranges.size();
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    const Range& r = ranges[i];
    std::size_t hit = ranges.size();
    if (i > 0 && r.written && r.begin < ranges[far_all].end)
      hit = far_all;
    else if (far_written < ranges.size() && r.begin < ranges[far_written].end)
      hit = far_written;
    if (hit < ranges.size())
      throw py::value_error(op + ": " + ranges[hit].name + " and " + r.name +
                            " share memory (a parameter listed twice, or a state array "
                            "aliasing another); each tensor must be distinct");
    if (i == 0 || r.end > ranges[far_all].end) far_all = i;
    if (r.written && (far_written == ranges.size() || r.end > ranges[far_written].end))
      far_written = i;
  }
}

// The arrays of one call: names[a] the role of array list a (e.g. "params"),
// lists[a][t] tensor t's array; coefs [n, ncoef].
struct Checked {
  DType dtype = DType::kFloat32;
  std::vector<std::vector<std::uintptr_t>> ptrs;  // [role][tensor]
  std::vector<std::int64_t> sizes;
  std::vector<double> coefs;
};

std::vector<double> check_coefs(const py::array_t<double, py::array::forcecast>& coefs,
                                std::size_t n, int ncoef, const std::string& op) {
  if (coefs.ndim() != 2 || static_cast<std::size_t>(coefs.shape(0)) != n ||
      coefs.shape(1) != ncoef)
    throw py::value_error(op + ": coefs must have shape [" + std::to_string(n) + ", " +
                          std::to_string(ncoef) + "], got " +
                          shape_str(Shape(coefs.shape(), coefs.shape() + coefs.ndim())));
  auto c = coefs.unchecked<2>();
  std::vector<double> out;
  out.reserve(n * ncoef);
  for (std::size_t t = 0; t < n; ++t)
    for (int k = 0; k < ncoef; ++k) out.push_back(c(t, k));
  return out;
}

#ifndef ZHUSUAN_CUDA_MODULE
// ------------------------------------------------------- numpy (CPU) side ----
Shape shape_of(const py::array& a) {
  Shape s;
  for (py::ssize_t i = 0; i < a.ndim(); ++i) s.push_back(static_cast<std::int64_t>(a.shape(i)));
  return s;
}

Checked check_arrays(const std::string& op, const std::vector<std::string>& names,
                     const std::vector<bool>& written,
                     const std::vector<const std::vector<py::array>*>& lists,
                     const py::array_t<double, py::array::forcecast>& coefs, int ncoef) {
  const std::size_t n = lists[0]->size();
  for (std::size_t a = 1; a < lists.size(); ++a)
    if (lists[a]->size() != n)
      throw py::value_error(op + ": " + names[a] + " has " + std::to_string(lists[a]->size()) +
                            " arrays but " + names[0] + " has " + std::to_string(n));
  Checked c;
  c.coefs = check_coefs(coefs, n, ncoef, op);
  c.ptrs.assign(lists.size(), std::vector<std::uintptr_t>(n));
  c.sizes.resize(n);
  std::vector<Range> ranges;
  bool first = true;
  for (std::size_t t = 0; t < n; ++t) {
    const py::array& p0 = (*lists[0])[t];
    for (std::size_t a = 0; a < lists.size(); ++a) {
      const py::array& x = (*lists[a])[t];
      const std::string what = names[a] + "[" + std::to_string(t) + "]";
      DType d;
      if (x.dtype().is(py::dtype::of<float>()))
        d = DType::kFloat32;
      else if (x.dtype().is(py::dtype::of<double>()))
        d = DType::kFloat64;
      else
        throw py::type_error(op + ": " + what + " must be float32 or float64, got " +
                             std::string(py::str(x.dtype())));
      if (first) {
        c.dtype = d;
        first = false;
      } else if (d != c.dtype) {
        throw py::type_error(op + ": all arrays of one call must have one dtype; " + what +
                             " is " + std::string(py::str(x.dtype())) + ", " + names[0] +
                             "[0] is " + std::string(py::str((*lists[0])[0].dtype())));
      }
      if (shape_of(x) != shape_of(p0))
        throw py::value_error(op + ": " + what + " has shape " + shape_str(shape_of(x)) +
                              " but " + names[0] + "[" + std::to_string(t) + "] has " +
                              shape_str(shape_of(p0)));
      if (!(x.flags() & py::array::c_style))
        throw py::value_error(op + ": " + what + " (shape " + shape_str(shape_of(x)) +
                              ") must be C-contiguous");
      if (written[a] && !x.writeable())
        throw py::value_error(op + ": " + what + " is not writeable");
      const auto b = reinterpret_cast<std::uintptr_t>(x.data());
      c.ptrs[a][t] = b;
      ranges.push_back({b, b + static_cast<std::uintptr_t>(x.nbytes()), what, written[a]});
    }
    c.sizes[t] = static_cast<std::int64_t>(p0.size());
  }
  check_no_overlap(std::move(ranges), op);
  return c;
}

template <typename T>
std::vector<T*> as(const std::vector<std::uintptr_t>& v) {
  std::vector<T*> out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) out[i] = reinterpret_cast<T*>(v[i]);
  return out;
}

template <typename T>
void run_adam(const Checked& c) {
  auto p = as<T>(c.ptrs[0]), g = as<T>(c.ptrs[1]), m = as<T>(c.ptrs[2]), v = as<T>(c.ptrs[3]);
  std::vector<const T*> gc(g.begin(), g.end());
  py::gil_scoped_release nogil;
  cpu::adam_step<T>(p.data(), gc.data(), m.data(), v.data(), c.sizes.data(), c.coefs.data(),
                    static_cast<int>(c.sizes.size()));
}

template <typename T>
void run_sgd(const Checked& c) {
  auto p = as<T>(c.ptrs[0]), g = as<T>(c.ptrs[1]), b = as<T>(c.ptrs[2]);
  std::vector<const T*> gc(g.begin(), g.end());
  py::gil_scoped_release nogil;
  cpu::sgd_step<T>(p.data(), gc.data(), b.data(), c.sizes.data(), c.coefs.data(),
                   static_cast<int>(c.sizes.size()));
}

void adam_step(const std::vector<py::array>& params, const std::vector<py::array>& grads,
               const std::vector<py::array>& exp_avg, const std::vector<py::array>& exp_avg_sq,
               const py::array_t<double, py::array::forcecast>& coefs) {
  Checked c = check_arrays("adam_step", {"params", "grads", "exp_avg", "exp_avg_sq"},
                           {true, false, true, true}, {&params, &grads, &exp_avg, &exp_avg_sq},
                           coefs, optim::kAdamCoefs);
  if (c.dtype == DType::kFloat32)
    run_adam<float>(c);
  else
    run_adam<double>(c);
}

void sgd_step(const std::vector<py::array>& params, const std::vector<py::array>& grads,
              const std::vector<py::array>& momentum_buffers,
              const py::array_t<double, py::array::forcecast>& coefs) {
  Checked c = check_arrays("sgd_step", {"params", "grads", "momentum_buffers"},
                           {true, false, true}, {&params, &grads, &momentum_buffers}, coefs,
                           optim::kSgdCoefs);
  if (c.dtype == DType::kFloat32)
    run_sgd<float>(c);
  else
    run_sgd<double>(c);
}

#else
// ------------------------------------------------ device pointers (CUDA) ----
// (pointer, number of elements) of a device array; pointer 0 only when empty.
using DevBuf = std::pair<std::uintptr_t, std::int64_t>;

DType parse_dtype(const std::string& s, const std::string& op) {
  if (s == "float32") return DType::kFloat32;
  if (s == "float64") return DType::kFloat64;
  throw py::type_error(op + ": dtype must be float32 or float64, got " + s);
}

Checked check_device(const std::string& op, const std::vector<std::string>& names,
                     const std::vector<bool>& written,
                     const std::vector<const std::vector<DevBuf>*>& lists,
                     const py::array_t<double, py::array::forcecast>& coefs, int ncoef,
                     const std::string& dtype) {
  const std::size_t n = lists[0]->size();
  for (std::size_t a = 1; a < lists.size(); ++a)
    if (lists[a]->size() != n)
      throw py::value_error(op + ": " + names[a] + " has " + std::to_string(lists[a]->size()) +
                            " arrays but " + names[0] + " has " + std::to_string(n));
  Checked c;
  c.dtype = parse_dtype(dtype, op);
  const std::uintptr_t es = c.dtype == DType::kFloat32 ? 4 : 8;
  c.coefs = check_coefs(coefs, n, ncoef, op);
  c.ptrs.assign(lists.size(), std::vector<std::uintptr_t>(n));
  c.sizes.resize(n);
  std::vector<Range> ranges;
  for (std::size_t t = 0; t < n; ++t) {
    const std::int64_t size = (*lists[0])[t].second;
    for (std::size_t a = 0; a < lists.size(); ++a) {
      const DevBuf& x = (*lists[a])[t];
      const std::string what = names[a] + "[" + std::to_string(t) + "]";
      if (x.second != size)
        throw py::value_error(op + ": " + what + " has " + std::to_string(x.second) +
                              " elements but " + names[0] + "[" + std::to_string(t) +
                              "] has " + std::to_string(size));
      if (size > 0 && x.first == 0) throw py::value_error(op + ": " + what + " is a null pointer");
      c.ptrs[a][t] = x.first;
      ranges.push_back({x.first, x.first + es * static_cast<std::uintptr_t>(size), what,
                        written[a]});
    }
    c.sizes[t] = size;
  }
  check_no_overlap(std::move(ranges), op);
  return c;
}

template <typename T>
std::vector<T*> as(const std::vector<std::uintptr_t>& v) {
  std::vector<T*> out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) out[i] = reinterpret_cast<T*>(v[i]);
  return out;
}

void adam_step(const std::vector<DevBuf>& params, const std::vector<DevBuf>& grads,
               const std::vector<DevBuf>& exp_avg, const std::vector<DevBuf>& exp_avg_sq,
               const py::array_t<double, py::array::forcecast>& coefs,
               const std::string& dtype, std::uintptr_t stream) {
  Checked c = check_device("adam_step", {"params", "grads", "exp_avg", "exp_avg_sq"},
                           {true, false, true, true}, {&params, &grads, &exp_avg, &exp_avg_sq},
                           coefs, optim::kAdamCoefs, dtype);
  auto run = [&](auto t) {
    using T = decltype(t);
    auto p = as<T>(c.ptrs[0]), g = as<T>(c.ptrs[1]), m = as<T>(c.ptrs[2]),
         v = as<T>(c.ptrs[3]);
    std::vector<const T*> gc(g.begin(), g.end());
    py::gil_scoped_release nogil;
    cuda::adam_step<T>(p.data(), gc.data(), m.data(), v.data(), c.sizes.data(),
                       c.coefs.data(), static_cast<int>(c.sizes.size()), stream);
  };
  if (c.dtype == DType::kFloat32)
    run(float{});
  else
    run(double{});
}

void sgd_step(const std::vector<DevBuf>& params, const std::vector<DevBuf>& grads,
              const std::vector<DevBuf>& momentum_buffers,
              const py::array_t<double, py::array::forcecast>& coefs,
              const std::string& dtype, std::uintptr_t stream) {
  Checked c = check_device("sgd_step", {"params", "grads", "momentum_buffers"},
                           {true, false, true}, {&params, &grads, &momentum_buffers}, coefs,
                           optim::kSgdCoefs, dtype);
  auto run = [&](auto t) {
    using T = decltype(t);
    auto p = as<T>(c.ptrs[0]), g = as<T>(c.ptrs[1]), b = as<T>(c.ptrs[2]);
    std::vector<const T*> gc(g.begin(), g.end());
    py::gil_scoped_release nogil;
    cuda::sgd_step<T>(p.data(), gc.data(), b.data(), c.sizes.data(), c.coefs.data(),
                      static_cast<int>(c.sizes.size()), stream);
  };
  if (c.dtype == DType::kFloat32)
    run(float{});
  else
    run(double{});
}
#endif

}  // namespace

void bind_optim(py::module_& m) {
#ifndef ZHUSUAN_CUDA_MODULE
  m.def("adam_step", &adam_step, py::arg("params"), py::arg("grads"), py::arg("exp_avg"),
        py::arg("exp_avg_sq"), py::arg("coefs"),
        "In place, on C-contiguous numpy arrays of one dtype (float32 or float64), one list "
        "entry per tensor. " ZS_ADAM_DOC);
  m.def("sgd_step", &sgd_step, py::arg("params"), py::arg("grads"),
        py::arg("momentum_buffers"), py::arg("coefs"),
        "In place, on C-contiguous numpy arrays of one dtype (float32 or float64), one list "
        "entry per tensor. " ZS_SGD_DOC);
#else
  m.def("adam_step", &adam_step, py::arg("params"), py::arg("grads"), py::arg("exp_avg"),
        py::arg("exp_avg_sq"), py::arg("coefs"), py::arg("dtype"), py::arg("stream") = 0,
        "In place on the device; each array is (pointer, number of elements), all of "
        "`dtype`; launched on `stream`. " ZS_ADAM_DOC);
  m.def("sgd_step", &sgd_step, py::arg("params"), py::arg("grads"),
        py::arg("momentum_buffers"), py::arg("coefs"), py::arg("dtype"),
        py::arg("stream") = 0,
        "In place on the device; each array is (pointer, number of elements), all of "
        "`dtype`; launched on `stream`. " ZS_SGD_DOC);
#endif
}

}  // namespace zhusuan
