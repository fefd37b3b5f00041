"""COCO detection metrics (AP, AR), computed with the rules of pycocotools' ``COCOeval``.

The whole evaluation in four steps, for every category ``k`` that has ground truth (GT):

1. **IoU** of every detection with every GT box of ``k`` in one image (``_box_iou``,
   ``_mask_iou``). Detections are ranked by score (a *stable* sort: equal scores keep their input
   order) and only the first 100 per image *and category* are kept.
2. **Matching** (``_evaluate_image``), for each area range and each IoU threshold ``t`` in
   0.50, 0.55, ..., 0.95: going down the ranking, a detection takes the free GT it overlaps most
   (IoU >= t; the later GT wins a tie), preferring GT inside the area range over GT outside it
   ("ignored" GT). A detection matched to an ignored GT is ignored too, and so is an unmatched
   detection whose own area is outside the range.
3. **Precision / recall** (``_accumulate``): all images' detections of ``k`` are ranked together
   by score; ignored ones are dropped; the cumulative true/false positives give a
   precision-recall curve; precision is replaced by its envelope (best precision at this recall
   or higher) and read at 101 recall points 0, 0.01, ..., 1 (0 past the highest recall reached).
   Recall = fraction of non-ignored GT found. ``maxDets`` 1/10/100 cut each image's ranking.
4. **Means** (``_summarize``): AP = mean over IoU thresholds, recall points and categories;
   AR = mean over IoU thresholds and categories. A category without (non-ignored) GT in an area
   range counts as "absent" (-1 in pycocotools) and is left out of the means; if nothing is left
   the result is -1.0.

Area ranges (pixels²): all, small < 32², medium 32²..96², large > 96², every range including
both its ends as in pycocotools (an area of exactly 32² is small *and* medium). GT area is the
mask area when the targets carry masks, else the box area; a detection's area is its box area for
``iou_type="bbox"`` and its mask area for ``"segm"``.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)       # T = 10 (linspace, exactly as pycocotools)
RECALL_POINTS = np.linspace(0.0, 1.0, 101)        # R = 101
MAX_DETECTIONS = (1, 10, 100)                      # per image and category
AREA_RANGES = ((0.0, 1e10), (0.0, 32.0**2), (32.0**2, 96.0**2), (96.0**2, 1e10))  # all/s/m/l
IOU_TYPES = ("bbox", "segm")


def coco_evaluate(predictions: Sequence[Mapping], targets: Sequence[Mapping],
                  iou_type: str = "bbox") -> dict[str, float]:
    """COCO AP / AR of detections against ground truth, equal to pycocotools' ``COCOeval``.

    Args:
        predictions: one dict per image (torchvision detector output):
            ``"boxes"`` Float[D, 4] (x1, y1, x2, y2) pixels, ``"scores"`` Float[D],
            ``"labels"`` Int64[D], and for ``"segm"`` ``"masks"``: UInt8/bool [D, H, W] (non-zero
            = object) or float probabilities [D, 1, H, W] / [D, H, W] (object where > 0.5).
        targets: one dict per image, same order: ``"boxes"`` Float[G, 4], ``"labels"`` Int64[G]
            (1..K), optional ``"masks"`` UInt8[G, H, W] (required for ``"segm"``).
        iou_type: ``"bbox"`` (box IoU) or ``"segm"`` (mask IoU).
        Tensors (any device) or numpy arrays.

    Returns:
        ``{"AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100"}`` as floats, the
        first nine of pycocotools' ``stats`` (AP at maxDets=100; ARn at maxDets=n, all areas).
        -1.0 where there is nothing to evaluate (no GT at all, or none of that size).

    Raises:
        ValueError: naming the argument, for lists of different lengths, missing keys, wrong
        shapes, an unknown ``iou_type`` or ``"segm"`` without masks; naming the image and the
        field, for NaN / infinite boxes or scores, boxes with x2 < x1 or y2 < y1, and labels
        that are not whole numbers >= 1 (0 is the background).
    """
    images = _check_inputs(predictions, targets, iou_type)
    categories = np.unique(np.concatenate([im["gt_labels"] for im in images] + [np.zeros(0)]))
    T, R, K, A, M = (len(IOU_THRESHOLDS), len(RECALL_POINTS), len(categories),
                     len(AREA_RANGES), len(MAX_DETECTIONS))
    precision = -np.ones((T, R, K, A, M))   # -1 = absent category (left out of the means)
    recall = -np.ones((T, K, A, M))
    for k, category in enumerate(categories):
        per_area = [[] for _ in AREA_RANGES]   # per area range: one entry per image
        for im in images:
            gt = np.flatnonzero(im["gt_labels"] == category)
            dt = np.flatnonzero(im["dt_labels"] == category)
            if len(gt) == 0 and len(dt) == 0:
                continue
            dt = dt[np.argsort(-im["dt_scores"][dt], kind="mergesort")][:MAX_DETECTIONS[-1]]
            if iou_type == "bbox":
                ious = _box_iou(im["dt_boxes"][dt], im["gt_boxes"][gt])
            else:
                ious = _mask_iou(im["dt_masks"][dt], im["gt_masks"][gt])
            for a, (low, high) in enumerate(AREA_RANGES):
                gt_ignore = (im["gt_areas"][gt] < low) | (im["gt_areas"][gt] > high)
                dt_outside = (im["dt_areas"][dt] < low) | (im["dt_areas"][dt] > high)
                matched, ignored = _evaluate_image(ious, gt_ignore, dt_outside)
                per_area[a].append((im["dt_scores"][dt], matched, ignored, np.sum(~gt_ignore)))
        for a in range(A):
            for m, max_dets in enumerate(MAX_DETECTIONS):
                result = _accumulate(per_area[a], max_dets)
                if result is not None:
                    precision[:, :, k, a, m], recall[:, k, a, m] = result
    return _summarize(precision, recall)


def _box_iou(dt: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """IoU Float64[D, G] of boxes given as (x, y, w, h), with pycocotools' arithmetic."""
    w = (np.minimum(dt[:, None, 0] + dt[:, None, 2], gt[None, :, 0] + gt[None, :, 2])
         - np.maximum(dt[:, None, 0], gt[None, :, 0]))
    h = (np.minimum(dt[:, None, 1] + dt[:, None, 3], gt[None, :, 1] + gt[None, :, 3])
         - np.maximum(dt[:, None, 1], gt[None, :, 1]))
    overlap = (w > 0) & (h > 0)
    inter = np.where(overlap, w * h, 0.0)
    union = (dt[:, 2] * dt[:, 3])[:, None] + (gt[:, 2] * gt[:, 3])[None, :] - inter
    return np.where(overlap, inter / np.where(overlap, union, 1.0), 0.0)


def _mask_iou(dt: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """IoU Float64[D, G] of binary masks Bool[D, H*W] and Bool[G, H*W]: one matrix product."""
    if len(dt) == 0 or len(gt) == 0:
        return np.zeros((len(dt), len(gt)))
    dt, gt = dt.astype(np.float64), gt.astype(np.float64)
    inter = dt @ gt.T                                     # pixel counts, exact in float64
    union = dt.sum(1)[:, None] + gt.sum(1)[None, :] - inter
    return np.where(inter > 0, inter / np.maximum(union, 1.0), 0.0)


def _evaluate_image(ious: np.ndarray, gt_ignore: np.ndarray, dt_outside: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Greedy matching in one image, category and area range, at all T IoU thresholds at once.

    ``ious`` Float[D, G] with detections ranked by score; ``gt_ignore`` Bool[G] (GT outside the
    area range); ``dt_outside`` Bool[D]. Returns ``matched`` and ``ignored``, Bool[T, D].
    """
    T, (D, G) = len(IOU_THRESHOLDS), ious.shape
    thresholds = np.minimum(IOU_THRESHOLDS, 1 - 1e-10)[:, None]   # [T, 1]; cap: t=1 could match
    gt_taken = np.zeros((T, G), bool)
    matched = np.zeros((T, D), bool)
    ignored = np.zeros((T, D), bool)
    for d in range(D if G else 0):
        free = ~gt_taken & (ious[d] >= thresholds)                    # [T, G] candidates
        regular = free & ~gt_ignore
        pool = np.where(regular.any(1, keepdims=True), regular, free)  # regular GT first
        best = np.where(pool, ious[d], -1.0)
        g = G - 1 - np.argmax(best[:, ::-1], axis=1)                  # highest IoU, last on ties
        hit = pool.any(1)
        gt_taken[hit, g[hit]] = True
        matched[hit, d] = True
        ignored[hit, d] = gt_ignore[g[hit]]
    ignored |= ~matched & dt_outside[None, :]
    return matched, ignored


def _accumulate(per_image: list, max_dets: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Precision Float[T, R] at the recall points and final recall Float[T] of one category and
    area range from the per-image ``(scores, matched, ignored, n_gt)``; None without GT."""
    n_gt = sum(int(entry[3]) for entry in per_image)
    if n_gt == 0:
        return None
    scores = np.concatenate([s[:max_dets] for s, _, _, _ in per_image])
    order = np.argsort(-scores, kind="mergesort")                    # ties: image order
    matched = np.concatenate([m[:, :max_dets] for _, m, _, _ in per_image], axis=1)[:, order]
    ignored = np.concatenate([i[:, :max_dets] for _, _, i, _ in per_image], axis=1)[:, order]
    tp = np.cumsum(matched & ~ignored, axis=1).astype(np.float64)
    fp = np.cumsum(~matched & ~ignored, axis=1).astype(np.float64)
    recall_curve = tp / n_gt
    precision_curve = tp / (tp + fp + np.spacing(1))
    envelope = np.maximum.accumulate(precision_curve[:, ::-1], axis=1)[:, ::-1]
    T, D = tp.shape
    precision = np.zeros((T, len(RECALL_POINTS)))
    for t in range(T):
        where = np.searchsorted(recall_curve[t], RECALL_POINTS, side="left")
        reached = where < D
        precision[t, reached] = envelope[t, where[reached]]
    return precision, (recall_curve[:, -1] if D else np.zeros(T))


def _summarize(precision: np.ndarray, recall: np.ndarray) -> dict[str, float]:
    """The means reported by ``COCOeval.summarize`` (area index: 0 all, 1 s, 2 m, 3 l)."""
    def mean(values):
        kept = values[values > -1]
        return float(np.mean(kept)) if kept.size else -1.0

    return {"AP": mean(precision[:, :, :, 0, 2]), "AP50": mean(precision[0, :, :, 0, 2]),
            "AP75": mean(precision[5, :, :, 0, 2]), "APs": mean(precision[:, :, :, 1, 2]),
            "APm": mean(precision[:, :, :, 2, 2]), "APl": mean(precision[:, :, :, 3, 2]),
            "AR1": mean(recall[:, :, 0, 0]), "AR10": mean(recall[:, :, 0, 1]),
            "AR100": mean(recall[:, :, 0, 2])}


# ---------------------------------------------------------------------------- input checking
def _array(value, name: str) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        return (value.float() if value.dtype == torch.bfloat16 else value).numpy()
    try:
        return np.asarray(value)
    except Exception as error:
        raise ValueError(f"{name} must be a tensor or an array, got {type(value).__name__}"
                         ) from error


def _binary_masks(masks, n: int, name: str) -> np.ndarray:
    """[N, H, W] or [N, 1, H, W] -> Bool[N, H, W] (float: > 0.5, bool/int: non-zero)."""
    masks = _array(masks, name)
    if masks.ndim == 4 and masks.shape[1] == 1:
        masks = masks[:, 0]
    if masks.ndim != 3 or masks.shape[0] != n:
        raise ValueError(f"{name} must have shape [{n}, H, W] or [{n}, 1, H, W], "
                         f"got {tuple(masks.shape)}")
    return masks > 0.5 if np.issubdtype(masks.dtype, np.floating) else masks != 0


def _check_image(pred: Mapping, target: Mapping, i: int, iou_type: str) -> dict:
    """Validate image ``i`` and turn it into float64 numpy arrays (boxes as x, y, w, h)."""
    from ..ops._validate import check_boxes, check_class_labels, check_finite   # lazily

    out = {}
    for kind, item, keys in (("gt", target, ("boxes", "labels")),
                             ("dt", pred, ("boxes", "labels", "scores"))):
        arg = f"{'targets' if kind == 'gt' else 'predictions'}[{i}]"
        if not isinstance(item, Mapping):
            raise ValueError(f"{arg} must be a dict, got {type(item).__name__}")
        for key in keys + (("masks",) if iou_type == "segm" else ()):
            if key not in item:
                raise ValueError(f"{arg} is missing the key {key!r}"
                                 + (" (iou_type='segm' needs masks)" if key == "masks" else ""))
        boxes = _array(item["boxes"], f"{arg}['boxes']").astype(np.float64)
        boxes = boxes.reshape(0, 4) if boxes.size == 0 else boxes
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise ValueError(f"{arg}['boxes'] must have shape [N, 4], got {tuple(boxes.shape)}")
        check_boxes(torch.from_numpy(boxes), f"{arg}['boxes']")
        n = len(boxes)
        for key in keys[1:]:
            values = _array(item[key], f"{arg}[{key!r}]")
            if values.shape != (n,):
                raise ValueError(f"{arg}[{key!r}] must have shape [{n}] (one per box), "
                                 f"got {tuple(values.shape)}")
            if values.dtype.kind not in "biuf":
                raise ValueError(f"{arg}[{key!r}] must hold numbers, got dtype {values.dtype}")
            if key == "scores":
                check_finite(torch.from_numpy(values.astype(np.float64)), f"{arg}['scores']")
            else:
                as_torch = values.astype(bool if values.dtype.kind == "b" else
                                         np.float64 if values.dtype.kind == "f" else np.int64)
                check_class_labels(torch.from_numpy(as_torch), f"{arg}['labels']")
            out[f"{kind}_{key}"] = values.astype(np.float64 if key == "scores" else np.int64)
        xywh = np.concatenate([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], axis=1)
        out[f"{kind}_boxes"] = xywh
        out[f"{kind}_areas"] = xywh[:, 2] * xywh[:, 3]
        if "masks" in item and (kind == "gt" or iou_type == "segm"):
            masks = _binary_masks(item["masks"], n, f"{arg}['masks']")
            out[f"{kind}_masks"] = masks.reshape(n, -1 if n else 0)
            out[f"{kind}_areas"] = out[f"{kind}_masks"].sum(1).astype(np.float64)
            out[f"{kind}_size"] = masks.shape[1:]
    if (iou_type == "segm" and len(out["gt_masks"]) and len(out["dt_masks"])
            and out["gt_size"] != out["dt_size"]):
        raise ValueError(f"predictions[{i}]['masks'] are {out['dt_size']} (H, W) but "
                         f"targets[{i}]['masks'] are {out['gt_size']}")
    return out


def _check_inputs(predictions, targets, iou_type: str) -> list[dict]:
    if iou_type not in IOU_TYPES:
        raise ValueError(f"iou_type must be one of {IOU_TYPES}, got {iou_type!r}")
    for name, value in (("predictions", predictions), ("targets", targets)):
        if isinstance(value, (Mapping, str, torch.Tensor, np.ndarray)) or not isinstance(
                value, Sequence):
            raise ValueError(f"{name} must be a list with one dict per image, "
                             f"got {type(value).__name__}")
    if len(predictions) != len(targets):
        raise ValueError(f"predictions has {len(predictions)} images but targets has "
                         f"{len(targets)}; they must be lists of the same length")
    return [_check_image(p, t, i, iou_type) for i, (p, t) in enumerate(zip(predictions, targets))]
