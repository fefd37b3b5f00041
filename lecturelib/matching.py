"""Labelling proposals by IoU: which become positives, negatives, or are ignored.

Every detector in the course trains on labels made the same way:

- R-CNN's SVMs: negatives have IoU < 0.3 with every ground truth;
- Fast R-CNN: foreground IoU >= 0.5, background in [0.1, 0.5);
- the RPN: positive IoU >= 0.7, negative IoU < 0.3, the rest ignored — plus, for each ground
  truth, the anchors that overlap it best are positive even below 0.7.

:func:`iou_label` is the rule for one IoU; :func:`match_proposals` applies it to a whole
ground-truth × proposal IoU matrix with the semantics of torchvision's ``Matcher``.
"""
from __future__ import annotations

import torch

from .ops._validate import check_tensor, check_threshold

POSITIVE, NEGATIVE, IGNORED = 1, 0, -1
BELOW_LOW_THRESHOLD, BETWEEN_THRESHOLDS = -1, -2  # torchvision.models.detection._utils.Matcher


def _check_thresholds(high: float, low: float) -> tuple[float, float]:
    high = check_threshold(high, "high_threshold")
    low = check_threshold(low, "low_threshold")
    if low > high:
        raise ValueError(f"low_threshold ({low}) must not exceed high_threshold ({high})")
    return high, low


def iou_label(iou, high_threshold: float, low_threshold: float):
    """1 (positive) if IoU >= high, 0 (negative) if IoU < low, else -1 (ignored).

    Works on a number (returns an int) or a tensor (returns Int64 of the same shape).
    """
    high, low = _check_thresholds(high_threshold, low_threshold)
    if isinstance(iou, torch.Tensor):
        labels = torch.full(iou.shape, IGNORED, dtype=torch.int64, device=iou.device)
        labels[iou >= high] = POSITIVE
        labels[iou < low] = NEGATIVE
        return labels
    iou = float(iou)
    return POSITIVE if iou >= high else NEGATIVE if iou < low else IGNORED


def match_proposals(iou: torch.Tensor, high_threshold: float, low_threshold: float,
                    allow_low_quality_matches: bool = False) -> torch.Tensor:
    """For each proposal, the index of its ground truth, or -1 (below low) / -2 (in between).

    ``iou``: Float[G, P], ground truths × proposals. Returns Int64[P]. With
    ``allow_low_quality_matches``, every proposal that ties for the best IoU of some ground truth
    is matched to its own best ground truth even below ``high_threshold`` (Faster R-CNN's rule).
    """
    check_tensor(iou, "iou")
    if iou.ndim != 2:
        raise ValueError(f"iou must be a [G, P] matrix, got shape {tuple(iou.shape)}")
    high, low = _check_thresholds(high_threshold, low_threshold)
    if iou.shape[0] == 0:
        raise ValueError("iou has no ground-truth rows: an image without objects has only "
                         "negatives; label its proposals directly")
    best_iou, matches = iou.max(dim=0)
    all_matches = matches.clone()
    matches[best_iou < low] = BELOW_LOW_THRESHOLD
    matches[(best_iou >= low) & (best_iou < high)] = BETWEEN_THRESHOLDS
    if allow_low_quality_matches:
        best_per_gt = iou.max(dim=1, keepdim=True).values
        proposals = torch.nonzero(iou == best_per_gt)[:, 1]
        matches[proposals] = all_matches[proposals]
    return matches
