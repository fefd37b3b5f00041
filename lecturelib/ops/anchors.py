"""Anchors (Faster R-CNN): at every cell of a feature map, boxes of a few sizes and shapes.

An anchor is a centre, a size (the square root of its area, in image pixels) and an aspect
ratio ``h / w``. For ratio ``r`` and size ``s`` the box is ``w = s / sqrt(r)`` wide and
``h = s * sqrt(r)`` high, so every ratio of one size covers the same area. The ``A = |ratios| ×
|sizes|`` shapes of one location are computed once, centred on 0 and rounded to whole pixels,
then copied to every cell of the ``H × W`` map, ``stride`` pixels apart::

    base anchors  round([-w, -h, w, h] / 2)              Float[A, 4]   (ratio-major, then size)
    centres       (x * stride_x, y * stride_y)            for x < W, y < H (row-major)
    anchors       centre + base anchor                     Float[H * W * A, 4]

This is torchvision's ``AnchorGenerator`` for one feature level, value for value, including
two of its conventions: the rounding is torch's (half to even: 22.5 -> 22), and a cell's
anchors are centred on the cell's *corner* ``x * stride``, not on its centre
``(x + 0.5) * stride`` (torchvision issue #1765; the paper's Caffe code centres them on
``(stride - 1) / 2``). ``centred=True`` gives the cell-centred variant, to compare.
:func:`lecturelib.ops.reference.make_anchors_reference` is the same as plain loops.
"""
from __future__ import annotations

import math
from numbers import Real

import torch


def _positive_ints(value, name: str, count: int) -> tuple[int, ...]:
    values = (value,) * count if isinstance(value, int) and not isinstance(value, bool) else value
    try:
        values = tuple(values)
    except TypeError:
        raise ValueError(f"{name} must be a positive int or {count} of them, got {value!r}") \
            from None
    if len(values) != count or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0
                                       for v in values):
        raise ValueError(f"{name} must be a positive int or {count} of them, got {value!r}")
    return values


def _positive_numbers(value, name: str) -> tuple[float, ...]:
    values = (value,) if isinstance(value, Real) and not isinstance(value, bool) else value
    try:
        values = tuple(values)
    except TypeError:
        raise ValueError(f"{name} must be a non-empty sequence of positive numbers, "
                         f"got {value!r}") from None
    if not values or not all(isinstance(v, Real) and not isinstance(v, bool) and math.isfinite(v)
                             and v > 0 for v in values):
        raise ValueError(f"{name} must be a non-empty sequence of positive finite numbers, "
                         f"got {value!r}")
    return tuple(float(v) for v in values)


def check_anchor_args(feature_size, stride, sizes, aspect_ratios):
    """The arguments of :func:`make_anchors`, checked: ``((H, W), (sy, sx), sizes, ratios)``."""
    return (_positive_ints(feature_size, "feature_size", 2), _positive_ints(stride, "stride", 2),
            _positive_numbers(sizes, "sizes"), _positive_numbers(aspect_ratios, "aspect_ratios"))


def base_anchors(sizes, aspect_ratios, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The A anchors of one location, centred on (0, 0): Float[A, 4], ratio-major then size."""
    sizes = torch.as_tensor(_positive_numbers(sizes, "sizes"), dtype=dtype)
    ratios = torch.as_tensor(_positive_numbers(aspect_ratios, "aspect_ratios"), dtype=dtype)
    h_ratios = torch.sqrt(ratios)
    w_ratios = 1 / h_ratios
    ws = (w_ratios[:, None] * sizes[None, :]).reshape(-1)
    hs = (h_ratios[:, None] * sizes[None, :]).reshape(-1)
    return (torch.stack([-ws, -hs, ws, hs], dim=1) / 2).round()


def make_anchors(feature_size, stride, sizes, aspect_ratios, *, centred: bool = False, dtype: torch.dtype = torch.float32,
                 device=None) -> torch.Tensor:
    """Every anchor of an ``H × W`` feature map: Float[H * W * A, 4] as (x1, y1, x2, y2).

    ``feature_size``: ``(H, W)`` (or one int); ``stride``: image pixels per cell, an int or
    ``(sy, sx)`` (torchvision: image size // feature size); ``sizes`` and ``aspect_ratios``
    (h / w): positive numbers, A = len(sizes) × len(aspect_ratios). Row ``(y * W + x) * A + a``
    is anchor ``a`` of cell ``(y, x)``. ``centred=True`` centres each cell's anchors on
    ``(x + 0.5) * stride`` instead of torchvision's ``x * stride``.
    """
    (height, width), (sy, sx), sizes, ratios = check_anchor_args(feature_size, stride, sizes,
                                                                  aspect_ratios)
    cell = base_anchors(sizes, ratios, dtype).to(device)
    offset = 0.5 if centred else 0.0
    xs = (torch.arange(width, dtype=dtype, device=device) + offset) * sx
    ys = (torch.arange(height, dtype=dtype, device=device) + offset) * sy
    cy, cx = torch.meshgrid(ys, xs, indexing="ij")
    centres = torch.stack([cx, cy, cx, cy], dim=-1).reshape(-1, 1, 4)
    return (centres + cell[None]).reshape(-1, 4)
