"""Argument checks and RoI geometry shared by ``roi_pool`` and ``roi_align``."""
from __future__ import annotations

import math
from numbers import Real

import torch

from ._validate import check_tensor


def check_input(x, name: str = "input") -> torch.Tensor:
    check_tensor(x, name)
    if x.ndim != 4:
        raise ValueError(f"{name} must be a feature map [N, C, H, W], got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {x.dtype}")
    return x


def check_output_size(output_size) -> tuple[int, int]:
    if isinstance(output_size, bool):
        raise ValueError(f"output_size must be a positive int or (height, width), got {output_size!r}")
    if isinstance(output_size, int):
        output_size = (output_size, output_size)
    try:
        h, w = output_size
    except (TypeError, ValueError):
        raise ValueError(f"output_size must be a positive int or (height, width), "
                         f"got {output_size!r}") from None
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (h, w)):
        raise ValueError(f"output_size must be positive integers, got {output_size!r}")
    return h, w


def check_spatial_scale(scale) -> float:
    if isinstance(scale, bool) or not isinstance(scale, Real) or not math.isfinite(scale) \
            or scale <= 0:
        raise ValueError(f"spatial_scale must be a positive finite number, got {scale!r}")
    return float(scale)


def rois_from_boxes(boxes, x: torch.Tensor) -> torch.Tensor:
    """``Tensor[K, 5]`` (batch index, x1, y1, x2, y2), or a list of ``Tensor[L_i, 4]`` (one per
    image) -> checked ``Tensor[K, 5]`` in ``x``'s dtype."""
    if isinstance(boxes, (list, tuple)):
        parts = []
        for i, b in enumerate(boxes):
            check_tensor(b, f"boxes[{i}]")
            if b.ndim != 2 or b.shape[1] != 4:
                raise ValueError(f"boxes[{i}] must have shape [L, 4], got {tuple(b.shape)}")
            index = torch.full((b.shape[0], 1), i, dtype=x.dtype, device=b.device)
            parts.append(torch.cat([index, b.to(x.dtype)], dim=1))
        rois = torch.cat(parts) if parts else x.new_zeros((0, 5))
    else:
        check_tensor(boxes, "boxes")
        if boxes.ndim != 2 or boxes.shape[1] != 5:
            raise ValueError("boxes must be Tensor[K, 5] (batch_index, x1, y1, x2, y2) or a list "
                             f"of Tensor[L, 4], got shape {tuple(boxes.shape)}")
        rois = boxes.to(x.dtype)
    if rois.device != x.device:
        raise ValueError(f"boxes are on {rois.device} but input is on {x.device}")
    if rois.numel():
        if not bool(torch.isfinite(rois).all()):
            raise ValueError("boxes contain NaN or infinite values")
        index = rois[:, 0]
        bad = (index != index.round()) | (index < 0) | (index >= x.shape[0])
        if bool(bad.any()):
            k = int(bad.nonzero()[0, 0])
            raise ValueError(f"boxes[{k}] has batch index {index[k].item()}, but input holds "
                             f"{x.shape[0]} image(s): indices must be integers in [0, {x.shape[0]})")
    return rois


MAX_MAP_COORDINATE = 2.0 ** 30


def check_rois_range(rois: torch.Tensor, spatial_scale: float) -> torch.Tensor:
    """RoI corners on the feature map (coordinate × ``spatial_scale``) must lie within ±2^30
    cells. Beyond, torchvision's C++ kernels overflow their 32-bit integers (roi_pool's rounded
    corners and width, roi_align's adaptive samples per bin), so their answer is undefined
    (it pools [0, 0, 0, 1e30, 1e30] and [0, 0, 0, 3e9, 3e9] as the one cell (0, 0), where the
    map's maximum belongs in the first bin) and there is no value to agree with: we refuse such
    RoIs rather than pick one."""
    if rois.numel():
        far = (rois[:, 1:].double() * spatial_scale).abs() > MAX_MAP_COORDINATE
        if bool(far.any()):
            k = int(far.any(dim=1).nonzero()[0, 0])
            raise ValueError(f"boxes[{k}] is {rois[k].tolist()}: its corners × spatial_scale "
                             f"({spatial_scale}) must lie within ±2^30 cells of the map "
                             "(beyond, torchvision's integer arithmetic overflows)")
    return rois


def round_half_away(v: torch.Tensor) -> torch.Tensor:
    """C's ``round`` (2.5 -> 3, -2.5 -> -3), not torch's round-half-to-even; computed in float64
    so that e.g. 0.49999997 + 0.5 does not round up to 1 in float32."""
    v = v.double()
    return torch.sign(v) * torch.floor(v.abs() + 0.5)


def roi_pool_geometry(rois: torch.Tensor, spatial_scale: float, pooled: tuple[int, int]):
    """Per RoI: batch index, start row/col (int64), and bin height/width (in the input's dtype),
    with torchvision's rounding, so every path can compute identical bins::

        start = round(coord * scale)  (half away from zero), size = max(end - start + 1, 1),
        bin = size / pooled
    """
    scale = torch.tensor(spatial_scale, dtype=rois.dtype, device=rois.device)
    corners = round_half_away(rois[:, 1:] * scale).to(torch.int64)   # x1, y1, x2, y2
    width = (corners[:, 2] - corners[:, 0] + 1).clamp(min=1)
    height = (corners[:, 3] - corners[:, 1] + 1).clamp(min=1)
    bin_h = height.to(rois.dtype) / pooled[0]
    bin_w = width.to(rois.dtype) / pooled[1]
    return rois[:, 0].to(torch.int64), corners[:, 1], corners[:, 0], bin_h, bin_w


def bin_ranges(geometry, pooled: tuple[int, int], height: int, width: int, clamp: bool = True):
    """The cells each bin pools, from :func:`roi_pool_geometry`: half-open ranges
    ``rows Int64[K, oh, 2]`` (first row, one past the last) and ``cols Int64[K, ow, 2]``.

    Bin ``p`` spans ``floor(p · bin) .. ceil((p + 1) · bin)`` (in the bin size's precision),
    shifted by the RoI's first cell and clamped to the map: neighbouring bins can share a row
    or column, and a bin off the map is empty (lo == hi). ``clamp=False``: where the bins lie
    before clamping (to draw an empty bin off the map)."""
    _, start_h, start_w, bin_h, bin_w = geometry

    def edges(start, size, n, limit):
        p = torch.arange(n + 1, dtype=size.dtype, device=size.device)
        lo = torch.floor(p[None, :-1] * size[:, None]).to(torch.int64) + start[:, None]
        hi = torch.ceil(p[None, 1:] * size[:, None]).to(torch.int64) + start[:, None]
        if clamp:
            lo, hi = lo.clamp(0, limit), hi.clamp(0, limit)
        return torch.stack([lo, hi], dim=2)
    return edges(start_h, bin_h, pooled[0], height), edges(start_w, bin_w, pooled[1], width)


def check_sampling_ratio(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"sampling_ratio must be an int (<= 0: adaptive, ceil(bin size) samples "
                         f"per side; k > 0: k × k samples per bin), got {value!r}")
    return value


def roi_align_geometry(rois: torch.Tensor, spatial_scale: float, pooled: tuple[int, int],
                       sampling_ratio: int, aligned: bool):
    """Per RoI, in the input's dtype with torchvision's arithmetic, so every path samples the
    same points: batch index (int64), the RoI's top-left corner on the map (start_h, start_w),
    its bin size (bin_h, bin_w) and the samples per bin side (grid_h, grid_w, int64)::

        start = coord · scale − offset (offset 0.5 when aligned, else 0; nothing rounded)
        size = end − start, at least 1 when not aligned;  bin = size / pooled
        grid = sampling_ratio if > 0 else ceil(bin)
    """
    scale = torch.tensor(spatial_scale, dtype=rois.dtype, device=rois.device)
    offset = 0.5 if aligned else 0.0
    corners = rois[:, 1:] * scale - offset                  # x1, y1, x2, y2 on the map
    width, height = corners[:, 2] - corners[:, 0], corners[:, 3] - corners[:, 1]
    if not aligned:
        width, height = width.clamp(min=1.0), height.clamp(min=1.0)
    bin_h, bin_w = height / pooled[0], width / pooled[1]
    if sampling_ratio > 0:
        grid_h = torch.full_like(bin_h, sampling_ratio, dtype=torch.int64)
        grid_w = grid_h.clone()
    else:
        grid_h, grid_w = torch.ceil(bin_h).to(torch.int64), torch.ceil(bin_w).to(torch.int64)
    return (rois[:, 0].to(torch.int64), corners[:, 1], corners[:, 0], bin_h, bin_w, grid_h,
            grid_w)
