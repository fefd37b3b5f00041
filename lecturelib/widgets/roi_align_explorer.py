"""The RoIAlign explorer (lesson 07): one RoI on a small feature grid, pooled both ways.

:func:`draw_roi_align` draws, for an RoI given in *cells* of the feature map (sub-cell
positions allowed, which is the point):

- the map, its cells (cell ``(r, c)`` holds its value at the point ``(c, r)``), the RoI asked
  for (dashed green);
- RoI pooling (lesson 5): the RoI rounded to whole cells (solid black) and its bins (dotted,
  whole cells, may overlap), from the op's own :func:`~lecturelib.ops.roi_pool_bins`;
- RoIAlign: its bins, exact (thin orange lines, nothing rounded; shifted by half a cell when
  ``aligned``) and the sample points of every bin (dots, from
  :func:`~lecturelib.ops.roi_align_samples`); for one sample (the ringed one) the four cells it
  reads and their bilinear weights;
- both outputs side by side, with their values — RoIAlign's checked against
  :func:`lecturelib.ops.roi_align`, RoI pooling's against :func:`lecturelib.ops.roi_pool`.

:func:`roi_align_explorer` puts it under sliders (0.1-cell steps).
"""
from __future__ import annotations

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from .. import viz
from ..ops import roi_align, roi_align_samples, roi_pool, roi_pool_bins
from ..ops.reference import bilinear_sample
from ._explorer import EXPLORER_DPI, Explorer, figure_axes
from .roi_pool_explorer import check_roi, default_feature

__all__ = ["draw_roi_align", "roi_align_explorer"]

FIGSIZE = (10.5, 4.2)
ASKED, POOL, POOL_BINS, ALIGN = viz.GREEN, viz.BLACK, viz.VERMILLION, viz.ORANGE


def _axes(fig: Figure) -> list:
    grid = fig.add_gridspec(1, 3, width_ratios=[1.5, 1.0, 1.0], wspace=0.15,
                            left=0.03, right=0.99, top=0.88, bottom=0.13)
    axes = [fig.add_subplot(grid[0, n]) for n in range(3)]
    for ax in axes:
        ax.set_aspect("equal")
        ax.tick_params(labelsize=7, length=2)
    for ax in axes[1:]:
        ax.set_xticks([])
        ax.set_yticks([])
    handles = [Line2D([], [], color=ASKED, ls="--", lw=2), Line2D([], [], color=POOL, lw=2.5),
               Line2D([], [], color=POOL_BINS, lw=1.4, ls=":"), Line2D([], [], color=ALIGN, lw=1.2),
               Line2D([], [], marker="o", ls="", mfc=ALIGN, mec="white", ms=5)]
    fig.legend(handles, ["RoI asked for", "RoIPool: rounded to cells", "RoIPool bins",
                         "RoIAlign bins (exact)", "RoIAlign samples"], loc="lower center", ncol=5,
               fontsize=8, frameon=False)
    return axes


def _weights(plane_shape, y: float, x: float) -> np.ndarray:
    """The bilinear weight of every cell for the point (y, x): bilinear_sample of one-hot maps,
    so the border rules are the op's own. Float [H, W]."""
    h, w = plane_shape
    one_hot = torch.eye(h * w).reshape(h * w, h, w)
    return bilinear_sample(one_hot, torch.tensor(y), torch.tensor(x)).reshape(h, w).numpy()


def draw_roi_align(roi_x: float = 1.3, roi_y: float = 1.6, roi_w: float = 4.4,
                   roi_h: float = 3.7, output_size: int = 2, sampling_ratio: int = 2,
                   aligned: bool = False, feature=None, fig: Figure | None = None) -> dict:
    """RoI pooling and RoIAlign of the RoI ``(roi_x, roi_y, roi_x + roi_w, roi_y + roi_h)``
    in cells of ``feature`` (``[H, W]``; default: the cameraman photo at 8 × 8, values 0..99).

    Returns ``pooled`` and ``aligned_out`` (Float [oh, ow]: RoI pooling's and RoIAlign's
    outputs, checked against the ops), ``samples`` (Float [oh, ow, S, 2]: RoIAlign's sample
    points (y, x)), ``weights`` (Float [H, W]: the bilinear weights of the ringed sample),
    ``quantised_roi`` (first column, first row, last column, last row pooled by RoI pooling),
    ``readout`` (HTML) and ``figure``.
    """
    check_roi(roi_x, roi_y, roi_w, roi_h)
    if feature is None:
        feature = default_feature(0.0625)
    feature = torch.as_tensor(np.asarray(feature, dtype=np.float32))
    if feature.ndim != 2 or min(feature.shape) < 1:
        raise ValueError(f"feature must be a 2-D map [H, W], got shape {tuple(feature.shape)}")
    height, width = feature.shape
    x4 = feature[None, None]
    roi = torch.tensor([[0.0, roi_x, roi_y, roi_x + roi_w, roi_y + roi_h]])

    pooled = roi_pool(x4, roi, output_size, 1.0)[0, 0].numpy()
    bins = roi_pool_bins(x4, roi, output_size, 1.0)
    aligned_out = roi_align(x4, roi, output_size, 1.0, sampling_ratio, aligned)[0, 0].numpy()
    samples = roi_align_samples(x4, roi, output_size, 1.0, sampling_ratio, aligned)[0]
    by_hand = np.zeros_like(aligned_out)
    for i in range(samples.shape[0]):
        for j in range(samples.shape[1]):
            values = [float(bilinear_sample(feature[None], y, x)) for y, x in samples[i, j]]
            by_hand[i, j] = np.mean(values) if values else 0.0
    if not np.allclose(by_hand, aligned_out, atol=1e-4):
        raise AssertionError(f"the drawn samples give {by_hand.tolist()} but lecturelib.ops."
                             f"roi_align gives {aligned_out.tolist()}")
    ringed = samples[0, 0, 0].tolist() if samples.shape[2] else None
    weights = _weights((height, width), *ringed) if ringed else np.zeros((height, width))

    fig, (ax_map, ax_pool, ax_align) = figure_axes(fig, "roi_align", _axes, FIGSIZE,
                                                   EXPLORER_DPI)
    vmin, vmax = float(feature.min()), float(feature.max()) + 1e-6
    ax_map.imshow(feature.numpy(), cmap="gray", vmin=vmin, vmax=vmax, interpolation="nearest")
    ax_map.hlines(np.arange(height + 1) - 0.5, -0.5, width - 0.5, color="#888888", lw=0.4)
    ax_map.vlines(np.arange(width + 1) - 0.5, -0.5, height - 0.5, color="#888888", lw=0.4)
    c0, r0 = int(bins.start_w[0]), int(bins.start_h[0])
    rows = int(round(float(bins.bin_h[0]) * pooled.shape[0]))
    cols = int(round(float(bins.bin_w[0]) * pooled.shape[1]))
    ax_map.add_patch(Rectangle((c0 - 0.5, r0 - 0.5), cols, rows, fill=False, ec=POOL, lw=2.5))
    for (h0, h1) in bins.rows[0].tolist():             # RoIPool's bins: whole cells (dotted)
        for (w0, w1) in bins.cols[0].tolist():
            if h1 > h0 and w1 > w0:
                ax_map.add_patch(Rectangle((w0 - 0.5, h0 - 0.5), w1 - w0, h1 - h0, fill=False,
                                           ec=POOL_BINS, lw=1.4, ls=":"))
    ax_map.add_patch(Rectangle((roi_x, roi_y), roi_w, roi_h, fill=False, ec=ASKED, lw=2, ls="--"))
    offset = 0.5 if aligned else 0.0
    x1, y1 = roi_x - offset, roi_y - offset
    w_roi, h_roi = (roi_w, roi_h) if aligned else (max(roi_w, 1.0), max(roi_h, 1.0))
    oh, ow = aligned_out.shape
    for k in range(oh + 1):
        ax_map.plot([x1, x1 + w_roi], [y1 + k * h_roi / oh] * 2, color=ALIGN, lw=1.2)
    for k in range(ow + 1):
        ax_map.plot([x1 + k * w_roi / ow] * 2, [y1, y1 + h_roi], color=ALIGN, lw=1.2)
    flat = samples.reshape(-1, 2).numpy()
    ax_map.scatter(flat[:, 1], flat[:, 0], s=16, c=ALIGN, edgecolors="white", linewidths=0.6,
                   zorder=5)
    if ringed:
        ax_map.scatter([ringed[1]], [ringed[0]], s=110, facecolors="none", edgecolors=viz.BLUE,
                       linewidths=2, zorder=8)
        for r, c in zip(*np.nonzero(weights > 0)):
            ax_map.text(c, r, f"{weights[r, c]:.2f}", ha="center", va="center", fontsize=7,
                        color="white", bbox=dict(boxstyle="round,pad=0.15", fc=viz.BLUE,
                                                 ec="none", alpha=0.85), zorder=7)
    margin = 1.0
    ax_map.set_xlim(min(-0.5, x1, roi_x) - margin, max(width - 0.5, roi_x + roi_w) + margin)
    ax_map.set_ylim(max(height - 0.5, roi_y + roi_h) + margin, min(-0.5, y1, roi_y) - margin)
    ax_map.set_title(f"{samples.shape[2]} samples per bin; ringed sample's weights in blue",
                     fontsize=9)
    for ax, out, title in ((ax_pool, pooled, "RoIPool (max of whole cells)"),
                           (ax_align, aligned_out, "RoIAlign (mean of samples)")):
        ax.imshow(out, cmap="gray", vmin=vmin, vmax=vmax, interpolation="nearest")
        for i in range(out.shape[0]):
            for j in range(out.shape[1]):
                light = (out[i, j] - vmin) / (vmax - vmin) > 0.55
                ax.text(j, i, f"{out[i, j]:.3g}", ha="center", va="center", fontsize=10,
                        color="black" if light else "white")
        ax.set_title(title, fontsize=9)
    readout = (f"RoI x {roi_x:.2f}..{roi_x + roi_w:.2f}, y {roi_y:.2f}..{roi_y + roi_h:.2f} "
               f"(cells) → RoIPool pools columns <b>{c0}..{c0 + cols - 1}</b>, rows "
               f"<b>{r0}..{r0 + rows - 1}</b>; RoIAlign samples {samples.shape[2]} points per "
               f"bin{' (shifted by −0.5 cell: aligned)' if aligned else ''}")
    return {"pooled": pooled, "aligned_out": aligned_out, "samples": samples.numpy(),
            "weights": weights, "quantised_roi": (c0, r0, c0 + cols - 1, r0 + rows - 1),
            "readout": readout, "figure": fig}


def roi_align_explorer(roi_x: float = 1.3, roi_y: float = 1.6, roi_w: float = 4.4,
                       roi_h: float = 3.7, output_size: int = 2, sampling_ratio: int = 2,
                       aligned: bool = False, feature=None) -> Explorer:
    """Sliders for :func:`draw_roi_align`: the RoI in 0.1-cell steps, the output size, the
    samples per bin side (0: adaptive, ceil(bin size)) and the aligned toggle."""
    import ipywidgets as widgets
    style = {"description_width": "110px"}
    extent = 8 if feature is None else max(np.shape(feature))

    def slider(description, value, lo, hi):
        return widgets.FloatSlider(value=value, min=lo, max=hi, step=0.1, description=description,
                                   style=style, readout_format=".1f")

    controls = {
        "roi_x": slider("RoI x (cells)", roi_x, -1.0, extent),
        "roi_y": slider("RoI y (cells)", roi_y, -1.0, extent),
        "roi_w": slider("RoI width", roi_w, 0.0, extent),
        "roi_h": slider("RoI height", roi_h, 0.0, extent),
        "output_size": widgets.IntSlider(value=output_size, min=1, max=4,
                                         description="output size", style=style),
        "sampling_ratio": widgets.IntSlider(value=sampling_ratio, min=0, max=4,
                                            description="samples/side (0: auto)", style=style),
        "aligned": widgets.Checkbox(value=aligned, description="aligned (−0.5 cell)"),
    }
    return Explorer(draw_roi_align, controls, fixed={"feature": feature}, figsize=FIGSIZE,
                    clear=False, side_panel=True, title="RoIAlign vs RoIPool")
