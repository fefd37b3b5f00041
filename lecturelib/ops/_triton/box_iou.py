"""Triton kernel: the N×M IoU matrix, one BLOCK_N × BLOCK_M tile per program.

Each program loads BLOCK_N boxes of the first set as columns and BLOCK_M of the second as rows,
forms the intersections by broadcasting, and stores the tile. The arithmetic is the same as
torchvision's (so the values agree), with 0 where the union is empty. No backward kernel: the
gradient is the CPU path's formula (``backends.gradient_from_cpu_path``), torch ops on the GPU.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from ..backends import gradient_from_cpu_path
from . import pairwise_iou


@triton.jit
def _box_iou_kernel(a_ptr, b_ptr, out_ptr, N, M,
                    BLOCK_N: tl.constexpr, BLOCK_M: tl.constexpr):
    rows = tl.program_id(0) * BLOCK_N + tl.arange(0, BLOCK_N)
    cols = tl.program_id(1) * BLOCK_M + tl.arange(0, BLOCK_M)
    row_ok = rows < N
    col_ok = cols < M
    ax1 = tl.load(a_ptr + rows * 4 + 0, mask=row_ok, other=0.0)
    ay1 = tl.load(a_ptr + rows * 4 + 1, mask=row_ok, other=0.0)
    ax2 = tl.load(a_ptr + rows * 4 + 2, mask=row_ok, other=0.0)
    ay2 = tl.load(a_ptr + rows * 4 + 3, mask=row_ok, other=0.0)
    bx1 = tl.load(b_ptr + cols * 4 + 0, mask=col_ok, other=0.0)
    by1 = tl.load(b_ptr + cols * 4 + 1, mask=col_ok, other=0.0)
    bx2 = tl.load(b_ptr + cols * 4 + 2, mask=col_ok, other=0.0)
    by2 = tl.load(b_ptr + cols * 4 + 3, mask=col_ok, other=0.0)
    iou = pairwise_iou(ax1, ay1, ax2, ay2, bx1, by1, bx2, by2)
    tl.store(out_ptr + rows[:, None] * M + cols[None, :], iou,
             mask=row_ok[:, None] & col_ok[None, :])


@gradient_from_cpu_path("box_iou")
def box_iou_triton(boxes1: torch.Tensor, boxes2: torch.Tensor,
                   block_n: int = 32, block_m: int = 32) -> torch.Tensor:
    """Float[N, 4], Float[M, 4] (float32 or float64, same device) -> Float[N, M].

    Differentiable: the backward pass is the CPU path's formula (torch ops, on the same device).
    """
    if boxes1.dtype != boxes2.dtype:
        boxes1, boxes2 = boxes1.double(), boxes2.double()
    a, b = boxes1.contiguous(), boxes2.contiguous()
    n, m = a.shape[0], b.shape[0]
    out = torch.empty((n, m), dtype=a.dtype, device=a.device)
    if n == 0 or m == 0:
        return out
    grid = (triton.cdiv(n, block_n), triton.cdiv(m, block_m))
    _box_iou_kernel[grid](a, b, out, n, m, BLOCK_N=block_n, BLOCK_M=block_m)
    return out
