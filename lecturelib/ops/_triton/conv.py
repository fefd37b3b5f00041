"""2-D convolution as an implicit GEMM in Triton.

The im2col path (:func:`lecturelib.ops.conv.conv2d_im2col`) writes every receptive-field patch
into a big matrix and multiplies it by the weights. This kernel does the same matrix product
*without* building the matrix: each program computes one tile of the output matrix and
gathers the patch values it needs straight from the input ("implicit" im2col).

The matrix product, per group ``g`` (channels are split into ``groups`` independent blocks)::

    out[m, o] = sum_k  A[m, k] * B[k, o]      m = (n, oy, ox)   an output pixel,  M = N*OH*OW
                                              o                 an output channel of group g
                                              k = (c, ky, kx)   a tap of the kernel, K = C/g*KH*KW
    A[m, k] = x[n, g*C/g + c, oy*sy - py + ky*dy, ox*sx - px + kx*dx]   (0 outside the image)
    B[k, o] = w[g*O/g + o, c, ky, kx]

Grid: ``(cdiv(M, BLOCK_M), cdiv(O/g, BLOCK_N), groups)``. Each program loops over K in steps
of ``BLOCK_K``, loads an ``A`` tile (masked: padding reads 0) and a ``B`` tile, and accumulates
``tl.dot(A, B)`` in fp32 (fp64 for float64 inputs). Tensors are made contiguous (NCHW) first.

On CPU tensors this runs under Triton's interpreter (slow: keep shapes tiny). With
``torch.backends.cudnn.allow_tf32`` on (PyTorch's default for convolutions), fp32 products use
TF32 on the GPU -- the same precision cuDNN uses -- else full IEEE fp32.
"""
from __future__ import annotations

import torch

from lecturelib.ops import _triton  # noqa: F401  (sets TRITON_INTERPRET=1 before @triton.jit)

import triton  # noqa: E402
import triton.language as tl  # noqa: E402


@triton.jit
def _conv2d_implicit_gemm_kernel(
    x_ptr, w_ptr, b_ptr, out_ptr,
    N, C, H, W,                       # input  [N, C, H, W]
    O, OH, OW,                        # output [N, O, OH, OW]
    KH: tl.constexpr, KW: tl.constexpr,
    SH: tl.constexpr, SW: tl.constexpr,
    PH: tl.constexpr, PW: tl.constexpr,
    DH: tl.constexpr, DW: tl.constexpr,
    C_PER_GROUP, O_PER_GROUP,
    HAS_BIAS: tl.constexpr,
    ACC_FP64: tl.constexpr,
    PRECISION: tl.constexpr,
    BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
):
    pid_m = tl.program_id(0)
    pid_n = tl.program_id(1)
    g = tl.program_id(2)

    # rows of the tile: output pixels m -> (n, oy, ox)
    m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    M = N * OH * OW
    m_ok = m < M
    ox = m % OW
    oy = (m // OW) % OH
    n = m // (OW * OH)
    # top-left corner of each pixel's receptive field in input coordinates
    iy0 = oy * SH - PH
    ix0 = ox * SW - PW

    # columns of the tile: output channels of this group
    o = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    o_ok = o < O_PER_GROUP
    o_global = g * O_PER_GROUP + o

    K = C_PER_GROUP * KH * KW
    if ACC_FP64:
        acc = tl.full((BLOCK_M, BLOCK_N), 0, dtype=tl.float64)
    else:
        acc = tl.full((BLOCK_M, BLOCK_N), 0, dtype=tl.float32)

    for k0 in range(0, K, BLOCK_K):
        k = k0 + tl.arange(0, BLOCK_K)
        k_ok = k < K
        # reduction index k -> (c, ky, kx), the same order as weight[o, c, ky, kx]
        kx = k % KW
        ky = (k // KW) % KH
        c = k // (KW * KH)

        # A tile [BLOCK_M, BLOCK_K]: gather input values, zero where the tap hits padding
        iy = iy0[:, None] + ky[None, :] * DH
        ix = ix0[:, None] + kx[None, :] * DW
        inside = (iy >= 0) & (iy < H) & (ix >= 0) & (ix < W)
        a_mask = m_ok[:, None] & k_ok[None, :] & inside
        x_offs = ((n[:, None] * C + g * C_PER_GROUP + c[None, :]) * H + iy) * W + ix
        x_offs = tl.where(a_mask, x_offs, 0)
        a = tl.load(x_ptr + x_offs, mask=a_mask, other=0.0)

        # B tile [BLOCK_K, BLOCK_N]: the weights, read as a K x O matrix
        b_mask = k_ok[:, None] & o_ok[None, :]
        w_offs = o_global[None, :] * K + k[:, None]
        b = tl.load(w_ptr + w_offs, mask=b_mask, other=0.0)

        if ACC_FP64:
            acc += tl.dot(a.to(tl.float64), b.to(tl.float64))
        else:
            acc += tl.dot(a.to(tl.float32), b.to(tl.float32), input_precision=PRECISION)

    if HAS_BIAS:
        bias = tl.load(b_ptr + o_global, mask=o_ok, other=0.0)
        acc += bias[None, :].to(acc.dtype)

    out_offs = ((n[:, None] * O + o_global[None, :]) * OH + oy[:, None]) * OW + ox[:, None]
    out_mask = m_ok[:, None] & o_ok[None, :]
    tl.store(out_ptr + out_offs, acc.to(out_ptr.dtype.element_ty), mask=out_mask)


def _next_pow2(x: int) -> int:
    return 1 << max(0, (x - 1).bit_length())


def conv2d_triton(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                  stride: tuple[int, int], padding: tuple[int, int],
                  dilation: tuple[int, int], groups: int,
                  out_size: tuple[int, int]) -> torch.Tensor:
    """Launch the kernel. Arguments are already checked by :func:`lecturelib.ops.conv.conv2d`.

    Shapes: ``x [N, C, H, W]``, ``weight [O, C/groups, KH, KW]``, ``bias [O]`` or None,
    returns ``[N, O, OH, OW]`` with ``out_size = (OH, OW)``. No autograd here: the public
    function wraps this forward in an ``autograd.Function``.
    """
    x = x.contiguous()
    weight = weight.contiguous()
    N, C, H, W = x.shape
    O, c_per_group, KH, KW = weight.shape
    OH, OW = out_size
    o_per_group = O // groups
    out = torch.empty((N, O, OH, OW), device=x.device, dtype=x.dtype)
    if max(x.numel(), out.numel(), weight.numel()) >= 2 ** 31:
        raise ValueError("the Triton conv kernel uses 32-bit offsets: tensors must have fewer "
                         "than 2**31 elements")

    M = N * OH * OW
    K = c_per_group * KH * KW
    if x.is_cuda:
        BLOCK_M, BLOCK_N, BLOCK_K = 64, 64, 32
        num_warps = 4
    else:  # interpreter: every program costs ~10 ms, so use few, large programs
        BLOCK_M = min(256, max(16, _next_pow2(M)))
        BLOCK_N = min(64, max(16, _next_pow2(o_per_group)))
        BLOCK_K = min(128, max(16, _next_pow2(K)))
        num_warps = 1
    grid = (triton.cdiv(M, BLOCK_M), triton.cdiv(o_per_group, BLOCK_N), groups)
    precision = "tf32" if torch.backends.cudnn.allow_tf32 else "ieee"
    _conv2d_implicit_gemm_kernel[grid](
        x, weight, bias if bias is not None else weight, out,
        N, C, H, W, O, OH, OW,
        KH, KW, stride[0], stride[1], padding[0], padding[1], dilation[0], dilation[1],
        c_per_group, o_per_group,
        HAS_BIAS=bias is not None,
        ACC_FP64=x.dtype == torch.float64,
        PRECISION=precision,
        BLOCK_M=BLOCK_M, BLOCK_N=BLOCK_N, BLOCK_K=BLOCK_K,
        num_warps=num_warps,
    )
    return out
