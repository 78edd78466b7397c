// The CPU engine: maps a functor over broadcast operands and sums the
// results into a reduced output (see zhusuan/ops_impl.h for the contract).
//
// Work split. After make_plan() the loop nest has few levels. Let r0 be the
// first reduced level. The levels before r0 (the "prefix") are kept, so each
// prefix index owns a disjoint, contiguous block of n_tail_out outputs; the
// levels from r0 on (the "tail") are summed into a thread-local double
// accumulator for that block. Tasks are (prefix index, chunk of the tail):
// when the prefix alone gives enough parallelism there is one chunk, and
// otherwise the tail is cut into a number of chunks that depends only on the
// sizes, each chunk's partial sums are stored, and they are added in chunk
// order afterwards. So the result is bitwise the same for any thread count,
// and no two threads ever write the same accumulator.
//
// Inner loops. The last level is walked in runs; every operand's stride along
// it is 1 (it spans that axis) or 0 (it broadcasts). Stride-0 operands are
// expanded into a small tile buffer once per run, so the loop body reads only
// contiguous arrays and `#pragma omp simd` vectorises it (the math in
// common.h is branch-free for that reason). Sums are accumulated in double.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <stdexcept>
#include <utility>
#include <vector>

#include "zhusuan/broadcast.h"
#include "zhusuan/common.h"

namespace zhusuan {
ZHUSUAN_ISA_BEGIN
namespace cpu {

constexpr std::int64_t kTile = 256;       // elements per inner block
constexpr std::int64_t kGrain = 32768;    // elements per task, roughly
constexpr std::int64_t kMaxChunks = 64;   // tail chunks per prefix index
constexpr std::int64_t kPrefixParallel = 64;  // this many prefixes: no chunks
constexpr std::int64_t kPartialBudget = std::int64_t(1) << 22;  // doubles
constexpr std::int64_t kParallelMin = 16384;  // fewer elements: one thread

namespace detail {

enum Mode { kReduce, kAccumulate, kWrite };

// The inner loops. The operand pointers arrive as a parameter pack (values,
// not an array in memory) so that the vectoriser sees loop-invariant bases
// and unit-stride loads; the outputs are __restrict.

// sum_i f(p[i]...); with kSide also side[i] = f.side(p[i]...).
template <typename T, bool kSide, typename F, typename... P>
double run_reduce(const F& f, T* __restrict side, std::int64_t n, P... p) {
  double s = 0.0;
#pragma omp simd reduction(+ : s)
  for (std::int64_t i = 0; i < n; ++i) {
    s += static_cast<double>(f(p[i]...));
    if constexpr (kSide) side[i] = f.side(p[i]...);
  }
  return s;
}

// acc[i] += f(p[i]...).
template <typename T, bool kSide, typename F, typename... P>
void run_accumulate(const F& f, double* __restrict acc, T* __restrict side, std::int64_t n,
                    P... p) {
#pragma omp simd
  for (std::int64_t i = 0; i < n; ++i) {
    acc[i] += static_cast<double>(f(p[i]...));
    if constexpr (kSide) side[i] = f.side(p[i]...);
  }
}

// out[i] = weight * f(p[i]...) (no reduction at all; the product in T, as
// the reference computes it).
template <typename T, bool kSide, typename F, typename... P>
void run_write(const F& f, T* __restrict out, double weight, T* __restrict side,
               std::int64_t n, P... p) {
  const T w = static_cast<T>(weight);
#pragma omp simd
  for (std::int64_t i = 0; i < n; ++i) {
    out[i] = f(p[i]...) * w;
    if constexpr (kSide) side[i] = f.side(p[i]...);
  }
}

// Visit the linear range [a, b) of levels [lo, ndim) of the plan, in runs
// along the last level; run(off, n) receives every slot's offset of the
// run's first element (starting from base) and the run length.
template <int NS, typename Run>
void walk(const Plan<NS>& p, int lo, const std::int64_t* base, std::int64_t a,
          std::int64_t b, Run&& run) {
  const int last = p.ndim - 1;
  std::int64_t idx[kMaxDims];
  std::int64_t off[NS];
  for (int s = 0; s < NS; ++s) off[s] = base[s];
  std::int64_t rem = a;
  for (int d = last; d >= lo; --d) {
    idx[d] = rem % p.size[d];
    rem /= p.size[d];
    for (int s = 0; s < NS; ++s) off[s] += idx[d] * p.stride[s][d];
  }
  const std::int64_t len = p.size[last];
  std::int64_t pos = a;
  while (pos < b) {
    const std::int64_t n = std::min(len - idx[last], b - pos);
    run(off, n);
    pos += n;
    if (pos >= b) break;
    // The run ended at the end of its row: go to the start of the next one.
    for (int s = 0; s < NS; ++s) off[s] -= idx[last] * p.stride[s][last];
    idx[last] = 0;
    for (int d = last - 1; d >= lo; --d) {
      ++idx[d];
      for (int s = 0; s < NS; ++s) off[s] += p.stride[s][d];
      if (idx[d] < p.size[d]) break;
      for (int s = 0; s < NS; ++s) off[s] -= p.size[d] * p.stride[s][d];
      idx[d] = 0;
    }
  }
}

template <typename T, int NIN, bool kSide, Mode kMode, typename F, std::size_t... I>
ZS_HD void dispatch_run(const F& f, const T* const* q, std::int64_t o, std::int64_t i0,
                        std::int64_t m, double* acc, T* out, double weight, T* sp,
                        std::index_sequence<I...>) {
  if constexpr (kMode == kReduce) {
    acc[o] += run_reduce<T, kSide>(f, sp, m, q[I]...);
  } else if constexpr (kMode == kAccumulate) {
    run_accumulate<T, kSide>(f, acc + o + i0, sp, m, q[I]...);
  } else {
    run_write<T, kSide>(f, out + o + i0, weight, sp, m, q[I]...);
  }
}

// One run of n elements in tiles of kTile: operand k starts at in[k] + off[k]
// with stride `st[k]` along the run.
template <typename T, int NIN, bool kSide, Mode kMode, typename F>
void process_run(const F& f, const std::array<const T*, NIN>& in, const std::int64_t* st,
                 const std::int64_t* off, std::int64_t n, T (*buf)[kTile], double* acc,
                 T* out, double weight, T* side) {
  constexpr int OUT = NIN, SIDE = NIN + 1;
  const T* q[NIN];
  for (std::int64_t i0 = 0; i0 < n; i0 += kTile) {
    const std::int64_t m = std::min(kTile, n - i0);
    for (int k = 0; k < NIN; ++k) {
      const T* src = in[k] + off[k];
      if (st[k] == 1) {
        q[k] = src + i0;
      } else if (st[k] == 0) {
        if (i0 == 0) std::fill(buf[k], buf[k] + m, *src);  // constant along the run
        q[k] = buf[k];
      } else {
        for (std::int64_t i = 0; i < m; ++i) buf[k][i] = src[(i0 + i) * st[k]];
        q[k] = buf[k];
      }
    }
    T* sp = kSide ? side + off[SIDE] + i0 : nullptr;
    dispatch_run<T, NIN, kSide, kMode>(f, q, off[OUT], i0, m, acc, out, weight, sp,
                                       std::make_index_sequence<NIN>{});
  }
}

}  // namespace detail

struct Engine {
  template <typename T>
  void zero(T* out, std::int64_t n) const {
    std::fill(out, out + n, T(0));
  }

  template <typename T, int NIN, bool kSide, typename F>
  void map_reduce(const Plan<NIN + 2>& p, const std::array<const T*, NIN>& in, T* out,
                  std::int64_t n_out, double weight, const F& f, T* side) const {
    constexpr int NS = NIN + 2, OUT = NIN, SIDE = NIN + 1;
    using detail::kAccumulate;
    using detail::kReduce;
    using detail::kWrite;
    const int last = p.ndim - 1;
    std::int64_t st[NIN];
    for (int k = 0; k < NIN; ++k) st[k] = p.stride[k][last];
    if (kSide && p.stride[SIDE][last] != 1)
      throw std::logic_error("cpu engine: the side output must be contiguous");

    int r0 = -1;
    for (int d = 0; d < p.ndim; ++d)
      if (p.stride[OUT][d] == 0) {
        r0 = d;
        break;
      }

    if (r0 < 0) {  // nothing reduced: an elementwise map
      if (p.stride[OUT][last] != 1)
        throw std::logic_error("cpu engine: the output must be contiguous");
      const std::int64_t total = p.total;
      const std::int64_t ntask = (total + kGrain - 1) / kGrain;
#pragma omp parallel if (total >= kParallelMin && ntask > 1)
      {
        alignas(64) T buf[NIN][kTile];
#pragma omp for schedule(dynamic, 1)
        for (std::int64_t t = 0; t < ntask; ++t) {
          const std::int64_t base[NS] = {};
          const std::int64_t a = t * kGrain, b = std::min(total, a + kGrain);
          detail::walk(p, 0, base, a, b, [&](const std::int64_t* off, std::int64_t n) {
            detail::process_run<T, NIN, kSide, kWrite>(f, in, st, off, n, buf, nullptr, out,
                                                       weight, side);
          });
        }
      }
      return;
    }

    std::int64_t n_prefix = 1;
    for (int d = 0; d < r0; ++d) n_prefix *= p.size[d];
    const std::int64_t n_tail = p.total / n_prefix;
    const std::int64_t n_tail_out = n_out / n_prefix;
    // The tail's outputs must be the contiguous block [0, n_tail_out) relative
    // to the prefix's first output (true for row-major outputs).
    std::int64_t max_rel = 0;
    for (int d = r0; d < p.ndim; ++d) max_rel += (p.size[d] - 1) * p.stride[OUT][d];
    if (max_rel >= n_tail_out || (p.stride[OUT][last] != 0 && p.stride[OUT][last] != 1))
      throw std::logic_error("cpu engine: the output is not row-major over kept axes");

    std::int64_t chunks = 1;
    if (n_prefix < kPrefixParallel) {
      chunks = std::min<std::int64_t>(kMaxChunks, std::max<std::int64_t>(1, n_tail / kGrain));
      const std::int64_t cap = kPartialBudget / std::max<std::int64_t>(1, n_prefix * n_tail_out);
      chunks = std::max<std::int64_t>(1, std::min(chunks, cap));
    }
    const bool inner_reduced = p.stride[OUT][last] == 0;
    const std::int64_t ntask = n_prefix * chunks;
    std::vector<double> partial(chunks > 1 ? static_cast<std::size_t>(ntask * n_tail_out) : 0);

#pragma omp parallel if (p.total >= kParallelMin && ntask > 1)
    {
      std::vector<double> acc(static_cast<std::size_t>(n_tail_out));
      alignas(64) T buf[NIN][kTile];
#pragma omp for schedule(dynamic, 1)
      for (std::int64_t t = 0; t < ntask; ++t) {
        const std::int64_t pi = t / chunks, c = t % chunks;
        std::int64_t base[NS] = {};
        std::int64_t rem = pi;
        for (int d = r0 - 1; d >= 0; --d) {
          const std::int64_t i = rem % p.size[d];
          rem /= p.size[d];
          for (int s = 0; s < NS; ++s) base[s] += i * p.stride[s][d];
        }
        const std::int64_t out_base = base[OUT];
        base[OUT] = 0;  // accumulator offsets are relative to the block
        std::fill(acc.begin(), acc.end(), 0.0);
        const std::int64_t a = c * n_tail / chunks, b = (c + 1) * n_tail / chunks;
        double* accp = acc.data();
        if (inner_reduced) {
          detail::walk(p, r0, base, a, b, [&](const std::int64_t* off, std::int64_t n) {
            detail::process_run<T, NIN, kSide, kReduce>(f, in, st, off, n, buf, accp, nullptr,
                                                        weight, side);
          });
        } else {
          detail::walk(p, r0, base, a, b, [&](const std::int64_t* off, std::int64_t n) {
            detail::process_run<T, NIN, kSide, kAccumulate>(f, in, st, off, n, buf, accp,
                                                            nullptr, weight, side);
          });
        }
        if (chunks == 1) {
          for (std::int64_t j = 0; j < n_tail_out; ++j)
            out[out_base + j] = static_cast<T>(weight * accp[j]);
        } else {
          std::copy(acc.begin(), acc.end(), partial.begin() + t * n_tail_out);
        }
      }
    }
    if (chunks > 1) {
      // Add the chunks in order: the same bits whatever the thread count.
      const std::int64_t n = n_prefix * n_tail_out;
#pragma omp parallel for schedule(static) if (n * chunks >= kParallelMin)
      for (std::int64_t o = 0; o < n; ++o) {
        const std::int64_t pi = o / n_tail_out, j = o % n_tail_out;
        double s = 0.0;
        for (std::int64_t c = 0; c < chunks; ++c) s += partial[(pi * chunks + c) * n_tail_out + j];
        out[o] = static_cast<T>(weight * s);
      }
    }
  }
};

}  // namespace cpu
ZHUSUAN_ISA_END
}  // namespace zhusuan
