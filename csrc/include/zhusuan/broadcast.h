// Shape arithmetic shared by the CPU and CUDA launchers (host code only):
// numpy broadcasting, reduction axes, and the loop plan every kernel walks.
//
// A kernel maps a functor over the broadcast shape F of its operands and
// sums the results into an output that keeps some axes of F. Everything is
// described by element strides over F:
//   * an operand's stride is 0 along an axis where it broadcasts (size 1 or
//     missing), so a parameter broadcast along the batch is read in place;
//   * the output's stride is 0 along every reduced axis.
// make_plan() drops axes of size 1 and merges neighbouring axes that every
// slot walks contiguously, so the common cases become one or two loops.
#pragma once

#include <array>
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "isa_namespace.h"

namespace zhusuan {

using Shape = std::vector<std::int64_t>;

// Read-only and writable views of a contiguous row-major array.
template <typename T>
struct In {
  const T* data;
  Shape shape;
};

template <typename T>
struct Out {
  T* data;  // nullptr: this output is not wanted
  Shape shape;
};

// The types above are the interface between the bindings and the kernels of
// every instruction set, so they stay outside the per-ISA namespace; the
// functions below go inside it (isa_namespace.h).
ZHUSUAN_ISA_BEGIN

inline std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << '[';
  for (std::size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << ']';
  return os.str();
}

inline std::int64_t numel(const Shape& s) {
  std::int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}

// Numpy broadcasting; names[i] labels shapes[i] in the error message.
inline Shape broadcast_shapes(const std::vector<Shape>& shapes,
                              const std::vector<std::string>& names,
                              const std::string& op) {
  std::size_t rank = 0;
  for (const auto& s : shapes) rank = s.size() > rank ? s.size() : rank;
  Shape out(rank, 1);
  for (std::size_t i = 0; i < rank; ++i) {
    for (const auto& s : shapes) {
      if (i + s.size() < rank) continue;
      std::int64_t d = s[i + s.size() - rank];
      if (d < 0) throw std::invalid_argument(op + ": negative dimension");
      if (d == 1) continue;
      if (out[i] != 1 && out[i] != d) {
        std::ostringstream os;
        os << op << ": shapes do not broadcast:";
        for (std::size_t k = 0; k < shapes.size(); ++k)
          os << (k ? ", " : " ") << names[k] << ' ' << shape_str(shapes[k]);
        throw std::invalid_argument(os.str());
      }
      out[i] = d;
    }
  }
  return out;
}

// Sorted, distinct, non-negative axes; throws on out-of-range axes.
inline std::vector<std::int64_t> normalize_axes(const std::vector<std::int64_t>& axes,
                                                std::size_t rank, const std::string& op) {
  std::vector<bool> seen(rank, false);
  const auto r = static_cast<std::int64_t>(rank);
  for (auto a : axes) {
    if (a < -r || a >= r) {
      std::ostringstream os;
      os << op << ": axis " << a << " is out of range for the broadcast shape of rank "
         << rank;
      throw std::invalid_argument(os.str());
    }
    seen[static_cast<std::size_t>((a + r) % (r ? r : 1))] = true;
  }
  std::vector<std::int64_t> out;
  for (std::size_t i = 0; i < rank; ++i)
    if (seen[i]) out.push_back(static_cast<std::int64_t>(i));
  return out;
}

inline std::vector<bool> axes_mask(const std::vector<std::int64_t>& axes, std::size_t rank) {
  std::vector<bool> m(rank, false);
  for (auto a : axes) m[static_cast<std::size_t>(a)] = true;
  return m;
}

// The broadcast shape without the reduced axes; [1] when nothing is left
// (Jittor's fully reduced values have shape [1]).
inline Shape reduced_shape(const Shape& full, const std::vector<bool>& reduced) {
  Shape out;
  for (std::size_t i = 0; i < full.size(); ++i)
    if (!reduced[i]) out.push_back(full[i]);
  if (out.empty()) out.push_back(1);
  return out;
}

// Element strides over `full` of a contiguous array of shape `s`
// (right-aligned); 0 where it broadcasts.
inline std::vector<std::int64_t> broadcast_strides(const Shape& s, const Shape& full) {
  std::vector<std::int64_t> st(full.size(), 0);
  std::int64_t acc = 1;
  for (std::size_t j = s.size(); j-- > 0;) {
    std::size_t i = j + full.size() - s.size();
    st[i] = (s[j] == 1) ? 0 : acc;
    acc *= s[j];
  }
  return st;
}

// Strides of the output: row-major over the kept axes, 0 on reduced ones.
inline std::vector<std::int64_t> kept_strides(const Shape& full,
                                              const std::vector<bool>& reduced) {
  std::vector<std::int64_t> st(full.size(), 0);
  std::int64_t acc = 1;
  for (std::size_t i = full.size(); i-- > 0;) {
    if (reduced[i] || full[i] == 1) continue;
    st[i] = acc;
    acc *= full[i];
  }
  return st;
}

// The loop plan: at most kMaxDims axes after merging. NS slots: the inputs,
// then the output, then the optional elementwise side output.
constexpr int kMaxDims = 10;

template <int NS>
struct Plan {
  int ndim = 0;
  std::int64_t size[kMaxDims] = {};
  std::int64_t stride[NS][kMaxDims] = {};
  std::int64_t total = 1;  // product of sizes (0: empty iteration)
  std::int64_t n_out = 1;  // product of the sizes the output keeps
};

template <int NS>
Plan<NS> make_plan(const Shape& full, const std::array<std::vector<std::int64_t>, NS>& st,
                   const std::string& op) {
  Plan<NS> p;
  // An axis of size 0 makes the iteration empty: the launchers then only
  // zero the output (a sum over nothing), so no plan is needed.
  for (auto d : full) p.total *= d;
  if (p.total == 0) return p;
  std::vector<std::size_t> keep;
  for (std::size_t i = 0; i < full.size(); ++i)
    if (full[i] != 1) keep.push_back(i);
  // Merge axis i into the previous kept axis j when every slot has
  // stride[j] == stride[i] * size[i] (this also requires the output to keep
  // or reduce both).
  std::vector<std::int64_t> sizes;
  std::vector<std::array<std::int64_t, NS>> strides;
  for (std::size_t i : keep) {
    if (!sizes.empty()) {
      bool merge = true;
      for (int s = 0; s < NS; ++s)
        if (strides.back()[s] != st[s][i] * full[i]) merge = false;
      if (merge) {
        sizes.back() *= full[i];
        for (int s = 0; s < NS; ++s) strides.back()[s] = st[s][i];
        continue;
      }
    }
    sizes.push_back(full[i]);
    std::array<std::int64_t, NS> a;
    for (int s = 0; s < NS; ++s) a[s] = st[s][i];
    strides.push_back(a);
  }
  if (sizes.empty()) {
    // A single element: one level of size 1. Unit strides everywhere make it
    // an elementwise map writing out[0] (the same as a sum of one term), and
    // keep the launchers' "dense output / dense side" checks true.
    sizes.push_back(1);
    std::array<std::int64_t, NS> a;
    a.fill(1);
    strides.push_back(a);
  }
  if (sizes.size() > static_cast<std::size_t>(kMaxDims)) {
    std::ostringstream os;
    os << op << ": broadcast pattern of shape " << shape_str(full) << " needs "
       << sizes.size() << " loop levels; at most " << kMaxDims << " are supported";
    throw std::invalid_argument(os.str());
  }
  p.ndim = static_cast<int>(sizes.size());
  for (int d = 0; d < p.ndim; ++d) {
    p.size[d] = sizes[d];
    for (int s = 0; s < NS; ++s) p.stride[s][d] = strides[d][s];
    if (strides[d][NS - 2] != 0) p.n_out *= sizes[d];
  }
  return p;
}

ZHUSUAN_ISA_END
}  // namespace zhusuan
