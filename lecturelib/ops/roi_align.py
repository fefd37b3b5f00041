"""RoIAlign (Mask R-CNN): RoI pooling without the rounding, by bilinear sampling.

Each RoI ``(batch_index, x1, y1, x2, y2)`` in image pixels is scaled onto the feature map
(× ``spatial_scale``; minus half a cell when ``aligned``, so that a pixel's centre lands on a
cell's centre) and *not rounded*; it is split into ``output_size`` equal bins, and each bin is
the mean of a regular grid of bilinear samples (``sampling_ratio`` per side, or
``ceil(bin size)`` when it is ≤ 0). Semantics and values are torchvision's ``roi_align``
(written out in ``shared/ARCHITECTURE.md``): a sample more than one cell off the map gives 0 but
still counts in the mean; not aligned, an RoI is at least 1 × 1 cell.

Paths: ``reference`` (plain loops, :func:`lecturelib.ops.reference.roi_align_reference`),
``cpu`` (numba loops over a channels-last copy: each sample's four neighbours and weights are
computed once and shared by every channel, whose loop runs in SIMD; backward scatters the same
weights), ``triton`` (:mod:`lecturelib.ops._triton.roi_align`).

Gradients: with respect to ``input`` on every path (torchvision's). With respect to the boxes'
corners too, on every path — torchvision gives none: autograd through the loops on the
``reference`` path, the numba backward on the ``cpu`` path, and on the ``triton`` path the same
numba loops (on a host copy: a box gradient is rare and small). RoIAlign's output is
continuous in the box; RoI pooling's is a staircase, whose gradient with respect to the box is
zero almost everywhere (lesson 7 plots both).
"""
from __future__ import annotations

import numba
import numpy as np
import torch

from ._roi_common import (check_input, check_output_size, check_rois_range,
                          check_sampling_ratio, check_spatial_scale, roi_align_geometry,
                          rois_from_boxes)
from .backends import implementation


def roi_align(input: torch.Tensor, boxes, output_size, spatial_scale: float = 1.0,
              sampling_ratio: int = -1, aligned: bool = False, *,
              backend: str | None = None) -> torch.Tensor:
    """Bilinear RoI pooling: Float[N, C, H, W] -> Float[K, C, oh, ow].

    ``boxes``: Tensor[K, 5] ``(batch_index, x1, y1, x2, y2)`` or a list of Tensor[L_i, 4];
    ``sampling_ratio``: samples per bin side (≤ 0: adaptive, ``ceil(bin size)``);
    ``aligned``: shift by −0.5 cell (the pixel-exact version; False is torchvision's default and
    the Mask R-CNN paper's original code).
    """
    check_input(input)
    if input.dtype in (torch.float16, torch.bfloat16):   # computed in float32, returned as given
        return roi_align(input.float(), boxes, output_size, spatial_scale, sampling_ratio,
                         aligned, backend=backend).to(input.dtype)
    pooled = check_output_size(output_size)
    spatial_scale = check_spatial_scale(spatial_scale)
    sampling_ratio = check_sampling_ratio(sampling_ratio)
    if not isinstance(aligned, bool):
        raise ValueError(f"aligned must be True or False, got {aligned!r}")
    rois = check_rois_range(rois_from_boxes(boxes, input), spatial_scale)
    return implementation("roi_align", backend, input)(input, rois, pooled, spatial_scale,
                                                       sampling_ratio, aligned)


def roi_align_samples(input: torch.Tensor, boxes, output_size, spatial_scale: float = 1.0,
                      sampling_ratio: int = -1, aligned: bool = False) -> list[torch.Tensor]:
    """Where ``roi_align(input, boxes, ...)`` samples, without sampling: for each RoI a
    Float[oh, ow, gh * gw, 2] tensor of the (y, x) points on the map that each bin averages,
    row by row — the geometry every path computes, for lessons and explorers."""
    check_input(input)
    pooled = check_output_size(output_size)
    sampling_ratio = check_sampling_ratio(sampling_ratio)
    spatial_scale = check_spatial_scale(spatial_scale)
    rois = check_rois_range(rois_from_boxes(boxes, input).detach(), spatial_scale)
    geometry = roi_align_geometry(rois, spatial_scale, pooled, sampling_ratio, aligned)
    out = []
    for k in range(len(rois)):
        _, start_h, start_w, bin_h, bin_w, gh, gw = (g[k] for g in geometry)
        ph = torch.arange(pooled[0], dtype=rois.dtype)[:, None, None, None]
        pw = torch.arange(pooled[1], dtype=rois.dtype)[None, :, None, None]
        iy = torch.arange(int(gh), dtype=rois.dtype)[None, None, :, None]
        ix = torch.arange(int(gw), dtype=rois.dtype)[None, None, None, :]
        y = start_h + ph * bin_h + (iy + 0.5) * bin_h / gh.to(rois.dtype)
        x = start_w + pw * bin_w + (ix + 0.5) * bin_w / gw.to(rois.dtype)
        y, x = torch.broadcast_tensors(y, x)
        out.append(torch.stack([y, x], dim=-1).reshape(pooled[0], pooled[1], -1, 2))
    return out


def roi_align_cpu(x, rois, pooled, spatial_scale, sampling_ratio, aligned):
    """The CPU path: the numba loops, forward and backward (input and boxes), as one autograd
    function."""
    return _RoIAlign.apply(x, rois, pooled, spatial_scale, sampling_ratio, aligned, "cpu")


def roi_align_triton(x, rois, pooled, spatial_scale, sampling_ratio, aligned):
    """The Triton path: :mod:`lecturelib.ops._triton.roi_align`, forward and backward (input);
    the boxes' gradient, when asked for, from the CPU path's loops."""
    return _RoIAlign.apply(x, rois, pooled, spatial_scale, sampling_ratio, aligned, "triton")


class _RoIAlign(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, rois, pooled, spatial_scale, sampling_ratio, aligned, path):
        geometry = roi_align_geometry(rois.detach(), spatial_scale, pooled, sampling_ratio,
                                      aligned)
        if path == "triton":
            from ._triton.roi_align import roi_align_forward_triton
            out = roi_align_forward_triton(x, geometry, pooled)
        else:
            out = _forward_cpu(x, geometry, pooled)
        box_grad = ctx.needs_input_grad[1]
        ctx.save_for_backward(x if box_grad else None, *geometry)
        ctx.input_shape, ctx.path = x.shape, path
        ctx.scale, ctx.aligned = spatial_scale, aligned
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        x, *geometry = ctx.saved_tensors
        grad_in = grad_rois = None
        if ctx.path == "triton":
            from ._triton.roi_align import roi_align_backward_triton
            grad_in = roi_align_backward_triton(grad_out, geometry, ctx.input_shape)
            if x is not None:   # the boxes' gradient: no kernel, the CPU path's loops
                _, grad_rois = _backward_cpu(grad_out, geometry, ctx.input_shape, x, ctx.scale,
                                             ctx.aligned)
        else:
            grad_in, grad_rois = _backward_cpu(grad_out, geometry, ctx.input_shape, x,
                                               ctx.scale, ctx.aligned)
        if not ctx.needs_input_grad[0]:
            grad_in = None
        return grad_in, grad_rois, None, None, None, None, None


def _numpy(geometry):
    return [g.cpu().numpy() for g in geometry]


def _forward_cpu(x, geometry, pooled):
    channels_last = x.detach().cpu().permute(0, 2, 3, 1).contiguous().numpy()
    out = _roi_align_loops(channels_last, *_numpy(geometry), *pooled)
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous().to(x.device)


def _backward_cpu(grad_out, geometry, input_shape, x, spatial_scale, aligned):
    n, c, h, w = input_shape
    grad = grad_out.detach().cpu().permute(0, 2, 3, 1).contiguous().numpy()
    grad_in = np.zeros((n, h, w, c), dtype=grad.dtype)
    with_boxes = x is not None
    values = (x.detach().cpu().permute(0, 2, 3, 1).contiguous().numpy() if with_boxes
              else np.zeros((0, 0, 0, 0), grad.dtype))
    grad_rois = np.zeros((len(grad), 5) if with_boxes else (0, 5), grad.dtype)
    _roi_align_backward_loops(grad, *_numpy(geometry), grad_in, values, grad_rois,
                              grad.dtype.type(spatial_scale), aligned)
    grad_in = torch.from_numpy(grad_in).permute(0, 3, 1, 2).contiguous().to(grad_out.device)
    return grad_in, (torch.from_numpy(grad_rois).to(grad_out.device) if with_boxes else None)


@numba.njit(cache=True, inline="always")
def _bilinear(y, x, height, width, real):
    """torchvision's ``bilinear_interpolate`` for the point (y, x), in the precision ``real``:
    the four neighbours (y0, x0, y1, x1), their weights (w00, w01, w10, w11), the fractions
    (ly, lx), whether the point is on the map at all (more than a cell outside: no) and whether
    y and x move the value (not clamped)."""
    zero = real(0)
    if not (y >= -1.0 and y <= height and x >= -1.0 and x <= width):   # NaN: off the map
        return 0, 0, 0, 0, zero, zero, zero, zero, zero, zero, False, False, False
    y_moves, x_moves = y >= 0, x >= 0
    if y <= 0:
        y = zero
    if x <= 0:
        x = zero
    y0, x0 = int(y), int(x)
    if y0 >= height - 1:
        y0 = y1 = height - 1
        y = real(y0)
        y_moves = False
    else:
        y1 = y0 + 1
    if x0 >= width - 1:
        x0 = x1 = width - 1
        x = real(x0)
        x_moves = False
    else:
        x1 = x0 + 1
    ly, lx = y - real(y0), x - real(x0)
    hy, hx = real(1) - ly, real(1) - lx
    return (y0, x0, y1, x1, hy * hx, hy * lx, ly * hx, ly * lx, ly, lx, True, y_moves,
            x_moves)


@numba.njit(cache=True)
def _roi_align_loops(x, batch, start_h, start_w, bin_h, bin_w, grid_h, grid_w, pooled_h,
                     pooled_w):
    """x: [N, H, W, C] channels-last -> out [K, oh, ow, C]. For every bin and sample point, the
    four neighbours and weights are computed once; the channel loop (innermost, contiguous)
    reuses them — what torchvision's CPU kernel precomputes per RoI."""
    n_rois = batch.shape[0]
    height, width, channels = x.shape[1], x.shape[2], x.shape[3]
    out = np.zeros((n_rois, pooled_h, pooled_w, channels), x.dtype)
    real = x.dtype.type
    acc = np.empty(channels, x.dtype)
    for k in range(n_rois):
        image = x[batch[k]]
        gh, gw = grid_h[k], grid_w[k]
        count = real(max(gh * gw, 1))
        for ph in range(pooled_h):
            for pw in range(pooled_w):
                acc[:] = 0
                for iy in range(gh):
                    y = start_h[k] + real(ph) * bin_h[k] + real(iy + 0.5) * bin_h[k] / real(gh)
                    for ix in range(gw):
                        xx = (start_w[k] + real(pw) * bin_w[k]
                              + real(ix + 0.5) * bin_w[k] / real(gw))
                        y0, x0, y1, x1, w00, w01, w10, w11, _, _, inside, _, _ = _bilinear(
                            y, xx, height, width, real)
                        if not inside:
                            continue
                        v00, v01, v10, v11 = image[y0, x0], image[y0, x1], image[y1, x0], \
                            image[y1, x1]
                        for c in range(channels):
                            acc[c] += w00 * v00[c] + w01 * v01[c] + w10 * v10[c] + w11 * v11[c]
                for c in range(channels):
                    out[k, ph, pw, c] = acc[c] / count
    return out


@numba.njit(cache=True)
def _roi_align_backward_loops(grad, batch, start_h, start_w, bin_h, bin_w, grid_h, grid_w,
                              grad_in, values, grad_rois, scale, aligned):
    """grad: [K, oh, ow, C] -> grad_in [N, H, W, C] (+=, in place): each sample hands its bin's
    gradient ÷ count to its four neighbours, by their weights (torchvision's ``g * w / count``).

    When ``values`` (the input, channels-last) is given, also the gradient with respect to the
    RoIs' corners (grad_rois [K, 5], column 0 — the batch index — stays 0): a sample at
    y = start + t · size moves by (1 − t) per unit of y1 and t per unit of y2 (× scale), and
    the value moves by the bilinear slope along y, ``(1 − lx)(v10 − v00) + lx (v11 − v01)``.
    A clamped coordinate (off the map, on the last row, an RoI held at 1 cell) does not move.
    """
    n_rois, pooled_h, pooled_w, channels = grad.shape
    height, width = grad_in.shape[1], grad_in.shape[2]
    real = grad.dtype.type
    with_boxes = values.shape[0] > 0
    for k in range(n_rois):
        b = batch[k]
        target = grad_in[b]
        gh, gw = grid_h[k], grid_w[k]
        count = real(max(gh * gw, 1))
        # the RoI's size follows its corners unless it was held at one cell (not aligned)
        size_moves_h = aligned or bin_h[k] * pooled_h > 1.0
        size_moves_w = aligned or bin_w[k] * pooled_w > 1.0
        for ph in range(pooled_h):
            for pw in range(pooled_w):
                g = grad[k, ph, pw]
                for iy in range(gh):
                    y = start_h[k] + real(ph) * bin_h[k] + real(iy + 0.5) * bin_h[k] / real(gh)
                    ty = (ph + (iy + 0.5) / gh) / pooled_h       # where y is along the RoI
                    for ix in range(gw):
                        xx = (start_w[k] + real(pw) * bin_w[k]
                              + real(ix + 0.5) * bin_w[k] / real(gw))
                        tx = (pw + (ix + 0.5) / gw) / pooled_w
                        y0, x0, y1, x1, w00, w01, w10, w11, ly, lx, inside, y_moves, \
                            x_moves = _bilinear(y, xx, height, width, real)
                        if not inside:
                            continue
                        for c in range(channels):
                            gc = g[c]
                            target[y0, x0, c] += gc * w00 / count
                            target[y0, x1, c] += gc * w01 / count
                            target[y1, x0, c] += gc * w10 / count
                            target[y1, x1, c] += gc * w11 / count
                        if not with_boxes or not (y_moves or x_moves):
                            continue
                        image = values[b]
                        d_y, d_x = 0.0, 0.0
                        for c in range(channels):
                            v00, v01 = image[y0, x0, c], image[y0, x1, c]
                            v10, v11 = image[y1, x0, c], image[y1, x1, c]
                            d_y += g[c] * ((1 - lx) * (v10 - v00) + lx * (v11 - v01))
                            d_x += g[c] * ((1 - ly) * (v01 - v00) + ly * (v11 - v10))
                        d_y, d_x = d_y * scale / count, d_x * scale / count
                        if y_moves:
                            ky = ty if size_moves_h else 0.0
                            grad_rois[k, 2] += d_y * (1 - ky)
                            grad_rois[k, 4] += d_y * ky
                        if x_moves:
                            kx = tx if size_moves_w else 0.0
                            grad_rois[k, 1] += d_x * (1 - kx)
                            grad_rois[k, 3] += d_x * kx
