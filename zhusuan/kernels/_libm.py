"""C library functions Jittor lacks, as tiny ``jt.code`` kernels.

Only values: no gradient is defined here (callers attach the derivative they
need, see :func:`zhusuan.numerics.log1p`). Kept in :mod:`zhusuan.kernels`,
the one package that holds C++ sources and knows about devices.
"""

import jittor as jt

__all__ = ["log1p_values"]

_LOG1P_CPU = """
    for (int i = 0; i < in0_shape0; i++) @out(i) = std::log1p(@in0(i));
"""
_LOG1P_CUDA = """
    __global__ static void zs_log1p(@ARGS_DEF) {
        @PRECALC
        for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < in0_shape0;
             i += blockDim.x * gridDim.x)
            @out(i) = ::log1p(@in0(i));
    }
    zs_log1p<<<256, 256>>>(@ARGS);
"""


def log1p_values(u):
    """``std::log1p`` of every element of ``u`` (detached), same shape and dtype."""
    flat = u.detach().reshape([-1])
    out = jt.code(flat.shape, flat.dtype, [flat], cpu_src=_LOG1P_CPU, cuda_src=_LOG1P_CUDA)
    return out.reshape(list(u.shape))
