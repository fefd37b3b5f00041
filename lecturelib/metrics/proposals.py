"""How well region proposals cover the objects: recall at an IoU threshold, and (M)ABO.

Proposals (selective search, an RPN) carry no class and are judged only by whether some
proposal lands on every ground-truth (GT) box. For one GT box, its *best overlap* is the highest
IoU any proposal of its image reaches with it. From there:

- **recall** at IoU ``τ`` with the first ``n`` proposals (Hosang et al., 2015): the fraction of GT
  boxes whose best overlap among the first ``n`` proposals of their image is >= ``τ``;
- **ABO**, average best overlap of a class (Uijlings et al., 2013): the mean best overlap of its GT
  boxes; **MABO**: the mean of the ABOs over classes, so rare classes weigh as much as common ones.

Inputs are lists over images (a single ``[N, 4]`` tensor counts as one image): proposals
``Float[P_i, 4]`` in rank order (best first), GT ``Float[G_i, 4]``, both ``(x1, y1, x2, y2)``.
IoU is :func:`lecturelib.ops.box_iou` in float64 (0 for two empty boxes, never NaN).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def proposal_recall(proposals, gt_boxes, iou_threshold: float = 0.5,
                    num_proposals: int | Sequence[int] | None = None) -> float | np.ndarray:
    """Fraction of GT boxes covered (IoU >= ``iou_threshold``) by one of the first
    ``num_proposals`` proposals of their image (all of them when None or larger than P_i).

    Returns a float, or Float64[len(num_proposals)] when ``num_proposals`` is a sequence
    (a recall-vs-number-of-proposals curve computed in one pass).
    """
    from ..ops._validate import check_threshold   # lazily, as box_iou below

    iou_threshold = check_threshold(iou_threshold, "iou_threshold")
    best = _best_overlaps_so_far(proposals, gt_boxes)
    total = sum(b.shape[1] for b in best)
    if total == 0:
        raise ValueError("gt_boxes holds no boxes: recall is undefined")
    single = num_proposals is None or np.ndim(num_proposals) == 0
    counts = [num_proposals] if single else list(num_proposals)
    recalls = []
    for n in counts:
        if n is not None and (isinstance(n, bool) or int(n) != n or n < 0):
            raise ValueError(f"num_proposals must be None, an int >= 0 or a sequence of them, "
                             f"got {num_proposals!r}")
        covered = 0
        for b in best:                       # b[j] = best overlaps with the first j+1 proposals
            if len(b) and n != 0:
                row = b[-1] if n is None else b[min(int(n), len(b)) - 1]
                covered += int((row >= iou_threshold).sum())
        recalls.append(covered / total)
    return recalls[0] if single else np.array(recalls, dtype=np.float64)


def average_best_overlap(proposals, gt_boxes, gt_labels=None) -> dict:
    """ABO per class: ``{label: mean over that class's GT boxes of their best overlap}``.

    Without ``gt_labels`` (a list of Int64[G_i]) all boxes form one class, keyed ``None``.
    A GT box in an image without proposals has best overlap 0.
    """
    best = [b[-1] if len(b) else torch.zeros(b.shape[1], dtype=torch.float64)
            for b in _best_overlaps_so_far(proposals, gt_boxes)]
    if gt_labels is None:
        labels = [torch.zeros(len(b), dtype=torch.int64) for b in best]
    else:
        labels = [_as_tensor(lab, f"gt_labels[{i}]").long().reshape(-1)
                  for i, lab in enumerate(_as_list(gt_labels, "gt_labels", 1))]
        if len(labels) != len(best) or any(len(c) != len(b) for c, b in zip(labels, best)):
            raise ValueError("gt_labels must hold one label per box of gt_boxes")
    empty = [torch.zeros(0, dtype=torch.int64)]           # so that no images at all works too
    best, labels = torch.cat(best + empty).double(), torch.cat(labels + empty)
    return {(None if gt_labels is None else int(c)): float(best[labels == c].mean())
            for c in torch.unique(labels)}


def mean_average_best_overlap(proposals, gt_boxes, gt_labels=None) -> float:
    """MABO: the mean over classes of :func:`average_best_overlap`."""
    abo = average_best_overlap(proposals, gt_boxes, gt_labels)
    if not abo:
        raise ValueError("gt_boxes holds no boxes: MABO is undefined")
    return float(np.mean(list(abo.values())))


def _best_overlaps_so_far(proposals, gt_boxes) -> list[torch.Tensor]:
    """Per image Float64[P_i, G_i]: row j = best IoU of each GT box with proposals 0..j."""
    proposals = _as_list(proposals, "proposals")
    gt_boxes = _as_list(gt_boxes, "gt_boxes")
    if len(proposals) != len(gt_boxes):
        raise ValueError(f"proposals has {len(proposals)} images but gt_boxes has "
                         f"{len(gt_boxes)}; they must be lists of the same length")
    from ..ops import box_iou   # lazily: metrics stay importable without the kernels

    out = []
    for i, (p, g) in enumerate(zip(proposals, gt_boxes)):
        p, g = _as_boxes(p, f"proposals[{i}]"), _as_boxes(g, f"gt_boxes[{i}]")
        out.append(torch.cummax(box_iou(p, g, backend="cpu"), dim=0).values if len(p) and len(g)
                   else torch.zeros(len(p), len(g), dtype=torch.float64))
    return out


def _as_list(value, name: str, ndim: int = 2) -> list:
    if isinstance(value, (torch.Tensor, np.ndarray)) and value.ndim == ndim:
        return [value]                         # one image
    if isinstance(value, (str, dict)) or not isinstance(value, Sequence):
        shape = "[N, 4]" if ndim == 2 else "[N]"
        raise ValueError(f"{name} must be a list with one {shape} tensor per image, "
                         f"got {type(value).__name__}")
    return list(value)


def _as_tensor(value, name: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    try:
        return torch.as_tensor(np.asarray(value))
    except Exception as error:
        raise ValueError(f"{name} must be a tensor or an array") from error


def _as_boxes(value, name: str) -> torch.Tensor:
    boxes = _as_tensor(value, name).to(torch.float64)
    boxes = boxes.reshape(0, 4) if boxes.numel() == 0 else boxes
    from ..ops._validate import check_boxes

    return check_boxes(boxes, name)       # shape [N, 4], finite, x2 >= x1, y2 >= y1
