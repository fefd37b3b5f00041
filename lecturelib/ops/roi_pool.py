"""RoI pooling (Fast R-CNN): a fixed-size max-pooled feature for every region of interest.

Each RoI ``(batch_index, x1, y1, x2, y2)`` in image pixels is projected onto the feature map
(× ``spatial_scale``), *rounded* to whole cells, split into ``output_size`` bins (bin edges
floored / ceiled, so bins may overlap or be empty), and each bin keeps its maximum. The rounding
is the quantisation RoIAlign later removes. Semantics and values are torchvision's
``roi_pool``: C rounding (half away from zero), RoI size ``max(end - start + 1, 1)``, empty bin
-> 0, the first maximum wins ties, and the gradient flows to that maximum only.

Paths: ``reference`` (plain loops, :func:`lecturelib.ops.reference.roi_pool_reference`),
``cpu`` (the loops compiled by numba over a channels-last copy, so the innermost loop runs
over channels in SIMD: one pass finds each bin's maximum, a second, backwards, where it first
occurs), ``triton`` (:mod:`lecturelib.ops._triton.roi_pool`).
"""
from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np
import torch

from ._roi_common import (bin_ranges, check_input, check_output_size, check_rois_range,
                          check_spatial_scale, roi_pool_geometry, rois_from_boxes)
from ._validate import check_rois_ordered
from .backends import implementation


def roi_pool(input: torch.Tensor, boxes, output_size, spatial_scale: float = 1.0, *,
             backend: str | None = None) -> torch.Tensor:
    """Max-pool each RoI to ``output_size``: Float[N, C, H, W] -> Float[K, C, oh, ow].

    ``boxes``: Tensor[K, 5] ``(batch_index, x1, y1, x2, y2)`` or a list of Tensor[L_i, 4], with
    x2 >= x1 and y2 >= y1 (torchvision pools an inverted RoI as one cell; we refuse it), finite
    and within ±2^30 cells of the map once scaled (beyond, torchvision's answer is undefined).
    Differentiable with respect to ``input`` on every path (the gradient of each bin goes to
    its first maximum); not with respect to the boxes (a staircase: zero almost everywhere;
    torchvision gives none either). float16 / bfloat16 are computed in float32 and returned
    in the input's dtype.
    """
    check_input(input)
    if input.dtype in (torch.float16, torch.bfloat16):   # computed in float32, returned as given
        return roi_pool(input.float(), boxes, output_size, spatial_scale,
                        backend=backend).to(input.dtype)
    pooled = check_output_size(output_size)
    spatial_scale = check_spatial_scale(spatial_scale)
    rois = check_rois_range(check_rois_ordered(rois_from_boxes(boxes, input)), spatial_scale)
    return implementation("roi_pool", backend, input)(input, rois, pooled, spatial_scale)


class RoIBins(NamedTuple):
    """Where :func:`roi_pool` puts each RoI's bins on the feature map (K RoIs, oh × ow bins)."""
    batch: torch.Tensor     # Int64[K]: the image of each RoI
    start_h: torch.Tensor   # Int64[K]: first row of the rounded RoI
    start_w: torch.Tensor   # Int64[K]: first column
    bin_h: torch.Tensor     # Float[K]: rows per bin (fractional)
    bin_w: torch.Tensor     # Float[K]: columns per bin
    rows: torch.Tensor      # Int64[K, oh, 2]: each bin's rows [lo, hi), clamped to the map
    cols: torch.Tensor      # Int64[K, ow, 2]: each bin's columns [lo, hi)


def roi_pool_bins(input: torch.Tensor, boxes, output_size, spatial_scale: float = 1.0, *,
                  clamp: bool = True) -> RoIBins:
    """The bins ``roi_pool(input, boxes, output_size, spatial_scale)`` max-pools, without pooling:
    the geometry every path (reference, CPU, Triton) computes, for lessons and explorers.
    ``clamp=False`` gives the bins' rows and columns before they are clamped to the map."""
    check_input(input)
    pooled = check_output_size(output_size)
    spatial_scale = check_spatial_scale(spatial_scale)
    rois = check_rois_range(check_rois_ordered(rois_from_boxes(boxes, input)), spatial_scale)
    geometry = roi_pool_geometry(rois, spatial_scale, pooled)
    return RoIBins(*geometry, *bin_ranges(geometry, pooled, input.shape[2], input.shape[3], clamp))


def roi_pool_cpu(x, rois, pooled, spatial_scale):
    """The CPU path: the numba loops, forward and backward, behind one autograd function."""
    return _RoIPool.apply(x, rois, pooled, spatial_scale, "cpu")


def roi_pool_triton(x, rois, pooled, spatial_scale):
    """The Triton path: :mod:`lecturelib.ops._triton.roi_pool`, forward and backward."""
    return _RoIPool.apply(x, rois, pooled, spatial_scale, "triton")


class _RoIPool(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, rois, pooled, spatial_scale, path):
        geometry = roi_pool_geometry(rois, spatial_scale, pooled)
        if path == "triton":
            from ._triton.roi_pool import roi_pool_forward_triton
            out, argmax = roi_pool_forward_triton(x, geometry, pooled)
        else:   # the argmax is kept only when a gradient will be asked for
            out, argmax = _forward_cpu(x, geometry, pooled, with_argmax=ctx.needs_input_grad[0])
        ctx.save_for_backward(argmax, geometry[0])
        ctx.input_shape, ctx.path = x.shape, path
        ctx.mark_non_differentiable(argmax)
        return out

    @staticmethod
    def backward(ctx, grad_out):
        argmax, batch = ctx.saved_tensors
        if ctx.path == "triton":
            from ._triton.roi_pool import roi_pool_backward_triton
            grad_in = roi_pool_backward_triton(grad_out, argmax, batch, ctx.input_shape)
        else:
            grad_in = _backward_cpu(grad_out, argmax, batch, ctx.input_shape)
        return grad_in, None, None, None, None


def _forward_cpu(x, geometry, pooled, with_argmax=True):
    batch, start_h, start_w, bin_h, bin_w = (g.cpu().numpy() for g in geometry)
    channels_last = x.detach().cpu().permute(0, 2, 3, 1).contiguous().numpy()
    out, argmax = _roi_pool_loops(channels_last, batch, start_h, start_w, bin_h, bin_w, *pooled,
                                  with_argmax)
    return torch.from_numpy(out).to(x.device), torch.from_numpy(argmax).to(x.device)


def _backward_cpu(grad_out, argmax, batch, input_shape):
    n, c, h, w = input_shape
    grad = grad_out.detach().cpu().contiguous()
    grad_in = torch.zeros((n, c, h * w), dtype=grad.dtype)
    _scatter_to_argmax(grad_in.numpy(), grad.numpy(), argmax.cpu().numpy(), batch.cpu().numpy())
    return grad_in.reshape(input_shape).to(grad_out.device)


@numba.njit(cache=True)
def _roi_pool_loops(x, batch, start_h, start_w, bin_h, bin_w, pooled_h, pooled_w, with_argmax):
    """x: [N, H, W, C] channels-last. Returns out [K, C, oh, ow] and argmax (int32, same shape):
    the flat index ``h * W + w`` of each bin's maximum, -1 for an empty bin. The argmax (a
    second, slower pass) is only computed ``with_argmax``: inference does not need it."""
    n_rois = batch.shape[0]
    height, width, channels = x.shape[1], x.shape[2], x.shape[3]
    out = np.zeros((n_rois, channels, pooled_h, pooled_w), x.dtype)
    argmax = np.full((n_rois, channels, pooled_h, pooled_w) if with_argmax else (0, 0, 0, 0),
                     -1, np.int32)
    lowest = np.finfo(x.dtype).min
    best = np.empty(channels, x.dtype)
    where = np.empty(channels, np.int32)
    real = bin_h.dtype.type       # bin edges are products in the input's precision
    for k in range(n_rois):
        image = x[batch[k]]
        for ph in range(pooled_h):
            h0 = min(max(int(np.floor(real(ph) * bin_h[k])) + start_h[k], 0), height)
            h1 = min(max(int(np.ceil(real(ph + 1) * bin_h[k])) + start_h[k], 0), height)
            for pw in range(pooled_w):
                w0 = min(max(int(np.floor(real(pw) * bin_w[k])) + start_w[k], 0), width)
                w1 = min(max(int(np.ceil(real(pw + 1) * bin_w[k])) + start_w[k], 0), width)
                if h1 <= h0 or w1 <= w0:
                    continue                      # empty bin: stays 0, argmax -1
                for c in range(channels):
                    best[c] = lowest
                for h in range(h0, h1):          # pass 1: the maximum (vectorised over c;
                    for w in range(w0, w1):      # fmax ignores NaN, as torchvision's `>` does)
                        np.fmax(best, image[h, w], best)
                if not with_argmax:
                    out[k, :, ph, pw] = best
                    continue
                for c in range(channels):
                    where[c] = -1
                for h in range(h1 - 1, h0 - 1, -1):   # pass 2, backwards: where it is; the
                    for w in range(w1 - 1, w0 - 1, -1):  # first cell holding it is written last
                        row = image[h, w]
                        flat = np.int32(h * width + w)
                        for c in range(channels):
                            where[c] = flat if row[c] == best[c] else where[c]
                for c in range(channels):
                    out[k, c, ph, pw] = best[c]
                    argmax[k, c, ph, pw] = where[c]
    return out, argmax


@numba.njit(cache=True)
def _scatter_to_argmax(grad_in, grad_out, argmax, batch):
    """grad_in[b, c, argmax] += grad_out, bin by bin (the gradient of a max goes to the max).

    grad_in: [N, C, H*W] (written in place); grad_out, argmax: [K, C, oh, ow]."""
    n_rois, channels, pooled_h, pooled_w = grad_out.shape
    for k in range(n_rois):
        plane = grad_in[batch[k]]
        for c in range(channels):
            g = grad_out[k, c]
            a = argmax[k, c]
            for ph in range(pooled_h):
                for pw in range(pooled_w):
                    i = a[ph, pw]
                    if i >= 0:
                        plane[c, i] += g[ph, pw]
