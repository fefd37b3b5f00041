"""Triton kernels for RoI max pooling: one program per (RoI, bin) × a block of channels.

Forward: walk the bin's cells (its bounds come from the same host-side geometry as the CPU path,
so the bins are identical), keep the running maximum and where it was; an empty bin gives 0.
Backward: each bin adds its gradient to the input cell that won the max — with atomics, since
bins of overlapping RoIs can share a winner.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _roi_pool_forward_kernel(x_ptr, batch_ptr, start_h_ptr, start_w_ptr, bin_h_ptr, bin_w_ptr,
                             out_ptr, argmax_ptr, C, H, W, lowest_ptr,
                             POOLED_H: tl.constexpr, POOLED_W: tl.constexpr,
                             BLOCK_C: tl.constexpr):
    pid = tl.program_id(0)
    k = pid // (POOLED_H * POOLED_W)
    ph = (pid // POOLED_W) % POOLED_H
    pw = pid % POOLED_W
    channels = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    c_ok = channels < C
    b = tl.load(batch_ptr + k)
    bin_h = tl.load(bin_h_ptr + k)
    bin_w = tl.load(bin_w_ptr + k)
    h0 = tl.minimum(tl.maximum(tl.floor(ph.to(bin_h.dtype) * bin_h).to(tl.int64) + tl.load(start_h_ptr + k), 0), H)
    h1 = tl.minimum(tl.maximum(tl.ceil((ph + 1).to(bin_h.dtype) * bin_h).to(tl.int64) + tl.load(start_h_ptr + k), 0), H)
    w0 = tl.minimum(tl.maximum(tl.floor(pw.to(bin_w.dtype) * bin_w).to(tl.int64) + tl.load(start_w_ptr + k), 0), W)
    w1 = tl.minimum(tl.maximum(tl.ceil((pw + 1).to(bin_w.dtype) * bin_w).to(tl.int64) + tl.load(start_w_ptr + k), 0), W)
    plane = x_ptr + (b * C + channels) * H * W           # [BLOCK_C] pointers to channel planes
    best = tl.full((BLOCK_C,), 0, bin_h.dtype) + tl.load(lowest_ptr)   # lowest finite value
    where = tl.full((BLOCK_C,), -1, tl.int32)
    for h in range(h0, h1):
        for w in range(w0, w1):
            v = tl.load(plane + h * W + w, mask=c_ok, other=float("-inf")).to(bin_h.dtype)
            larger = v > best                            # strict: the first maximum wins
            best = tl.where(larger, v, best)
            where = tl.where(larger, (h * W + w).to(tl.int32), where)
    empty = (h1 <= h0) | (w1 <= w0)
    best = tl.where(empty, 0.0, best)
    offset = ((k * C + channels) * POOLED_H + ph) * POOLED_W + pw
    tl.store(out_ptr + offset, best, mask=c_ok)
    tl.store(argmax_ptr + offset, where, mask=c_ok)


@triton.jit
def _roi_pool_backward_kernel(grad_out_ptr, argmax_ptr, batch_ptr, grad_in_ptr, C, HW,
                              POOLED: tl.constexpr, BLOCK_C: tl.constexpr):
    pid = tl.program_id(0)                               # (RoI, bin)
    k = pid // POOLED
    cell = pid % POOLED
    channels = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    c_ok = channels < C
    offset = (k * C + channels) * POOLED + cell
    g = tl.load(grad_out_ptr + offset, mask=c_ok, other=0.0)
    winner = tl.load(argmax_ptr + offset, mask=c_ok, other=-1)
    b = tl.load(batch_ptr + k)
    hit = c_ok & (winner >= 0)
    target = grad_in_ptr + (b * C + channels) * HW + tl.where(hit, winner, 0)
    tl.atomic_add(target, g, mask=hit)


def roi_pool_forward_triton(x, geometry, pooled, block_c: int = 64):
    batch, start_h, start_w, bin_h, bin_w = geometry
    x = x.contiguous()
    n, c, h, w = x.shape
    k = batch.shape[0]
    out = torch.empty((k, c, *pooled), dtype=x.dtype, device=x.device)
    argmax = torch.empty((k, c, *pooled), dtype=torch.int32, device=x.device)
    if k and c:
        grid = (k * pooled[0] * pooled[1], triton.cdiv(c, block_c))
        _roi_pool_forward_kernel[grid](x, batch.contiguous(), start_h.contiguous(),
                                       start_w.contiguous(), bin_h.contiguous(),
                                       bin_w.contiguous(), out, argmax, c, h, w,
                                       torch.tensor([torch.finfo(bin_h.dtype).min],
                                                    dtype=bin_h.dtype, device=x.device),
                                       POOLED_H=pooled[0], POOLED_W=pooled[1], BLOCK_C=block_c)
    return out, argmax


def roi_pool_backward_triton(grad_out, argmax, batch, input_shape, block_c: int = 64):
    n, c, h, w = input_shape
    grad_in = torch.zeros(input_shape, dtype=grad_out.dtype, device=grad_out.device)
    k = argmax.shape[0]
    if k and c:
        pooled = argmax.shape[2] * argmax.shape[3]
        grid = (k * pooled, triton.cdiv(c, block_c))
        _roi_pool_backward_kernel[grid](grad_out.contiguous(), argmax, batch.contiguous(),
                                        grad_in, c, h * w, POOLED=pooled, BLOCK_C=block_c)
    return grad_in
