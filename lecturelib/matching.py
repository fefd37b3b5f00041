"""Labelling proposals by IoU, and sampling a balanced mini-batch from the labels.

Every detector in the course trains on labels made the same way, with its own thresholds:

- R-CNN fine-tuning: foreground IoU >= 0.5, the rest background (its SVMs: negatives < 0.3);
- Fast R-CNN: foreground IoU >= 0.5, background in [0.1, 0.5), below 0.1 unused;
- the RPN: positive IoU >= 0.7, negative IoU < 0.3, the rest ignored — plus, for each ground
  truth, the anchors that overlap it best are positive even below 0.7.

Then each takes a mini-batch with a fixed share of positives, since background dominates.

- :func:`iou_label` — the rule for one IoU;
- :func:`match_proposals` — the rule for a whole ground-truth × proposal IoU matrix, with the
  semantics of torchvision's ``Matcher`` (which ground truth each proposal is matched to);
- :func:`matched_labels` — class labels from the matches: the class, 0 background, -1 ignored;
- :func:`sample_balanced` — up to ``positive_fraction`` of ``batch_size`` positives, the rest
  negatives, at random (torchvision's ``BalancedPositiveNegativeSampler``; seeded).
"""
from __future__ import annotations

import torch

from .ops._validate import check_number, check_tensor, check_threshold, check_unit_interval

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

    Works on a number (returns an int) or a tensor (returns Int64 of the same shape); an IoU is
    in [0, 1] (NaN or a value outside is refused, never labelled).
    """
    high, low = _check_thresholds(high_threshold, low_threshold)
    if isinstance(iou, torch.Tensor):
        check_unit_interval(iou, "iou")
        labels = torch.full(iou.shape, IGNORED, dtype=torch.int64, device=iou.device)
        labels[iou >= high] = POSITIVE
        labels[iou < low] = NEGATIVE
        return labels
    iou = check_number(iou, "iou", minimum=0, maximum=1, expected="an IoU in [0, 1]")
    return POSITIVE if iou >= high else NEGATIVE if iou < low else IGNORED


def match_proposals(iou: torch.Tensor, high_threshold: float, low_threshold: float,
                    allow_low_quality_matches: bool = False) -> torch.Tensor:
    """For each proposal, the index of its ground truth, or -1 (below low) / -2 (in between).

    ``iou``: Float[G, P] in [0, 1], ground truths × proposals. Returns Int64[P]. With
    ``allow_low_quality_matches``, every proposal that ties for the best IoU of some ground truth
    is matched to its own best ground truth even below ``high_threshold`` (Faster R-CNN's rule).

    An image without objects (G = 0) has only negatives: every entry is -1. (torchvision's
    ``Matcher`` raises there; its detectors handle such images before matching.)
    """
    check_tensor(iou, "iou")
    if iou.ndim != 2:
        raise ValueError(f"iou must be a [G, P] matrix, got shape {tuple(iou.shape)}")
    high, low = _check_thresholds(high_threshold, low_threshold)
    check_unit_interval(iou, "iou")
    if iou.shape[0] == 0:
        return torch.full((iou.shape[1],), BELOW_LOW_THRESHOLD, dtype=torch.int64,
                          device=iou.device)
    best_iou, matches = iou.max(dim=0)
    all_matches = matches.clone()
    matches[best_iou < low] = BELOW_LOW_THRESHOLD
    matches[(best_iou >= low) & (best_iou < high)] = BETWEEN_THRESHOLDS
    if allow_low_quality_matches:
        best_per_gt = iou.max(dim=1, keepdim=True).values
        proposals = torch.nonzero(iou == best_per_gt)[:, 1]
        matches[proposals] = all_matches[proposals]
    return matches


def matched_labels(matches: torch.Tensor, gt_labels: torch.Tensor) -> torch.Tensor:
    """Training labels from :func:`match_proposals`: the matched object's class (1..K) where
    matched, 0 (background) below the low threshold, -1 (ignored) in between.

    ``matches`` Int64[P], ``gt_labels`` Int64[G] -> Int64[P] (torchvision's
    ``RoIHeads.assign_targets_to_proposals``). With labels all 1 it is the RPN's
    positive / negative / ignored labelling.
    """
    labels = gt_labels[matches.clamp(min=0)] if len(gt_labels) else torch.zeros_like(matches)
    labels = torch.where(matches >= 0, labels, NEGATIVE)
    return torch.where(matches == BETWEEN_THRESHOLDS, IGNORED, labels)


_REPLACEMENT = ("none", "negatives", "both")


def sample_balanced(labels: torch.Tensor, batch_size: int, positive_fraction: float,
                    generator: torch.Generator | None = None, replacement: str = "none"
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """A mini-batch of positives (``labels >= 1``) and negatives (``labels == 0``); ``-1`` is
    never drawn. Returns the indices ``(positive Int64[p], negative Int64[n])``.

    ``replacement``:

    - ``"none"`` (torchvision's ``BalancedPositiveNegativeSampler``, used by the RPN and the
      Faster / Mask R-CNN heads): ``p = min(int(batch_size * positive_fraction), #positives)``,
      ``n = min(batch_size - p, #negatives)``, each a random subset (``randperm``) — the batch
      is short when an image has few candidates;
    - ``"negatives"`` (Fast R-CNN's RoIs): positives as above, then ``batch_size - p`` negatives
      drawn with replacement, so every image gives a full batch;
    - ``"both"`` (R-CNN's fine-tuning batches over a whole set of warped regions): exactly
      ``int(batch_size * positive_fraction)`` positives (none if there are none) and the rest
      negatives, both drawn with replacement.
    """
    check_tensor(labels, "labels")
    if labels.ndim != 1 or labels.is_floating_point():
        raise ValueError(f"labels must be an integer Tensor[N], got dtype {labels.dtype} and "
                         f"shape {tuple(labels.shape)}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    positive_fraction = check_threshold(positive_fraction, "positive_fraction")
    if replacement not in _REPLACEMENT:
        raise ValueError(f"replacement must be one of {_REPLACEMENT}, got {replacement!r}")
    positive = torch.nonzero(labels >= 1)[:, 0]
    negative = torch.nonzero(labels == 0)[:, 0]
    quota = int(batch_size * positive_fraction)

    def draw(pool, count, with_replacement):
        if with_replacement:
            if len(pool) == 0:
                return pool
            return pool[torch.randint(len(pool), (count,), generator=generator,
                                      device=pool.device)]
        return pool[torch.randperm(len(pool), generator=generator, device=pool.device)[:count]]

    if replacement == "both":
        n_pos = quota if len(positive) else 0
        return draw(positive, n_pos, True), draw(negative, batch_size - n_pos, True)
    n_pos = min(quota, len(positive))
    chosen_positive = draw(positive, n_pos, False)
    if replacement == "negatives":
        return chosen_positive, draw(negative, batch_size - n_pos, True)
    return chosen_positive, draw(negative, min(batch_size - n_pos, len(negative)), False)
