"""Box geometry: area, IoU, format conversion, clipping, small-box removal.

Same arguments and values as ``torchvision.ops`` (boxes are ``Tensor[N, 4]`` as
``(x1, y1, x2, y2)`` in pixels, width = ``x2 - x1``), with two differences a lesson relies on:

- bad input raises ``ValueError`` naming the argument (NaN/inf, x2 < x1, wrong shape);
- the IoU of two zero-area boxes is 0, where torchvision returns NaN (0 / 0).

Like torchvision, float16 / bfloat16 / integer boxes are upcast: the IoU comes back as float32
(float64 stays float64); ``box_area`` keeps integers exact as torchvision does (int64 stays
int64, smaller integer types become int32).
"""
from __future__ import annotations

import torch

from ._validate import check_boxes, check_number, check_tensor
from .backends import implementation


def _upcast(boxes: torch.Tensor) -> torch.Tensor:
    """float16 / bfloat16 / integers -> float32; float32 and float64 unchanged."""
    return boxes if boxes.dtype in (torch.float32, torch.float64) else boxes.float()


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    """Tensor[N, 4] -> Tensor[N]: ``(x2 - x1) * (y2 - y1)``, in torchvision's dtype: float32 /
    float64 / int32 / int64 as given, float16 / bfloat16 -> float32, other integers -> int32."""
    check_boxes(boxes)
    if boxes.is_floating_point():
        boxes = _upcast(boxes)
    elif boxes.dtype not in (torch.int32, torch.int64):
        boxes = boxes.int()
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def box_iou(boxes1: torch.Tensor, boxes2: torch.Tensor, *, backend: str | None = None
            ) -> torch.Tensor:
    """Intersection over union of every pair: Tensor[N, 4], Tensor[M, 4] -> Tensor[N, M].

    ``iou[i, j] = area(b1_i ∩ b2_j) / area(b1_i ∪ b2_j)``, 0 when the union is empty.
    ``backend``: "auto" | "reference" | "cpu" | "triton" (see :mod:`lecturelib.ops.backends`).
    """
    check_boxes(boxes1, "boxes1")
    check_boxes(boxes2, "boxes2")
    if boxes1.device != boxes2.device:
        raise ValueError(f"boxes1 is on {boxes1.device} but boxes2 is on {boxes2.device}")
    return implementation("box_iou", backend, boxes1, boxes2)(_upcast(boxes1), _upcast(boxes2))


def box_iou_cpu(b1: torch.Tensor, b2: torch.Tensor) -> torch.Tensor:
    """Vectorised IoU with the arithmetic of torchvision, in three N×M buffers.

    torchvision builds [N, M, 2] corner tensors; working on one coordinate at a time and in place
    needs less memory traffic and gives bit-identical values.
    """
    if b1.dtype != b2.dtype:
        b1, b2 = b1.to(torch.float64), b2.to(torch.float64)
    area1 = (b1[:, 2] - b1[:, 0]) * (b1[:, 3] - b1[:, 1])
    area2 = (b2[:, 2] - b2[:, 0]) * (b2[:, 3] - b2[:, 1])
    c1 = [b1[:, k].contiguous()[:, None] for k in range(4)]  # N×1 columns
    c2 = [b2[:, k].contiguous()[None, :] for k in range(4)]  # 1×M rows
    if torch.is_grad_enabled() and (b1.requires_grad or b2.requires_grad):
        w = (torch.minimum(c1[2], c2[2]) - torch.maximum(c1[0], c2[0])).clamp(min=0)
        h = (torch.minimum(c1[3], c2[3]) - torch.maximum(c1[1], c2[1])).clamp(min=0)
        inter = w * h
        union = area1[:, None] + area2[None, :] - inter
        return torch.where(union > 0, inter / union.masked_fill(union == 0, 1), 0.0)
    inter = torch.minimum(c1[2], c2[2])
    tmp = torch.maximum(c1[0], c2[0])
    inter.sub_(tmp).clamp_(min=0)                         # widths of the intersections
    h = torch.minimum(c1[3], c2[3], out=tmp)
    h.sub_(torch.maximum(c1[1], c2[1])).clamp_(min=0)     # heights of the intersections
    inter.mul_(h)
    union = torch.add(area1[:, None], area2[None, :], out=h)
    union.sub_(inter)
    iou = inter.div_(union)
    if bool((area1 == 0).any()) and bool((area2 == 0).any()):
        iou.nan_to_num_(nan=0.0)                          # 0 / 0: two empty boxes
    return iou


_FORMATS = ("xyxy", "xywh", "cxcywh")


def box_convert(boxes: torch.Tensor, in_fmt: str, out_fmt: str) -> torch.Tensor:
    """Convert Tensor[N, 4] between "xyxy", "xywh" (corner + size) and "cxcywh" (centre + size).

    ``boxes`` must be finite, with x2 >= x1, y2 >= y1 ("xyxy") or w, h >= 0 (the others).
    """
    for name, fmt in (("in_fmt", in_fmt), ("out_fmt", out_fmt)):
        if fmt not in _FORMATS:
            raise ValueError(f"{name} must be one of {_FORMATS}, got {fmt!r}")
    check_boxes(boxes, fmt=in_fmt)
    if in_fmt == out_fmt:
        return boxes.clone()
    a, b, c, d = boxes.unbind(1)
    if in_fmt == "xywh":
        a, b, c, d = a, b, a + c, b + d
    elif in_fmt == "cxcywh":
        a, b, c, d = a - 0.5 * c, b - 0.5 * d, a + 0.5 * c, b + 0.5 * d
    # now (a, b, c, d) = (x1, y1, x2, y2)
    if out_fmt == "xywh":
        a, b, c, d = a, b, c - a, d - b
    elif out_fmt == "cxcywh":
        a, b, c, d = (a + c) / 2, (b + d) / 2, c - a, d - b
    return torch.stack((a, b, c, d), dim=1)


def clip_boxes_to_image(boxes: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Clamp x to [0, width] and y to [0, height]; ``size`` is ``(height, width)``.

    Accepts Tensor[..., 4] like torchvision; the boxes must be finite with x2 >= x1, y2 >= y1,
    and ``size`` two finite numbers >= 0 (ints, floats or one-element tensors).
    """
    check_tensor(boxes, "boxes")
    if boxes.ndim < 1 or boxes.shape[-1] != 4:
        raise ValueError(f"boxes must have shape [..., 4], got shape {tuple(boxes.shape)}")
    check_boxes(boxes.reshape(-1, 4))
    try:
        entries = len(size)
    except TypeError:
        entries = -1
    if isinstance(size, str) or entries != 2:
        raise ValueError(f"size must be (height, width) with non-negative entries, got {size!r}")
    height, width = (check_number(v, f"size[{i}] ({part})", minimum=0,
                                  expected="a finite number >= 0 (size is (height, width))")
                     for i, (v, part) in enumerate(zip(size, ("height", "width"))))
    x = boxes[..., 0::2].clamp(min=0, max=width)
    y = boxes[..., 1::2].clamp(min=0, max=height)
    return torch.stack((x, y), dim=-1).reshape(boxes.shape)


def remove_small_boxes(boxes: torch.Tensor, min_size: float) -> torch.Tensor:
    """Indices (Int64[K]) of the boxes whose width and height are both >= ``min_size``."""
    check_boxes(boxes)
    if not min_size >= 0:
        raise ValueError(f"min_size must be a non-negative number, got {min_size!r}")
    ws, hs = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    return torch.where((ws >= min_size) & (hs >= min_size))[0]
