"""The NMS explorer: replay greedy non-maximum suppression one box at a time.

Sliders: the IoU threshold and the step. At step k the k best-scoring boxes have been visited:
kept boxes are solid, suppressed ones dashed with the box that suppressed them, the box just
visited is thick, the rest faint and dotted.
"""
from __future__ import annotations

import ipywidgets as widgets
import torch
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from .. import viz
from ..ops.reference import nms_trace
from ._explorer import Explorer


# what each line style means, under every NMS figure (the same styles as draw_nms draws)
LEGEND = [
    Line2D([], [], color=viz.KEPT, linewidth=2, label="kept (its score)"),
    Line2D([], [], color=viz.SUPPRESSED, linewidth=1.2, linestyle="--",
           label="suppressed (×score)"),
    Line2D([], [], color=viz.SUPPRESSED, linewidth=1, linestyle=":", alpha=0.6,
           label="not visited yet"),
    Line2D([], [], color=viz.KEPT, linewidth=4, label="just visited: kept"),
    Line2D([], [], color=viz.NEGATIVE, linewidth=4, linestyle="--",
           label="just visited: suppressed"),
]


def draw_nms(boxes, scores, iou_threshold: float = 0.5, step: int | None = None, image=None,
             fig: Figure | None = None) -> dict:
    """Draw the state of greedy NMS after ``step`` visited boxes (all of them when ``None``).

    Returns ``kept`` and ``suppressed`` (indices so far, in visiting order), ``current`` (the
    record of the box just visited, or ``None``), ``step``, ``readout`` and ``figure``.
    """
    fig = fig if fig is not None else Figure(figsize=(6, 6))
    fig.subplots_adjust(left=0.05, right=0.95, top=0.93, bottom=0.15)
    ax = fig.add_subplot()
    boxes = torch.as_tensor(boxes, dtype=torch.float32)
    scores = torch.as_tensor(scores, dtype=torch.float32)
    trace = nms_trace(boxes, scores, iou_threshold)
    step = len(trace) if step is None else max(0, min(int(step), len(trace)))
    visited = trace[:step]
    kept = [s["index"] for s in visited if s["kept"]]
    suppressed = [s["index"] for s in visited if not s["kept"]]
    waiting = [s["index"] for s in trace[step:]]

    if image is not None:
        viz.show_image(image, ax)
    else:
        ax.set_xlim(float(boxes[:, 0].min()) - 5, float(boxes[:, 2].max()) + 5)
        ax.set_ylim(float(boxes[:, 3].max()) + 5, float(boxes[:, 1].min()) - 5)
    viz.draw_boxes(ax, boxes[waiting], color=viz.SUPPRESSED, style="dotted", linewidth=1,
                   alpha=0.6)
    viz.draw_boxes(ax, boxes[suppressed], color=viz.SUPPRESSED, style="dashed", linewidth=1.2,
                   captions=[f"×{scores[i]:.2f}" for i in suppressed])
    viz.draw_boxes(ax, boxes[kept], color=viz.KEPT, linewidth=2,
                   captions=[f"{scores[i]:.2f}" for i in kept])
    current = visited[-1] if visited else None
    if current is not None:
        viz.draw_boxes(ax, boxes[[current["index"]]],
                       color=viz.KEPT if current["kept"] else viz.NEGATIVE, linewidth=4,
                       style="solid" if current["kept"] else "dashed")
    fig.legend(handles=LEGEND, loc="lower center", ncol=3, fontsize=9, frameon=False,
               handlelength=2.5, columnspacing=1.2)
    ax.set_title(f"NMS at IoU > {iou_threshold:.2f}: step {step}/{len(trace)}, "
                 f"{len(kept)} kept, {len(suppressed)} suppressed")
    readout = _describe(current, scores, iou_threshold)
    return {"kept": kept, "suppressed": suppressed, "current": current, "step": step,
            "readout": readout, "figure": fig}


def _describe(current, scores, iou_threshold) -> str:
    if current is None:
        return "Step 0: nothing visited yet. Boxes are visited from the highest score down."
    i = current["index"]
    if current["kept"]:
        return (f"Box #{i} (score {scores[i]:.2f}) is <b>kept</b>: its largest IoU with a kept "
                f"box is {current['iou']:.2f} ≤ {iou_threshold:.2f}.")
    return (f"Box #{i} (score {scores[i]:.2f}) is <b>suppressed</b> by box "
            f"#{current['suppressed_by']}: IoU {current['iou']:.2f} > {iou_threshold:.2f}.")


def nms_explorer(boxes, scores, image=None, iou_threshold: float = 0.5) -> Explorer:
    """Threshold and step sliders over fixed boxes and scores (and an optional image)."""
    n = len(boxes)
    controls = {
        "iou_threshold": widgets.FloatSlider(value=iou_threshold, min=0.05, max=1.0, step=0.05,
                                             description="IoU threshold"),
        "step": widgets.IntSlider(value=n, min=0, max=n, description="step"),
    }
    return Explorer(draw_nms, controls, fixed={"boxes": boxes, "scores": scores,
                                               "image": image}, title="NMS, step by step")
