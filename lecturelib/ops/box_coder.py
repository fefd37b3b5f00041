"""Box deltas, the R-CNN parametrisation (torchvision's ``BoxCoder``).

A detector does not predict box corners; it predicts how to move and stretch a proposal (or an
anchor) with centre (px, py) and size (pw, ph) onto the object (gx, gy, gw, gh)::

    dx = wx * (gx - px) / pw      dw = ww * log(gw / pw)
    dy = wy * (gy - py) / ph      dh = wh * log(gh / ph)

The weights scale the targets to similar ranges: (1, 1, 1, 1) for the RPN, (10, 10, 5, 5) for
the box head. Decoding clamps dw, dh at log(1000 / 16) so that exp() cannot overflow.
Widths are ``x2 - x1`` and centres ``x1 + 0.5 w``, so results equal torchvision's bit for bit.
"""
from __future__ import annotations

import math

import torch

from ._validate import check_boxes, check_number, check_tensor
from .backends import implementation

BBOX_XFORM_CLIP = math.log(1000.0 / 16)


def _check_weights(weights) -> tuple[float, float, float, float]:
    try:
        values = tuple(float(w) for w in weights)
    except TypeError:
        raise ValueError(f"weights must be 4 positive numbers (wx, wy, ww, wh), got {weights!r}") \
            from None
    if len(values) != 4 or not all(w > 0 and math.isfinite(w) for w in values):
        raise ValueError(f"weights must be 4 positive numbers (wx, wy, ww, wh), got {weights!r}")
    return values


def encode_boxes(reference_boxes: torch.Tensor, proposals: torch.Tensor,
                 weights=(1.0, 1.0, 1.0, 1.0), *, backend: str | None = None) -> torch.Tensor:
    """Deltas that turn each proposal into its reference box: Float[N, 4], Float[N, 4] -> [N, 4].

    Both must have positive width and height (a zero size would make a log(0) or a 0 division).
    ``backend``: "auto" | "reference" | "cpu" (no Triton kernel: "auto" runs the CPU path, which
    is plain tensor arithmetic and runs on CUDA tensors too).
    """
    check_boxes(reference_boxes, "reference_boxes", floating=True)
    check_boxes(proposals, "proposals", floating=True)
    if reference_boxes.shape[0] != proposals.shape[0]:
        raise ValueError(f"reference_boxes has {reference_boxes.shape[0]} boxes but proposals has "
                         f"{proposals.shape[0]}; encode_boxes pairs them row by row")
    weights = _check_weights(weights)
    for name, b in (("reference_boxes", reference_boxes), ("proposals", proposals)):
        empty = (b[:, 2] <= b[:, 0]) | (b[:, 3] <= b[:, 1])
        if bool(empty.any()):
            i = int(empty.nonzero()[0, 0])
            raise ValueError(f"{name} must have positive width and height to be encoded; "
                             f"row {i} is {b[i].tolist()}")
    return implementation("encode_boxes", backend, proposals)(reference_boxes, proposals, weights)


def encode_boxes_cpu(reference_boxes: torch.Tensor, proposals: torch.Tensor,
                     weights: tuple[float, float, float, float]) -> torch.Tensor:
    """The vectorised encoding, column by column (torchvision's arithmetic, bit for bit)."""
    wx, wy, ww, wh = weights
    pw = proposals[:, 2] - proposals[:, 0]
    ph = proposals[:, 3] - proposals[:, 1]
    px = proposals[:, 0] + 0.5 * pw
    py = proposals[:, 1] + 0.5 * ph
    gw = reference_boxes[:, 2] - reference_boxes[:, 0]
    gh = reference_boxes[:, 3] - reference_boxes[:, 1]
    gx = reference_boxes[:, 0] + 0.5 * gw
    gy = reference_boxes[:, 1] + 0.5 * gh
    dx = wx * (gx - px) / pw
    dy = wy * (gy - py) / ph
    dw = ww * torch.log(gw / pw)
    dh = wh * torch.log(gh / ph)
    return torch.stack((dx, dy, dw, dh), dim=1)


def decode_boxes(deltas: torch.Tensor, boxes: torch.Tensor, weights=(1.0, 1.0, 1.0, 1.0),
                 clip: float = BBOX_XFORM_CLIP, *, backend: str | None = None) -> torch.Tensor:
    """Apply deltas to boxes: Float[N, 4k] (k sets, e.g. one per class), Float[N, 4] -> [N, 4k].

    The inverse of :func:`encode_boxes` (up to the clamp of dw, dh at ``clip``, a finite number).
    ``backend``: "auto" | "reference" | "cpu", as for :func:`encode_boxes`.
    """
    check_tensor(deltas, "deltas")
    if deltas.ndim != 2 or deltas.shape[1] % 4 != 0:
        raise ValueError(f"deltas must have shape [N, 4k], got shape {tuple(deltas.shape)}")
    if not deltas.is_floating_point():
        raise ValueError(f"deltas must be a floating-point tensor, got {deltas.dtype}")
    if deltas.numel() and not bool(torch.isfinite(deltas).all()):
        raise ValueError("deltas contains NaN or infinite values")
    check_boxes(boxes, floating=True)
    if deltas.shape[0] != boxes.shape[0]:
        raise ValueError(f"deltas has {deltas.shape[0]} rows but boxes has {boxes.shape[0]}")
    weights = _check_weights(weights)
    clip = check_number(clip, "clip", expected="a finite number (the most dw, dh may reach, "
                                              "default log(1000 / 16))")
    return implementation("decode_boxes", backend, deltas)(deltas, boxes.to(deltas.dtype),
                                                            weights, clip)


def decode_boxes_cpu(deltas: torch.Tensor, boxes: torch.Tensor,
                     weights: tuple[float, float, float, float], clip: float) -> torch.Tensor:
    """The vectorised decoding: every set of 4 deltas at once (torchvision's arithmetic)."""
    wx, wy, ww, wh = weights
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    cx = boxes[:, 0] + 0.5 * w
    cy = boxes[:, 1] + 0.5 * h
    dx = deltas[:, 0::4] / wx
    dy = deltas[:, 1::4] / wy
    dw = torch.clamp(deltas[:, 2::4] / ww, max=clip)
    dh = torch.clamp(deltas[:, 3::4] / wh, max=clip)
    new_cx = dx * w[:, None] + cx[:, None]
    new_cy = dy * h[:, None] + cy[:, None]
    half_w = 0.5 * (torch.exp(dw) * w[:, None])
    half_h = 0.5 * (torch.exp(dh) * h[:, None])
    out = torch.stack((new_cx - half_w, new_cy - half_h, new_cx + half_w, new_cy + half_h), dim=2)
    return out.flatten(1)
