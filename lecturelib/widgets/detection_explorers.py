"""Explorers for the detector lessons (R-CNN and after).

- :func:`draw_proposal_labels` — which proposals a training rule makes positive, negative or
  ignored for two IoU thresholds (R-CNN fine-tuning: 0.5; its SVMs: negatives < 0.3);
- :func:`draw_detections` — a detector's output above a score threshold, against the ground
  truth, with the hits and misses at IoU 0.5 counted.
"""
from __future__ import annotations

import math

import ipywidgets as widgets
import torch
from matplotlib.figure import Figure

from .. import viz
from ..data import CLASSES
from ..matching import IGNORED, NEGATIVE, POSITIVE, iou_label
from ..ops import box_iou
from ._explorer import Explorer, iou_threshold_controls

THRESHOLD_DECIMALS = 2   # the score threshold is shown, and compared, at this precision


def draw_proposal_labels(image, proposals, gt_boxes, positive_iou: float = 0.5,
                         negative_iou: float = 0.3, max_drawn: int = 150,
                         fig: Figure | None = None) -> dict:
    """Colour each proposal by the label its best IoU with a ground truth gives it.

    Returns ``counts`` {"positive", "negative", "ignored"}, ``labels`` Int64[P] (1 / 0 / -1),
    ``readout`` and ``figure``. Draws the ``max_drawn`` first proposals (all are counted)."""
    fig = fig if fig is not None else Figure(figsize=(6, 6))
    fig.subplots_adjust(left=0.02, right=0.98, top=0.92, bottom=0.02)
    ax = fig.add_subplot()
    proposals = torch.as_tensor(proposals, dtype=torch.float32).reshape(-1, 4)
    gt_boxes = torch.as_tensor(gt_boxes, dtype=torch.float32).reshape(-1, 4)
    best = (box_iou(proposals, gt_boxes).max(dim=1).values if len(gt_boxes)
            else torch.zeros(len(proposals)))
    labels = iou_label(best, positive_iou, negative_iou)
    counts = {name: int((labels == code).sum()) for name, code in
              (("positive", POSITIVE), ("negative", NEGATIVE), ("ignored", IGNORED))}
    viz.show_image(image, ax)
    shown = torch.arange(len(proposals)) < max_drawn
    for code, color, style, width in ((NEGATIVE, viz.NEGATIVE, "dotted", 0.6),
                                      (IGNORED, viz.IGNORED, "dashed", 0.8),
                                      (POSITIVE, viz.POSITIVE, "solid", 1.5)):
        chosen = (labels == code) & shown
        viz.draw_boxes(ax, proposals[chosen], color=color, style=style, linewidth=width,
                       alpha=0.8)
    viz.draw_boxes(ax, gt_boxes, color="white", linewidth=2.5)
    ax.set_title(f"{counts['positive']} positive (IoU ≥ {positive_iou:.2f}), "
                 f"{counts['negative']} negative (< {negative_iou:.2f}), "
                 f"{counts['ignored']} ignored", fontsize=10)
    readout = (f"<span style='color:{viz.POSITIVE}'>■</span> positive {counts['positive']} · "
               f"<span style='color:{viz.NEGATIVE}'>■</span> negative {counts['negative']} · "
               f"<span style='color:{viz.IGNORED}'>■</span> ignored {counts['ignored']} "
               f"(of {len(proposals)} proposals; white: ground truth)")
    return {"counts": counts, "labels": labels, "readout": readout, "figure": fig}


def proposal_label_explorer(image, proposals, gt_boxes, positive_iou: float = 0.5,
                            negative_iou: float = 0.3) -> Explorer:
    """Sliders for the two thresholds of :func:`draw_proposal_labels`."""
    controls, keep_order = iou_threshold_controls(positive_iou, negative_iou)
    return Explorer(draw_proposal_labels, controls, fixed={"image": image, "proposals": proposals,
                                                           "gt_boxes": gt_boxes},
                    constrain=keep_order, title="Labelling proposals by IoU")


def _shown_score(score) -> float:
    """A score rounded down to 3 decimals (never "-0.000"): compares with any threshold of 2
    or 3 decimals as the score itself does."""
    return math.floor(float(score) * 1000) / 1000 + 0.0


def draw_detections(image, detections: dict, target: dict | None = None,
                    score_threshold: float = 0.5, class_names=CLASSES,
                    fig: Figure | None = None) -> dict:
    """Detections with score >= ``score_threshold`` (solid, class colours) over the ground truth
    (white). Returns ``shown``, ``hits`` (ground truths found at IoU >= 0.5 by a shown detection
    of their class), ``false_positives``, ``threshold``, ``readout``, ``figure``.

    The threshold is first rounded to the 2 decimals the title shows it with, so the number on
    screen is the one compared; scores are captioned rounded *down* to 3 decimals, so a caption
    is ≥ the shown threshold exactly when the score is (-0.0038 reads -0.004, not "-0.00", and
    -0.0104 reads -0.011, not "-0.010", against a threshold of -0.01)."""
    threshold = round(float(score_threshold), THRESHOLD_DECIMALS) + 0.0     # + 0.0: no "-0.00"
    fig = fig if fig is not None else Figure(figsize=(6, 6))
    fig.subplots_adjust(left=0.02, right=0.98, top=0.92, bottom=0.02)
    ax = fig.add_subplot()
    keep = detections["scores"] >= threshold
    boxes, labels, scores = (detections[k][keep] for k in ("boxes", "labels", "scores"))
    viz.show_image(image, ax)
    hits = false_positives = 0
    if target is not None:
        viz.draw_boxes(ax, target["boxes"], color="white", linewidth=2.5)
        iou = box_iou(boxes, target["boxes"]) if len(boxes) else torch.zeros(0, len(target["boxes"]))
        same = labels[:, None] == target["labels"][None, :]
        found = ((iou >= 0.5) & same)
        hits = int(found.any(dim=0).sum())
        false_positives = int((~found.any(dim=1)).sum())
    viz.draw_boxes(ax, boxes, labels, captions=[f"{'' if class_names is None else class_names[int(k)] + ' '}"
                                                f"{_shown_score(v):.3f}" for k, v in zip(labels, scores)])
    title = f"{len(boxes)} detections with score ≥ {threshold:.{THRESHOLD_DECIMALS}f}"
    if target is not None:
        title += f": {hits}/{len(target['boxes'])} objects found, {false_positives} false"
    ax.set_title(title, fontsize=10)
    return {"shown": int(len(boxes)), "hits": hits, "false_positives": false_positives,
            "threshold": threshold, "readout": title, "figure": fig}


def detection_explorer(image, detections: dict, target: dict | None = None,
                       score_threshold: float = 0.5, min_score: float | None = None,
                       max_score: float | None = None) -> Explorer:
    """A score-threshold slider over fixed detections (range: the scores' own range, widened
    to whole hundredths; the slider moves in steps of 0.01, the precision its value is shown and
    compared with)."""
    scores = detections["scores"]
    lo = float(scores.min()) if min_score is None and len(scores) else (min_score or 0.0)
    hi = float(scores.max()) if max_score is None and len(scores) else (max_score or 1.0)
    scale = 10 ** THRESHOLD_DECIMALS
    lo, hi = math.floor(lo * scale) / scale, math.ceil(hi * scale) / scale
    hi = max(hi, lo + 1 / scale)
    value = round(min(max(score_threshold, lo), hi), THRESHOLD_DECIMALS) + 0.0
    controls = {"score_threshold": widgets.FloatSlider(
        value=value, min=lo, max=hi, step=1 / scale, readout_format=f".{THRESHOLD_DECIMALS}f",
        description="score threshold")}
    return Explorer(draw_detections, controls, fixed={"image": image, "detections": detections,
                                                      "target": target},
                    title="Detections above a threshold")
