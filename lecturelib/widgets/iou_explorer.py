"""The IoU explorer: move and resize a box against a ground truth and watch IoU and its label.

Sliders: the candidate box (x, y, width, height) and the two thresholds. The candidate is
coloured as R-CNN and the RPN label it — positive (IoU >= high), negative (IoU < low) or
ignored (in between) — and a bar below shows where its IoU falls between the thresholds.
"""
from __future__ import annotations

import ipywidgets as widgets
import matplotlib.patches as mpatches
import torch
from matplotlib.figure import Figure

from .. import viz
from ..matching import IGNORED, NEGATIVE, POSITIVE, iou_label
from ..ops import box_iou
from ._explorer import Explorer

LABEL_NAMES = {POSITIVE: "positive", NEGATIVE: "negative", IGNORED: "ignored"}
LABEL_COLORS = {POSITIVE: viz.POSITIVE, NEGATIVE: viz.NEGATIVE, IGNORED: viz.IGNORED}
CANVAS = 100
GROUND_TRUTH = (30.0, 25.0, 70.0, 75.0)


def draw_iou(x: float, y: float, width: float, height: float, high_threshold: float = 0.7,
             low_threshold: float = 0.3, ground_truth=GROUND_TRUTH, image=None,
             fig: Figure | None = None) -> dict:
    """Draw the ground truth, the candidate ``(x, y, x + width, y + height)``, their
    intersection, and the threshold bar. Returns ``iou``, ``intersection``, ``union``,
    ``label`` (1 / 0 / -1), ``label_name``, ``readout`` (HTML) and ``figure``."""
    fig = fig if fig is not None else Figure(figsize=(6, 5))
    ax, bar = fig.subplots(2, 1, height_ratios=[6, 1], gridspec_kw=dict(
        hspace=0.3, left=0.08, right=0.97, top=0.93, bottom=0.1))
    gt = torch.tensor([ground_truth], dtype=torch.float64)
    box = torch.tensor([[x, y, x + width, y + height]], dtype=torch.float64)
    iou = float(box_iou(box, gt)[0, 0])
    label = iou_label(iou, high_threshold, low_threshold)
    ix1, iy1 = max(x, ground_truth[0]), max(y, ground_truth[1])
    ix2, iy2 = min(x + width, ground_truth[2]), min(y + height, ground_truth[3])
    inter = max(0.0, ix2 - ix1) * max(0.0, iy2 - iy1)
    gt_area = (ground_truth[2] - ground_truth[0]) * (ground_truth[3] - ground_truth[1])
    union = width * height + gt_area - inter

    if image is not None:
        viz.show_image(image, ax)
    else:
        ax.set_xlim(0, CANVAS)
        ax.set_ylim(CANVAS, 0)
        ax.set_aspect("equal")
        ax.set_facecolor("#f7f7f7")
    if inter > 0:
        ax.add_patch(mpatches.Rectangle((ix1, iy1), ix2 - ix1, iy2 - iy1, facecolor=viz.SKY_BLUE,
                                        alpha=0.45, hatch="//", edgecolor="none"))
    viz.draw_boxes(ax, gt, color="black", captions=["ground truth"], linewidth=2.5)
    viz.draw_boxes(ax, box, color=LABEL_COLORS[label], style="dashed", linewidth=2.5,
                   captions=[f"candidate: {LABEL_NAMES[label]}"])
    ax.set_title(f"IoU = {inter:.0f} / {union:.0f} = {iou:.3f}")

    for lo, hi, code in ((0, low_threshold, NEGATIVE), (low_threshold, high_threshold, IGNORED),
                         (high_threshold, 1.0, POSITIVE)):
        bar.axvspan(lo, hi, color=LABEL_COLORS[code], alpha=0.6)
        if hi > lo:
            bar.text((lo + hi) / 2, 0.5, LABEL_NAMES[code], ha="center", va="center", fontsize=8)
    bar.axvline(iou, color="black", lw=3)
    bar.set_xlim(0, 1)
    bar.set_yticks([])
    bar.set_xlabel("IoU")
    readout = (f"IoU = intersection / union = {inter:.0f} / {union:.0f} = <b>{iou:.3f}</b> → "
               f"<b style='color:{LABEL_COLORS[label]}'>{LABEL_NAMES[label]}</b> "
               f"(positive if ≥ {high_threshold:.2f}, negative if < {low_threshold:.2f})")
    return {"iou": iou, "intersection": inter, "union": union, "label": label,
            "label_name": LABEL_NAMES[label], "readout": readout, "figure": fig}


def _keep_low_below_high(controls, changed) -> None:
    """The negative threshold may not pass the positive one: push the other slider along."""
    high, low = controls["high_threshold"], controls["low_threshold"]
    if low.value > high.value:
        if changed == "low_threshold":
            high.value = low.value
        else:
            low.value = high.value


def iou_explorer(high_threshold: float = 0.7, low_threshold: float = 0.3,
                 ground_truth=GROUND_TRUTH) -> Explorer:
    """Sliders for the candidate box and the thresholds (RPN defaults 0.7 / 0.3)."""
    def slider(description, value, lo, hi, step=1.0):
        return widgets.FloatSlider(value=value, min=lo, max=hi, step=step,
                                   description=description, continuous_update=True)
    controls = {
        "x": slider("x", 40, 0, CANVAS - 5), "y": slider("y", 35, 0, CANVAS - 5),
        "width": slider("width", 40, 2, CANVAS), "height": slider("height", 50, 2, CANVAS),
        "high_threshold": slider("positive if IoU ≥", high_threshold, 0, 1, 0.05),
        "low_threshold": slider("negative if IoU <", low_threshold, 0, 1, 0.05),
    }
    return Explorer(draw_iou, controls, fixed={"ground_truth": ground_truth},
                    title="IoU explorer", constrain=_keep_low_below_high)
