"""Input checks shared by the ops: a clear ``ValueError`` naming the argument, never a crash,
a hang or a silent NaN further down."""
from __future__ import annotations

import math
from numbers import Integral, Real

import torch


def check_tensor(x, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    return x


def check_boxes(boxes, name: str = "boxes", *, floating: bool = False, fmt: str = "xyxy"
                ) -> torch.Tensor:
    """``boxes`` must be ``Tensor[N, 4]`` of ``(x1, y1, x2, y2)``, finite, with x2 >= x1, y2 >= y1.

    ``floating=True`` also requires a floating-point dtype (where the op needs fractions).
    ``fmt="xywh"`` / ``"cxcywh"``: the boxes are in that format, so w >= 0 and h >= 0 instead.
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
    # one reduction per check on the way through (every op calls this); rows found only on error
    if boxes.is_floating_point() and not bool(torch.isfinite(boxes).all()):
        i = int((~torch.isfinite(boxes).all(dim=1)).nonzero()[0, 0])
        raise ValueError(f"{name} contains NaN or infinite coordinates (first at row {i}: "
                         f"{boxes[i].tolist()})")
    inverted = boxes[:, 2:] < (boxes[:, :2] if fmt == "xyxy" else 0)
    if bool(inverted.any()):
        i = int(inverted.any(dim=1).nonzero()[0, 0])
        rule = ("x2 >= x1 and y2 >= y1 (format x1, y1, x2, y2)" if fmt == "xyxy"
                else f"w >= 0 and h >= 0 (format {fmt})")
        raise ValueError(f"{name} must have {rule}; row {i} is {boxes[i].tolist()}")
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


def check_number(value, name: str, *, minimum: float | None = None, maximum: float | None = None,
                 integer: bool = False, positive: bool = False, expected: str | None = None):
    """A real number (a Python / NumPy number or a one-element tensor; not a bool, not NaN or
    infinite) within ``[minimum, maximum]``, > 0 when ``positive``; ``integer`` also requires a
    whole number of an integer type. Returns an ``int`` for an integer, else a ``float``."""
    what = expected or ("an int" if integer else "a finite number")
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if integer:
        if isinstance(value, bool) or not isinstance(value, Integral):
            raise ValueError(f"{name} must be {what}, got {value!r}")
        value = int(value)
    else:
        if isinstance(value, bool) or not isinstance(value, Real):
            raise ValueError(f"{name} must be {what}, got {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"{name} must be {what}, got {value}")
        value = int(value) if isinstance(value, Integral) else float(value)
    if ((minimum is not None and value < minimum) or (maximum is not None and value > maximum)
            or (positive and value <= 0)):
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return value


def check_finite(x: torch.Tensor, name: str) -> torch.Tensor:
    """No NaN or infinite entry in a floating tensor (one reduction, no Python loop)."""
    if x.is_floating_point() and x.numel() and not bool(torch.isfinite(x).all()):
        i = int((~torch.isfinite(x)).flatten().nonzero()[0, 0])
        where = "index" if x.ndim <= 1 else "flat index"
        raise ValueError(f"{name} contains NaN or infinite values (first at {where} {i}: "
                         f"{x.flatten()[i].item()})")
    return x


def check_unit_interval(x: torch.Tensor, name: str, what: str = "IoU values") -> torch.Tensor:
    """A tensor of values in [0, 1] (IoUs, probabilities): finite and in range."""
    check_finite(x, name)
    if x.numel():
        low, high = (float(v) for v in torch.aminmax(x))
        if low < 0 or high > 1:
            raise ValueError(f"{name} must hold {what} in [0, 1], got values from {low} to {high}")
    return x


def check_class_labels(labels: torch.Tensor, name: str) -> torch.Tensor:
    """Object classes of a detection target or prediction: whole numbers >= 1 (0 is the
    background, which is neither annotated nor detected)."""
    if labels.dtype == torch.bool or labels.is_complex():
        raise ValueError(f"{name} must hold integer class labels 1..K, got dtype {labels.dtype}")
    if labels.numel():
        if labels.is_floating_point():
            check_finite(labels, name)
            fractional = labels != labels.round()
            if bool(fractional.any()):
                i = int(fractional.nonzero()[0, 0])
                raise ValueError(f"{name} must hold integer class labels 1..K, entry {i} is "
                                 f"{labels[i].item()}")
        below = labels < 1
        if bool(below.any()):
            i = int(below.nonzero()[0, 0])
            raise ValueError(f"{name} must hold class labels 1..K (0 is the background), entry "
                             f"{i} is {labels[i].item()}")
    return labels


def check_rois_ordered(rois: torch.Tensor, name: str = "boxes") -> torch.Tensor:
    """RoIs ``Tensor[K, 5]`` (batch index, x1, y1, x2, y2) with x2 >= x1 and y2 >= y1 (for
    ``roi_pool``; ``roi_align`` keeps torchvision's acceptance of inverted RoIs)."""
    if rois.numel():
        inverted = (rois[:, 3] < rois[:, 1]) | (rois[:, 4] < rois[:, 2])
        if bool(inverted.any()):
            k = int(inverted.nonzero()[0, 0])
            raise ValueError(f"{name} must have x2 >= x1 and y2 >= y1 (batch_index, x1, y1, x2, "
                             f"y2); RoI {k} is {rois[k].tolist()}")
    return rois
