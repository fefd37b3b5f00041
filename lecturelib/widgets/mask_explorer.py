"""The mask-branch explorer (lesson 08): one detection of Mask R-CNN, its masks and its target.

:func:`draw_mask_branch` takes what :meth:`lecturelib.models.MaskRCNN.inspect` returns for an
image (the detections and the mask logits of every class) and the image's ground truth, and
draws, for one detection:

- the image, the detection's box (solid) and the ground truth it matches best (dashed white),
  the chosen channel's mask pasted into the image and thresholded;
- the chosen class channel's probabilities, either as the head computes them (``"28 × 28"``:
  one value per cell of the RoI's grid) or pasted into the image (``"pasted"``: resized into
  the box as :func:`~lecturelib.models.mask_rcnn.paste_masks_in_image` does), with the
  threshold's contour;
- the training target this box would get from its ground-truth mask, cut at M × M by RoIAlign
  (torchvision's soft targets, :func:`~lecturelib.models.mask_rcnn.project_masks_on_boxes`) or
  by RoIPool (the rounding of lessons 5 and 7: whole pixels, the maximum of each bin).

The channel is the predicted class's by default (``channel=0``); another class's channel shows
what the decoupled head predicts for a class it was not asked about. :func:`mask_explorer` puts
it under controls.
"""
from __future__ import annotations

import numpy as np
import torch
from matplotlib.figure import Figure

from .. import viz
from ..data import CLASSES
from ..ops import box_iou, roi_pool
from ._explorer import EXPLORER_DPI, Explorer, figure_axes

__all__ = ["draw_mask_branch", "mask_explorer"]

FIGSIZE = (11.5, 4.0)
VIEWS = ("28 × 28", "pasted")
TARGETS = ("RoIAlign", "RoIPool")


def _axes(fig: Figure) -> list:
    fig.subplots_adjust(left=0.02, right=0.98, top=0.86, bottom=0.04, wspace=0.12)
    return [fig.add_subplot(1, 3, k + 1) for k in range(3)]


def mask_target(gt_mask: torch.Tensor, box: torch.Tensor, size: int, pooling: str = "RoIAlign"):
    """The M × M training target of one box from one ground-truth mask UInt8[H, W]:
    RoIAlign's soft values (torchvision's targets) or RoIPool's maxima over rounded bins."""
    from ..models.mask_rcnn import project_masks_on_boxes
    if pooling not in TARGETS:
        raise ValueError(f"pooling must be one of {TARGETS}, got {pooling!r}")
    if pooling == "RoIAlign":
        return project_masks_on_boxes(gt_mask[None], box[None], torch.zeros(1, dtype=torch.int64),
                                      size)[0]
    return roi_pool(gt_mask[None, None].float(), [box[None]], size, 1.0)[0, 0]


def _check_choice(value, name, options):
    if value not in options:
        raise ValueError(f"{name} must be one of {options}, got {value!r}")


def draw_mask_branch(image, inspected: dict, target: dict | None = None, detection: int = 0,
                     channel: int = 0, threshold: float = 0.5, view: str = "28 × 28",
                     targets: str = "RoIAlign", class_names=CLASSES,
                     fig: Figure | None = None) -> dict:
    """Draw detection ``detection`` of ``inspected`` (from ``MaskRCNN.inspect``): its mask in the
    image, the chosen channel (0: the predicted class's; 1..K: that class's), thresholded at
    ``threshold``, in the ``view`` "28 × 28" or "pasted", and its training target by ``targets``
    ("RoIAlign" or "RoIPool"). Returns ``label``, ``channel``, ``cells_on`` (cells of the M × M
    mask ≥ threshold), ``mask_iou`` (pasted and thresholded mask vs the matched ground truth's,
    None without a target), ``soft_cells`` (target cells strictly between 0 and 1),
    ``readout``, ``figure``."""
    count = len(inspected["boxes"])
    if count == 0:
        raise ValueError("inspected has no detection to show (lower the score threshold of "
                         "MaskRCNN.inspect)")
    if isinstance(detection, bool) or not isinstance(detection, (int, np.integer)) \
            or not 0 <= detection < count:
        raise ValueError(f"detection must be an int in [0, {count}), got {detection!r}")
    logits = inspected["mask_logits"]
    classes = logits.shape[1] - 1
    if isinstance(channel, bool) or not isinstance(channel, (int, np.integer)) \
            or not 0 <= channel <= classes:
        raise ValueError(f"channel must be 0 (the predicted class) or a class in 1..{classes}, "
                         f"got {channel!r}")
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) \
            or not 0 <= threshold <= 1:
        raise ValueError(f"threshold must be a number in [0, 1], got {threshold!r}")
    _check_choice(view, "view", VIEWS)
    _check_choice(targets, "targets", TARGETS)
    from ..models.mask_rcnn import paste_masks_in_image

    fig, (ax_image, ax_mask, ax_target) = figure_axes(fig, "mask-branch", _axes, FIGSIZE)
    box, label = inspected["boxes"][detection], int(inspected["labels"][detection])
    score = float(inspected["scores"][detection])
    shown = label if channel == 0 else int(channel)
    probabilities = logits[detection, shown].sigmoid()                       # Float[M, M]
    size = probabilities.shape[-1]
    height, width = image.shape[-2:]
    pasted = paste_masks_in_image(probabilities[None, None], box[None], (height, width))[0, 0]
    cells_on = int((probabilities >= threshold).sum())

    viz.show_image(image, ax_image)
    viz.draw_masks(ax_image, (pasted >= threshold)[None].numpy().astype(np.uint8), [shown],
                   threshold=0.5)
    viz.draw_boxes(ax_image, box[None], [label], [score], class_names)
    matched, mask_iou, soft_cells = None, None, None
    if target is not None and len(target["boxes"]):
        iou = box_iou(box[None], target["boxes"])[0]
        matched = int(iou.argmax())
        viz.draw_boxes(ax_image, target["boxes"][matched][None], color="white", style="dashed")
        truth = target["masks"][matched].bool()
        guess = pasted >= threshold
        union = int((truth | guess).sum())
        mask_iou = int((truth & guess).sum()) / union if union else 0.0
    name = class_names[shown] if class_names is not None else str(shown)
    ax_image.set_title(f"detection {detection}: {class_names[label]} {score:.2f}\n"
                       f"{name} channel ≥ {threshold:.2f}, pasted", fontsize=9)

    x1, y1, x2, y2 = box.tolist()
    if view == "28 × 28":
        ax_mask.imshow(probabilities.numpy(), cmap="viridis", vmin=0, vmax=1,
                       interpolation="nearest")
        if 0 < threshold < 1 and probabilities.min() < threshold < probabilities.max():
            ax_mask.contour(probabilities.numpy(), [threshold], colors=viz.ORANGE, linewidths=1.5)
        ax_mask.set_title(f"{name} channel, sigmoid: {size} × {size} cells\n"
                          f"{cells_on} of {size * size} cells ≥ {threshold:.2f}", fontsize=9)
    else:
        ax_mask.imshow(pasted.numpy(), cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
        if 0 < threshold < 1 and pasted.min() < threshold < pasted.max():
            ax_mask.contour(pasted.numpy(), [threshold], colors=viz.ORANGE, linewidths=1.5)
        pad = 0.25 * max(x2 - x1, y2 - y1)
        ax_mask.set_xlim(max(x1 - pad, -0.5), min(x2 + pad, width - 0.5))
        ax_mask.set_ylim(min(y2 + pad, height - 0.5), max(y1 - pad, -0.5))
        viz.draw_boxes(ax_mask, box[None], color="white", linewidth=1.0)
        ax_mask.set_title(f"{name} channel pasted into the box\n"
                          f"({x2 - x1:.0f} × {y2 - y1:.0f} px, bilinear), contour at "
                          f"{threshold:.2f}", fontsize=9)
    ax_mask.set_xticks([])
    ax_mask.set_yticks([])

    if matched is not None:
        cut = mask_target(target["masks"][matched], box, size, targets)
        soft_cells = int(((cut > 0) & (cut < 1)).sum())
        ax_target.imshow(cut.numpy(), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax_target.set_title(f"its training target, cut by {targets}: {size} × {size}\n"
                            f"{soft_cells} cells strictly between 0 and 1", fontsize=9)
    else:
        ax_target.text(0.5, 0.5, "no ground truth given", ha="center", va="center")
    ax_target.set_xticks([])
    ax_target.set_yticks([])

    readout = (f"detection {detection} of {count}: {class_names[label]} {score:.2f} · channel "
               f"{name}" + (" (the predicted class)" if shown == label else
                            " (not the predicted class)")
               + f" · {cells_on} of {size * size} cells ≥ {threshold:.2f}")
    if mask_iou is not None:
        readout += (f" · mask IoU with its ground truth {mask_iou:.2f} · target by {targets}: "
                    f"{soft_cells} soft cells")
    return {"label": label, "channel": shown, "cells_on": cells_on, "mask_iou": mask_iou,
            "soft_cells": soft_cells, "readout": readout, "figure": fig}


def mask_explorer(image, inspected: dict, target: dict | None = None, detection: int = 0,
                  threshold: float = 0.5) -> Explorer:
    """Controls for :func:`draw_mask_branch`: the detection, the class channel, the mask
    threshold, the view (28 × 28 or pasted) and the targets (RoIAlign or RoIPool)."""
    import ipywidgets as widgets
    count = len(inspected["boxes"])
    if count == 0:
        raise ValueError("inspected has no detection to explore")
    classes = inspected["mask_logits"].shape[1] - 1
    style = {"description_width": "110px"}
    options = [("predicted", 0)] + [(CLASSES[k] if k < len(CLASSES) else str(k), k)
                                    for k in range(1, classes + 1)]
    controls = {
        "detection": widgets.IntSlider(value=detection, min=0, max=count - 1,
                                       description="detection", style=style),
        "channel": widgets.Dropdown(options=options, value=0, description="class channel",
                                    style=style),
        # steps of 0.1: the slider's aria values (what a browser, and a screen reader, reads)
        # carry one decimal, so finer steps would read as their neighbours
        "threshold": widgets.FloatSlider(value=threshold, min=0.1, max=0.9, step=0.1,
                                         description="mask threshold", style=style),
        # a short label and two buttons side by side fit the 300-px panel untruncated
        "view": widgets.ToggleButtons(options=list(VIEWS), value=VIEWS[0], description="view",
                                      style={"description_width": "70px", "button_width": "86px"}),
        "targets": widgets.ToggleButtons(options=list(TARGETS), value=TARGETS[0],
                                         description="targets by",
                                         style={"description_width": "70px",
                                                "button_width": "86px"}),
    }
    return Explorer(draw_mask_branch, controls,
                    fixed={"image": image, "inspected": inspected, "target": target},
                    figsize=FIGSIZE, clear=False, side_panel=True, title="The mask branch")
