"""Explorers for lesson 6 (Faster R-CNN): the anchors, their labels, the RPN's proposals.

- :func:`draw_anchors` — the anchor grid on an image and the A shapes of one location (sizes ×
  aspect ratios), with how well the anchors reach each object (its best IoU);
- :func:`draw_anchor_labels` — which anchors the RPN's rule makes positive, negative or ignored
  for two IoU thresholds, with and without the low-quality rule;
- :func:`draw_rpn_proposals` — the proposals a trained RPN keeps for top-N and NMS settings,
  and the recall they give.
"""
from __future__ import annotations

import ipywidgets as widgets
import numpy as np
import torch
from matplotlib.figure import Figure

from .. import viz
from ..matching import IGNORED, NEGATIVE, POSITIVE
from ..ops import box_iou, make_anchors
from ._explorer import Explorer, iou_threshold_controls

RATIO_SETS = {"1": (1.0,), "0.5, 1, 2": (0.5, 1.0, 2.0), "0.25 … 4": (0.25, 0.5, 1.0, 2.0, 4.0)}
SIZE_COLORS = (viz.ORANGE, viz.SKY_BLUE, viz.VERMILLION, viz.PURPLE, viz.BLUE)


def _one_panel(fig, figsize=(6.0, 6.0)):
    fig = fig if fig is not None else Figure(figsize=figsize)
    fig.subplots_adjust(left=0.02, right=0.98, top=0.9, bottom=0.02)
    return fig, fig.add_subplot()


def anchor_sizes(smallest: float, scales: int) -> tuple[float, ...]:
    """``scales`` sizes doubling from ``smallest`` (the paper: 128, 256, 512)."""
    return tuple(float(smallest) * 2 ** k for k in range(scales))


def draw_anchors(image, gt_boxes=None, smallest: float = 12, scales: int = 4,
                 ratios: str = "0.5, 1, 2", stride: int = 4, cell_x: int = 16, cell_y: int = 16,
                 fig: Figure | None = None) -> dict:
    """The anchors of an image: every ``stride``-th pixel is a centre (dots), and the A anchors
    of cell ``(cell_y, cell_x)`` are drawn (one colour per size, ratios side by side).

    Returns ``sizes``, ``aspect_ratios``, ``anchors_per_location`` (A), ``feature_size``,
    ``total`` (H * W * A), ``cell_anchors`` Float[A, 4], ``best_iou`` Float[G] (each object's
    best IoU with any anchor), ``readout`` and ``figure``."""
    image_t = torch.as_tensor(image)
    height, width = image_t.shape[-2:]
    sizes, aspect = anchor_sizes(smallest, scales), RATIO_SETS[ratios]
    feature = (height // stride, width // stride)
    anchors = make_anchors(feature, stride, sizes, aspect)
    a = len(sizes) * len(aspect)
    cell_y, cell_x = min(max(cell_y, 0), feature[0] - 1), min(max(cell_x, 0), feature[1] - 1)
    first = (cell_y * feature[1] + cell_x) * a
    cell = anchors[first:first + a]
    fig, ax = _one_panel(fig)
    viz.show_image(image, ax)
    ys, xs = np.meshgrid(np.arange(feature[0]) * stride, np.arange(feature[1]) * stride,
                         indexing="ij")
    ax.scatter(xs.ravel(), ys.ravel(), s=1.5, c="white", alpha=0.6, linewidths=0)
    colors = [SIZE_COLORS[k % len(SIZE_COLORS)] for _ in aspect for k in range(len(sizes))]
    viz.draw_boxes(ax, cell, color=colors, linewidth=1.6)
    ax.scatter([cell_x * stride], [cell_y * stride], s=30, c=viz.YELLOW, edgecolors="black")
    best = torch.zeros(0)
    if gt_boxes is not None and len(gt_boxes):
        gt = torch.as_tensor(gt_boxes, dtype=torch.float32).reshape(-1, 4)
        best = box_iou(gt, anchors).max(dim=1).values
        viz.draw_boxes(ax, gt, color="white", linewidth=2.0, style="dashed")
        for (x1, y1, _, _), v in zip(gt.tolist(), best.tolist()):    # each object's best IoU
            ax.text(x1, y1, f"{v:.2f}", color="white", fontsize=8, va="bottom",
                    bbox=dict(facecolor=viz.BLACK, edgecolor="none", pad=1, alpha=0.7))
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_ylim(height - 0.5, -0.5)
    total = len(anchors)
    ax.set_title(f"{feature[0]} × {feature[1]} cells × {a} anchors = {total} anchors", fontsize=10)
    readout = (f"sizes {', '.join(f'{s:g}' for s in sizes)} px × ratios h/w {ratios}: "
               f"A = {a} per cell, {total} in all")
    if len(best):
        readout += (f"; objects' best anchor IoU (captions): min {best.min():.2f}, "
                    f"{int((best >= 0.7).sum())}/{len(best)} reach 0.7")
    return {"sizes": sizes, "aspect_ratios": aspect, "anchors_per_location": a,
            "feature_size": feature, "total": total, "cell_anchors": cell, "best_iou": best,
            "readout": readout, "figure": fig}


def anchors_explorer(image, gt_boxes=None, smallest: float = 12, scales: int = 4,
                     ratios: str = "0.5, 1, 2", stride: int = 4) -> Explorer:
    """Sliders for the anchor sizes, aspect ratios, stride and the cell shown."""
    height, width = torch.as_tensor(image).shape[-2:]
    controls = {
        "smallest": widgets.IntSlider(value=int(smallest), min=4, max=64, step=4,
                                      description="smallest size"),
        "scales": widgets.IntSlider(value=scales, min=1, max=4, description="sizes (×2 each)"),
        "ratios": widgets.Dropdown(options=list(RATIO_SETS), value=ratios,
                                   description="ratios h/w"),
        "stride": widgets.Dropdown(options=[4, 8, 16, 32], value=stride, description="stride"),
        "cell_x": widgets.IntSlider(value=width // stride // 2, min=0, max=width // 4 - 1,
                                    description="cell x"),
        "cell_y": widgets.IntSlider(value=height // stride // 2, min=0, max=height // 4 - 1,
                                    description="cell y"),
    }

    def cells_in_range(c, changed):
        for name, extent in (("cell_x", width), ("cell_y", height)):
            c[name].max = extent // c["stride"].value - 1
    return Explorer(draw_anchors, controls, fixed={"image": image, "gt_boxes": gt_boxes},
                    constrain=cells_in_range, title="Anchors")


def draw_anchor_labels(image, anchors, gt_boxes, positive_iou: float = 0.7,
                       negative_iou: float = 0.3, low_quality: bool = True,
                       max_negatives_drawn: int = 40, fig: Figure | None = None) -> dict:
    """The RPN's labels for ``anchors`` Float[A, 4]: positive (solid green), ignored (dashed
    grey), negative (a few drawn dotted; all counted), from :func:`lecturelib.models.rpn.
    label_anchors`. Returns ``counts``, ``labels`` Int64[A], ``rescued`` (positives only the
    low-quality rule makes), ``readout`` and ``figure``."""
    from ..models.rpn import label_anchors
    gt = torch.as_tensor(gt_boxes, dtype=torch.float32).reshape(-1, 4)
    labels, _ = label_anchors(anchors, gt, positive_iou, negative_iou, low_quality)
    strict, _ = label_anchors(anchors, gt, positive_iou, negative_iou, False)
    rescued = int(((labels == POSITIVE) & (strict != POSITIVE)).sum())
    counts = {name: int((labels == code).sum()) for name, code in
              (("positive", POSITIVE), ("negative", NEGATIVE), ("ignored", IGNORED))}
    fig, ax = _one_panel(fig)
    viz.show_image(image, ax)
    negatives = torch.nonzero(labels == NEGATIVE)[:, 0]
    step = max(1, len(negatives) // max_negatives_drawn)
    viz.draw_boxes(ax, anchors[negatives[::step]], color=viz.NEGATIVE, style="dotted",
                   linewidth=0.6, alpha=0.7)
    viz.draw_boxes(ax, anchors[labels == IGNORED], color=viz.IGNORED, style="dashed",
                   linewidth=0.5, alpha=0.5)
    viz.draw_boxes(ax, anchors[labels == POSITIVE], color=viz.POSITIVE, linewidth=1.4)
    viz.draw_boxes(ax, gt, color="white", linewidth=2.5)
    height, width = torch.as_tensor(image).shape[-2:]
    ax.set_xlim(-0.5, width - 0.5)
    ax.set_ylim(height - 0.5, -0.5)
    ax.set_title(f"{counts['positive']} positive ({rescued} by the low-quality rule), "
                 f"{counts['ignored']} ignored, {counts['negative']} negative", fontsize=10)
    readout = (f"<span style='color:{viz.POSITIVE}'>■</span> positive {counts['positive']} "
               f"(IoU ≥ {positive_iou:.2f}{', or an object’s best' if low_quality else ''}) · "
               f"<span style='color:{viz.IGNORED}'>■</span> ignored {counts['ignored']} · "
               f"<span style='color:{viz.NEGATIVE}'>■</span> negative {counts['negative']} "
               f"(IoU < {negative_iou:.2f}; every {step}th drawn) of {len(anchors)} anchors")
    return {"counts": counts, "labels": labels, "rescued": rescued, "readout": readout,
            "figure": fig}


def anchor_label_explorer(image, anchors, gt_boxes, positive_iou: float = 0.7,
                          negative_iou: float = 0.3, low_quality: bool = True) -> Explorer:
    """Sliders for the two thresholds of :func:`draw_anchor_labels` and the low-quality rule."""
    controls, keep_order = iou_threshold_controls(positive_iou, negative_iou)
    controls["low_quality"] = widgets.Checkbox(value=low_quality,
                                               description="each object's best anchor")
    return Explorer(draw_anchor_labels, controls,
                    fixed={"image": image, "anchors": anchors, "gt_boxes": gt_boxes},
                    constrain=keep_order, title="Labelling anchors (RPN)")


def draw_rpn_proposals(image, boxes, objectness, gt_boxes, pre_nms_top_n: int = 1000,
                       post_nms_top_n: int = 300, nms_threshold: float = 0.7,
                       max_drawn: int = 60, fig: Figure | None = None) -> dict:
    """The proposals :func:`lecturelib.models.rpn.filter_proposals` keeps from one image's
    decoded anchors ``boxes`` Float[A, 4] and logits ``objectness`` Float[A]: the first
    ``max_drawn`` dashed, the ground truth white. Returns ``kept``, ``recall`` (objects with a
    kept proposal at IoU >= 0.5), ``readout`` and ``figure``."""
    from ..models.rpn import filter_proposals
    image_size = tuple(torch.as_tensor(image).shape[-2:])
    kept, scores = filter_proposals(boxes, objectness, image_size, pre_nms_top_n,
                                    post_nms_top_n, nms_threshold)
    gt = torch.as_tensor(gt_boxes, dtype=torch.float32).reshape(-1, 4)
    found = (box_iou(gt, kept) >= 0.5).any(dim=1) if len(kept) else torch.zeros(len(gt), dtype=bool)
    recall = float(found.float().mean()) if len(gt) else float("nan")
    fig, ax = _one_panel(fig)
    viz.show_image(image, ax)
    viz.draw_boxes(ax, kept[:max_drawn], color=viz.SKY_BLUE, style="dashed", linewidth=0.8)
    viz.draw_boxes(ax, gt, color=[viz.POSITIVE if f else viz.NEGATIVE for f in found.tolist()],
                   linewidth=2.5)
    title = (f"{len(kept)} proposals kept (top {pre_nms_top_n} → NMS {nms_threshold:.2f} → "
             f"first {post_nms_top_n}); recall@0.5 {int(found.sum())}/{len(gt)}")
    ax.set_title(title, fontsize=10)
    readout = (f"{len(kept)} proposals, the first {min(max_drawn, len(kept))} drawn (dashed); "
               f"objects <span style='color:{viz.POSITIVE}'>■</span> found / "
               f"<span style='color:{viz.NEGATIVE}'>■</span> missed at IoU 0.5: recall "
               f"{recall:.2f}")
    return {"kept": int(len(kept)), "scores": scores, "recall": recall, "readout": readout,
            "figure": fig}


def rpn_proposals_explorer(image, boxes, objectness, gt_boxes, pre_nms_top_n: int = 1000,
                           post_nms_top_n: int = 300, nms_threshold: float = 0.7) -> Explorer:
    """Sliders for :func:`draw_rpn_proposals`: pre- and post-NMS top N, the NMS threshold."""
    controls = {
        "pre_nms_top_n": widgets.IntSlider(value=pre_nms_top_n, min=10, max=len(objectness),
                                           step=10, description="top N before NMS"),
        "post_nms_top_n": widgets.IntSlider(value=post_nms_top_n, min=1, max=2000,
                                            description="keep N after NMS"),
        "nms_threshold": widgets.FloatSlider(value=nms_threshold, min=0.05, max=1.0, step=0.05,
                                             description="NMS IoU threshold"),
    }
    return Explorer(draw_rpn_proposals, controls,
                    fixed={"image": image, "boxes": boxes, "objectness": objectness,
                           "gt_boxes": gt_boxes}, title="RPN proposals")
