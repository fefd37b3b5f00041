"""Triton kernels for RoIAlign: one program per (RoI, bin) × a block of channels.

Designed for a GPU: the input is made channels-last ([N, H, W, C]), so the four neighbours of a
sample are four contiguous loads of BLOCK_C channels, and each sample's position and weights
(scalars) are computed once per program and shared by its channels. The samples per bin come
from the same host-side geometry as the CPU path (``_roi_common.roi_align_geometry``), so both
sample the same points.

Forward: the mean over the bin's grid of samples. Backward: each sample adds its bin's gradient
× weight ÷ count to its four neighbours, with atomics (neighbouring bins and overlapping RoIs
share cells). Gradient with respect to the boxes: no kernel (torchvision's have none); the
Triton path takes it from the CPU path's loops (``roi_align._backward_cpu``).
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _sample(y, x, H, W):
    """torchvision's bilinear_interpolate for one point: the four neighbours' flat offsets in
    an [H, W] plane and their weights; all weights are 0 for a point more than a cell off the
    map (NaN included)."""
    inside = (y >= -1.0) & (y <= H) & (x >= -1.0) & (x <= W)
    y = tl.where(inside, tl.maximum(y, 0.0), 0.0)
    x = tl.where(inside, tl.maximum(x, 0.0), 0.0)
    y0 = y.to(tl.int32)
    x0 = x.to(tl.int32)
    last_row = y0 >= H - 1
    last_col = x0 >= W - 1
    y0 = tl.where(last_row, H - 1, y0)
    x0 = tl.where(last_col, W - 1, x0)
    y1 = tl.where(last_row, y0, y0 + 1)
    x1 = tl.where(last_col, x0, x0 + 1)
    ly = tl.where(last_row, 0.0, y - y0.to(y.dtype))
    lx = tl.where(last_col, 0.0, x - x0.to(x.dtype))
    hy = 1.0 - ly
    hx = 1.0 - lx
    on = tl.where(inside, 1.0, 0.0)
    return (y0 * W + x0, y0 * W + x1, y1 * W + x0, y1 * W + x1,
            hy * hx * on, hy * lx * on, ly * hx * on, ly * lx * on)


@triton.jit
def _bin(pid, batch_ptr, start_h_ptr, start_w_ptr, bin_h_ptr, bin_w_ptr, grid_h_ptr, grid_w_ptr,
         POOLED_H: tl.constexpr, POOLED_W: tl.constexpr):
    """Program ``pid``'s bin (ph, pw) and its RoI's geometry: image, top-left corner, bin size,
    samples per side."""
    k = pid // (POOLED_H * POOLED_W)
    ph = (pid // POOLED_W) % POOLED_H
    pw = pid % POOLED_W
    return (ph, pw, tl.load(batch_ptr + k), tl.load(start_h_ptr + k), tl.load(start_w_ptr + k),
            tl.load(bin_h_ptr + k), tl.load(bin_w_ptr + k),
            tl.load(grid_h_ptr + k).to(tl.int32), tl.load(grid_w_ptr + k).to(tl.int32))


@triton.jit
def _roi_align_forward_kernel(x_ptr, batch_ptr, start_h_ptr, start_w_ptr, bin_h_ptr, bin_w_ptr,
                              grid_h_ptr, grid_w_ptr, out_ptr, C, H, W,
                              POOLED_H: tl.constexpr, POOLED_W: tl.constexpr,
                              BLOCK_C: tl.constexpr):
    pid = tl.program_id(0)
    channels = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    c_ok = channels < C
    ph, pw, b, start_h, start_w, bin_h, bin_w, gh, gw = _bin(
        pid, batch_ptr, start_h_ptr, start_w_ptr, bin_h_ptr, bin_w_ptr, grid_h_ptr, grid_w_ptr,
        POOLED_H, POOLED_W)
    dt = bin_h.dtype
    plane = x_ptr + b * H * W * C + channels            # [BLOCK_C] pointers, channels-last
    acc = tl.full((BLOCK_C,), 0, dt)
    for iy in range(0, gh):
        y = start_h + ph.to(dt) * bin_h + (tl.cast(iy, dt) + 0.5) * bin_h / gh.to(dt)
        for ix in range(0, gw):
            x = start_w + pw.to(dt) * bin_w + (tl.cast(ix, dt) + 0.5) * bin_w / gw.to(dt)
            p00, p01, p10, p11, w00, w01, w10, w11 = _sample(y, x, H, W)
            v00 = tl.load(plane + p00 * C, mask=c_ok, other=0.0).to(dt)
            v01 = tl.load(plane + p01 * C, mask=c_ok, other=0.0).to(dt)
            v10 = tl.load(plane + p10 * C, mask=c_ok, other=0.0).to(dt)
            v11 = tl.load(plane + p11 * C, mask=c_ok, other=0.0).to(dt)
            acc += w00.to(dt) * v00 + w01.to(dt) * v01 + w10.to(dt) * v10 + w11.to(dt) * v11
    count = tl.maximum(gh * gw, 1).to(dt)
    tl.store(out_ptr + pid * C + channels, acc / count, mask=c_ok)   # out: [K, oh, ow, C]


@triton.jit
def _roi_align_backward_kernel(grad_ptr, batch_ptr, start_h_ptr, start_w_ptr, bin_h_ptr,
                               bin_w_ptr, grid_h_ptr, grid_w_ptr, grad_in_ptr, C, H, W,
                               POOLED_H: tl.constexpr, POOLED_W: tl.constexpr,
                               BLOCK_C: tl.constexpr):
    pid = tl.program_id(0)
    channels = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    c_ok = channels < C
    ph, pw, b, start_h, start_w, bin_h, bin_w, gh, gw = _bin(
        pid, batch_ptr, start_h_ptr, start_w_ptr, bin_h_ptr, bin_w_ptr, grid_h_ptr, grid_w_ptr,
        POOLED_H, POOLED_W)
    dt = bin_h.dtype
    count = tl.maximum(gh * gw, 1).to(dt)
    g = tl.load(grad_ptr + pid * C + channels, mask=c_ok, other=0.0).to(dt)   # [K, oh, ow, C]
    plane = grad_in_ptr + b * H * W * C + channels
    for iy in range(0, gh):
        y = start_h + ph.to(dt) * bin_h + (tl.cast(iy, dt) + 0.5) * bin_h / gh.to(dt)
        for ix in range(0, gw):
            x = start_w + pw.to(dt) * bin_w + (tl.cast(ix, dt) + 0.5) * bin_w / gw.to(dt)
            p00, p01, p10, p11, w00, w01, w10, w11 = _sample(y, x, H, W)
            tl.atomic_add(plane + p00 * C, g * w00.to(dt) / count, mask=c_ok)
            tl.atomic_add(plane + p01 * C, g * w01.to(dt) / count, mask=c_ok)
            tl.atomic_add(plane + p10 * C, g * w10.to(dt) / count, mask=c_ok)
            tl.atomic_add(plane + p11 * C, g * w11.to(dt) / count, mask=c_ok)


def _launch_geometry(geometry):
    return [g.contiguous() for g in geometry]


def roi_align_forward_triton(x, geometry, pooled, block_c: int = 64):
    """x Float[N, C, H, W] -> Float[K, C, oh, ow] (computed channels-last, returned NCHW)."""
    n, c, h, w = x.shape
    k = geometry[0].shape[0]
    channels_last = x.detach().permute(0, 2, 3, 1).contiguous()
    out = torch.zeros((k, *pooled, c), dtype=x.dtype, device=x.device)
    if k and c:
        grid = (k * pooled[0] * pooled[1], triton.cdiv(c, block_c))
        _roi_align_forward_kernel[grid](channels_last, *_launch_geometry(geometry), out, c, h, w,
                                        POOLED_H=pooled[0], POOLED_W=pooled[1],
                                        BLOCK_C=block_c)
    return out.permute(0, 3, 1, 2).contiguous()


def roi_align_backward_triton(grad_out, geometry, input_shape, block_c: int = 64):
    """grad_out Float[K, C, oh, ow] -> the gradient Float[N, C, H, W] of the input."""
    n, c, h, w = input_shape
    k, _, oh, ow = grad_out.shape
    grad = grad_out.detach().permute(0, 2, 3, 1).contiguous()
    grad_in = torch.zeros((n, h, w, c), dtype=grad_out.dtype, device=grad_out.device)
    if k and c:
        grid = (k * oh * ow, triton.cdiv(c, block_c))
        _roi_align_backward_kernel[grid](grad, *_launch_geometry(geometry), grad_in, c, h, w,
                                         POOLED_H=oh, POOLED_W=ow, BLOCK_C=block_c)
    return grad_in.permute(0, 3, 1, 2).contiguous()
