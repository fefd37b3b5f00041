"""Input checks shared by the ops: a clear ``ValueError`` naming the argument, never a crash,
a hang or a silent NaN further down."""
from __future__ import annotations

import math
from numbers import Real

import torch


def check_tensor(x, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    return x


def check_boxes(boxes, name: str = "boxes", *, floating: bool = False) -> torch.Tensor:
    """``boxes`` must be ``Tensor[N, 4]`` of ``(x1, y1, x2, y2)``, finite, with x2 >= x1, y2 >= y1.

    ``floating=True`` also requires a floating-point dtype (where the op needs fractions).
    """
    check_tensor(boxes, name)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"{name} must have shape [N, 4] as (x1, y1, x2, y2), "
                         f"got shape {tuple(boxes.shape)}")
    if boxes.dtype == torch.bool or boxes.is_complex():
        raise ValueError(f"{name} must hold real coordinates, got dtype {boxes.dtype}")
    if floating and not boxes.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {boxes.dtype}; "
                         f"convert it with {name}.float()")
    if boxes.numel() == 0:
        return boxes
    if boxes.is_floating_point():
        finite = torch.isfinite(boxes).all(dim=1)
        if not bool(finite.all()):
            i = int((~finite).nonzero()[0, 0])
            raise ValueError(f"{name} contains NaN or infinite coordinates (first at row {i}: "
                             f"{boxes[i].tolist()})")
    inverted = (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1])
    if bool(inverted.any()):
        i = int(inverted.nonzero()[0, 0])
        raise ValueError(f"{name} must have x2 >= x1 and y2 >= y1 (format x1, y1, x2, y2); "
                         f"row {i} is {boxes[i].tolist()}")
    return boxes


def check_scores(scores, n: int, name: str = "scores", boxes_name: str = "boxes") -> torch.Tensor:
    """``scores`` must be a finite floating ``Tensor[N]`` with one score per box."""
    check_tensor(scores, name)
    if scores.ndim != 1:
        raise ValueError(f"{name} must have shape [N], got shape {tuple(scores.shape)}")
    if scores.shape[0] != n:
        raise ValueError(f"{name} has {scores.shape[0]} entries but {boxes_name} has {n} boxes; "
                         "they must match one to one")
    if not scores.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got {scores.dtype}")
    if scores.numel() and not bool(torch.isfinite(scores).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return scores


def check_threshold(value, name: str = "iou_threshold") -> float:
    """An IoU threshold is a real number in [0, 1]."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    value = float(value)
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value}")
    return value
