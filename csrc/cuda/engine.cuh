// The CUDA engine: the same contract as the CPU engine (zhusuan/ops_impl.h),
// with the same functors from normal.h / bernoulli.h.
//
// The loop plan is split into kept levels (indexing the output o, row-major)
// and reduced levels (indexing r); element (o, r) reads operand s at
// koff_s(o) + roff_s(r). Three kernels, all grid-stride, all deterministic:
//   * map_kernel:      nothing reduced; one thread per output element;
//   * serial_kernel:   short reductions (n_red <= kSerialMax); one thread per
//                      output sums its r in order;
//   * block_kernel:    long reductions; block (chunk c, output o) sums a fixed
//                      slice of r with a fixed shared-memory tree; with more
//                      than one chunk the partial sums go to a buffer and
//                      finalize_kernel adds them in chunk order.
// The chunk count depends only on the sizes, never on the device, so results
// are reproducible bit for bit. Sums are accumulated in double.
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>

#include "zhusuan/broadcast.h"
#include "zhusuan/common.h"

namespace zhusuan {
namespace cuda {

constexpr int kThreads = 256;               // threads per block, every kernel
constexpr std::int64_t kSerialMax = 64;     // longest reduction done by one thread
constexpr std::int64_t kChunkGrain = 8192;  // reduced elements per block, roughly
constexpr std::int64_t kMaxChunks = 1024;
constexpr std::int64_t kMaxBlocks = std::int64_t(1) << 20;  // chunks * outputs
constexpr std::int64_t kMaxGrid = 65535;    // gridDim.y limit (and our x cap)

inline void check(cudaError_t err, const char* what) {
  if (err != cudaSuccess)
    throw std::runtime_error(std::string("zhusuan CUDA: ") + what + ": " +
                             cudaGetErrorName(err) + ": " + cudaGetErrorString(err));
}

// Check the error state right after a kernel launch.
inline void check_launch(const char* kernel) { check(cudaGetLastError(), kernel); }

template <int NS>
struct DevPlan {
  int nk = 0, nr = 0;
  std::int64_t ksize[kMaxDims] = {}, rsize[kMaxDims] = {};
  std::int64_t kstride[NS][kMaxDims] = {}, rstride[NS][kMaxDims] = {};
};

template <typename T, int NIN>
struct Ptrs {
  const T* p[NIN];
};

namespace detail {

// off[s] += offsets of linear index `lin` over the n levels (size, stride).
// Loops are unrolled over the compile-time bound so that every access to the
// plan (a kernel parameter) has a constant index: no local-memory copies.
template <int NS>
__device__ __forceinline__ void add_offsets(std::int64_t lin, int n,
                                            const std::int64_t (&size)[kMaxDims],
                                            const std::int64_t (&stride)[NS][kMaxDims],
                                            std::int64_t (&off)[NS]) {
#pragma unroll
  for (int d = kMaxDims - 1; d >= 0; --d) {
    if (d < n) {
      const std::int64_t i = lin % size[d];
      lin /= size[d];
#pragma unroll
      for (int s = 0; s < NS; ++s) off[s] += i * stride[s][d];
    }
  }
}

template <typename F, typename T, int NIN, int NS, std::size_t... I>
__device__ __forceinline__ T apply(const F& f, const Ptrs<T, NIN>& in,
                                   const std::int64_t (&off)[NS], std::index_sequence<I...>) {
  return f(in.p[I][off[I]]...);
}

template <typename F, typename T, int NIN, int NS, std::size_t... I>
__device__ __forceinline__ T apply_side(const F& f, const Ptrs<T, NIN>& in,
                                        const std::int64_t (&off)[NS],
                                        std::index_sequence<I...>) {
  return f.side(in.p[I][off[I]]...);
}

// f at element (o, r); with kSide also writes the side output there.
template <typename T, int NIN, bool kSide, typename F>
__device__ __forceinline__ T element(const DevPlan<NIN + 2>& p, const Ptrs<T, NIN>& in,
                                     T* side, const F& f, std::int64_t o, std::int64_t r) {
  constexpr int NS = NIN + 2;
  std::int64_t off[NS];
#pragma unroll
  for (int s = 0; s < NS; ++s) off[s] = 0;
  add_offsets<NS>(o, p.nk, p.ksize, p.kstride, off);
  add_offsets<NS>(r, p.nr, p.rsize, p.rstride, off);
  using Seq = std::make_index_sequence<NIN>;
  if constexpr (kSide) side[off[NS - 1]] = apply_side(f, in, off, Seq{});
  return apply(f, in, off, Seq{});
}

}  // namespace detail

template <typename T, int NIN, bool kSide, typename F>
__global__ void __launch_bounds__(kThreads)
    map_kernel(const DevPlan<NIN + 2> p, const Ptrs<T, NIN> in, T* __restrict__ out,
               std::int64_t n_out, double weight, const F f, T* __restrict__ side) {
  const std::int64_t step = static_cast<std::int64_t>(blockDim.x) * gridDim.x;
  for (std::int64_t o = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
       o < n_out; o += step) {
    const T v = detail::element<T, NIN, kSide>(p, in, side, f, o, 0);
    out[o] = static_cast<T>(weight * static_cast<double>(v));
  }
}

template <typename T, int NIN, bool kSide, typename F>
__global__ void __launch_bounds__(kThreads)
    serial_kernel(const DevPlan<NIN + 2> p, const Ptrs<T, NIN> in, T* __restrict__ out,
                  std::int64_t n_out, std::int64_t n_red, double weight, const F f,
                  T* __restrict__ side) {
  const std::int64_t step = static_cast<std::int64_t>(blockDim.x) * gridDim.x;
  for (std::int64_t o = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
       o < n_out; o += step) {
    double s = 0.0;
    for (std::int64_t r = 0; r < n_red; ++r)
      s += static_cast<double>(detail::element<T, NIN, kSide>(p, in, side, f, o, r));
    out[o] = static_cast<T>(weight * s);
  }
}

// Grid (x: min(chunks, ..) grid-strided over chunks, y: outputs grid-strided).
template <typename T, int NIN, bool kSide, typename F>
__global__ void __launch_bounds__(kThreads)
    block_kernel(const DevPlan<NIN + 2> p, const Ptrs<T, NIN> in, T* __restrict__ out,
                 double* __restrict__ partial, std::int64_t n_out, std::int64_t n_red,
                 std::int64_t chunks, double weight, const F f, T* __restrict__ side) {
  __shared__ double tree[kThreads];
  for (std::int64_t o = blockIdx.y; o < n_out; o += gridDim.y) {
    for (std::int64_t c = blockIdx.x; c < chunks; c += gridDim.x) {
      const std::int64_t begin = c * n_red / chunks, end = (c + 1) * n_red / chunks;
      double s = 0.0;
      for (std::int64_t r = begin + threadIdx.x; r < end; r += kThreads)
        s += static_cast<double>(detail::element<T, NIN, kSide>(p, in, side, f, o, r));
      tree[threadIdx.x] = s;
      __syncthreads();
#pragma unroll
      for (int h = kThreads / 2; h > 0; h >>= 1) {
        if (threadIdx.x < h) tree[threadIdx.x] += tree[threadIdx.x + h];
        __syncthreads();
      }
      if (threadIdx.x == 0) {
        if (chunks == 1)
          out[o] = static_cast<T>(weight * tree[0]);
        else
          partial[o * chunks + c] = tree[0];
      }
      __syncthreads();  // tree is reused by the next (o, c)
    }
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    finalize_kernel(const double* __restrict__ partial, T* __restrict__ out,
                    std::int64_t n_out, std::int64_t chunks, double weight) {
  const std::int64_t step = static_cast<std::int64_t>(blockDim.x) * gridDim.x;
  for (std::int64_t o = blockIdx.x * static_cast<std::int64_t>(blockDim.x) + threadIdx.x;
       o < n_out; o += step) {
    double s = 0.0;
    for (std::int64_t c = 0; c < chunks; ++c) s += partial[o * chunks + c];
    out[o] = static_cast<T>(weight * s);
  }
}

inline unsigned grid_for(std::int64_t n) {
  return static_cast<unsigned>(std::max<std::int64_t>(
      1, std::min<std::int64_t>(kMaxGrid, (n + kThreads - 1) / kThreads)));
}

// Stream-ordered scratch memory for the partial sums, freed on every exit.
struct PartialBuffer {
  double* ptr;
  cudaStream_t stream;
  PartialBuffer(const PartialBuffer&) = delete;
  PartialBuffer& operator=(const PartialBuffer&) = delete;
  ~PartialBuffer() {
    if (ptr) cudaFreeAsync(ptr, stream);
  }
};

struct Engine {
  cudaStream_t stream = nullptr;

  template <typename T>
  void zero(T* out, std::int64_t n) const {
    check(cudaMemsetAsync(out, 0, static_cast<std::size_t>(n) * sizeof(T), stream),
          "cudaMemsetAsync");
  }

  template <typename T, int NIN, bool kSide, typename F>
  void map_reduce(const Plan<NIN + 2>& plan, const std::array<const T*, NIN>& inputs, T* out,
                  std::int64_t n_out, double weight, const F& f, T* side) const {
    constexpr int NS = NIN + 2, OUT = NIN;
    DevPlan<NS> p;
    std::int64_t n_red = 1;
    for (int d = 0; d < plan.ndim; ++d) {
      const bool kept = plan.stride[OUT][d] != 0;
      const int j = kept ? p.nk++ : p.nr++;
      (kept ? p.ksize : p.rsize)[j] = plan.size[d];
      for (int s = 0; s < NS; ++s) (kept ? p.kstride : p.rstride)[s][j] = plan.stride[s][d];
      if (!kept) n_red *= plan.size[d];
    }
    Ptrs<T, NIN> in;
    for (int k = 0; k < NIN; ++k) in.p[k] = inputs[k];

    if (p.nr == 0) {
      map_kernel<T, NIN, kSide><<<grid_for(n_out), kThreads, 0, stream>>>(p, in, out, n_out,
                                                                           weight, f, side);
      check_launch("map_kernel");
      return;
    }
    if (n_red <= kSerialMax) {
      serial_kernel<T, NIN, kSide><<<grid_for(n_out), kThreads, 0, stream>>>(
          p, in, out, n_out, n_red, weight, f, side);
      check_launch("serial_kernel");
      return;
    }
    std::int64_t chunks = std::min(kMaxChunks, std::max<std::int64_t>(1, n_red / kChunkGrain));
    chunks = std::max<std::int64_t>(1, std::min(chunks, kMaxBlocks / std::max<std::int64_t>(1, n_out)));
    PartialBuffer buf{nullptr, stream};
    if (chunks > 1)
      check(cudaMallocAsync(reinterpret_cast<void**>(&buf.ptr),
                            static_cast<std::size_t>(n_out * chunks) * sizeof(double), stream),
            "cudaMallocAsync");
    double* partial = buf.ptr;
    const dim3 grid(static_cast<unsigned>(std::min(chunks, kMaxGrid)),
                    static_cast<unsigned>(std::min(n_out, kMaxGrid)));
    block_kernel<T, NIN, kSide><<<grid, kThreads, 0, stream>>>(p, in, out, partial, n_out, n_red,
                                                               chunks, weight, f, side);
    check_launch("block_kernel");
    if (chunks > 1) {
      finalize_kernel<T><<<grid_for(n_out), kThreads, 0, stream>>>(partial, out, n_out, chunks,
                                                                   weight);
      check_launch("finalize_kernel");
    }
  }
};

}  // namespace cuda
}  // namespace zhusuan
