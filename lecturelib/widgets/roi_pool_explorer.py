"""The RoI pooling explorer (lesson 05): how a box in the image becomes a fixed grid of maxima.

:func:`draw_roi_pool` draws the whole of torchvision's ``roi_pool`` for one RoI on one channel:

- the feature map with its cells (cell ``(r, c)`` holds the value at feature coordinate
  ``(c, r)``, the convention of ``roi_pool`` and of RoIAlign with ``aligned=False``);
- the RoI projected onto the map, ``corner × spatial_scale`` — fractional, *dashed*;
- the RoI *quantised*: each corner rounded to the nearest cell (C's rounding, half away from
  zero, computed by the op's own :func:`~lecturelib.ops.roi_pool.roi_pool_bins`),
  and every cell from the first to the last rounded corner pooled — *solid*. That box is
  half a cell wider than the rounded corners on every side: whole cells are pooled;
- the bins: the quantised RoI cut into ``output_size`` bins whose edges are floored (start)
  and ceiled (end), so neighbouring bins can share a row or a column of cells; a bin that
  falls off the map is empty and gives 0;
- each bin's maximum (the first one in row-major order when values tie: where the gradient
  goes), and beside the map the pooled output with its values.

It returns what it computed — the quantised RoI, each bin's cell ranges, the pooled values
(checked equal to :func:`lecturelib.ops.roi_pool`), the empty bins, and how far the pooled
cells are from the RoI that was asked for (the misalignment RoIAlign removes in lesson 07).
:func:`roi_pool_explorer` puts it under sliders.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import torch
from matplotlib.collections import PatchCollection
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure
from matplotlib.legend_handler import HandlerTuple
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import MaxNLocator

from .. import viz
from ..ops import roi_pool, roi_pool_bins
from ..ops.roi_pool import check_spatial_scale
from ._explorer import EXPLORER_DPI, Explorer, figure_axes

__all__ = ["draw_roi_pool", "roi_pool_explorer", "default_feature", "IMAGE_SIZE", "SCALES"]

IMAGE_SIZE = 128                    # the default feature map belongs to a 128-px image
SCALES = {"1/4": 0.25, "1/8": 0.125, "1/16": 0.0625}
PHOTO = "camera"                    # scikit-image's cameraman, shipped in its wheel
FIGSIZE = (9.0, 4.6)
BIN_COLORS = (viz.ORANGE, viz.BLUE)   # bins alternate like a chessboard, so overlaps show
FRACTIONAL, QUANTISED, EMPTY = viz.GREEN, viz.BLACK, viz.ERROR


@functools.lru_cache(maxsize=8)
def _photo_map(size: int) -> np.ndarray:
    from ..data import load_photo
    grey = torch.from_numpy(load_photo(PHOTO)).float().mean(dim=2)          # [512, 512]
    pooled = torch.nn.functional.adaptive_avg_pool2d(grey[None, None], size)[0, 0]
    lo, hi = pooled.min(), pooled.max()
    values = ((pooled - lo) / (hi - lo) * 99).round().numpy().astype(np.float32)
    values.setflags(write=False)
    return values


def default_feature(spatial_scale: float = 0.125, image_size: int = IMAGE_SIZE) -> np.ndarray:
    """A stand-in feature map for an ``image_size`` image at ``spatial_scale``: the cameraman
    photo averaged over cells of ``1 / spatial_scale`` pixels, as integers 0..99 (easy to read;
    ties happen, and the first maximum wins). Float32 ``[S, S]``, S = image_size × scale."""
    size = max(1, int(round(image_size * check_spatial_scale(spatial_scale))))
    return _photo_map(size).copy()


def check_roi(roi_x, roi_y, roi_w, roi_h) -> None:
    """An explorer's RoI: finite corner, non-negative size (else a ValueError naming it)."""
    for name, v in (("roi_x", roi_x), ("roi_y", roi_y), ("roi_w", roi_w), ("roi_h", roi_h)):
        if not math.isfinite(v):
            raise ValueError(f"{name} must be finite, got {v!r}")
    if roi_w < 0 or roi_h < 0:
        raise ValueError(f"roi_w and roi_h must be >= 0, got {roi_w!r}, {roi_h!r}")


# ---------------------------------------------------------------------------------------------
def _roi_pool_axes(fig: Figure) -> list:
    """The map and the pooled output side by side, with one legend for both."""
    grid = fig.add_gridspec(1, 2, width_ratios=[1.35, 1.0], wspace=0.12,
                            left=0.045, right=0.99, top=0.91, bottom=0.12)
    axes = [fig.add_subplot(grid[0, n]) for n in range(2)]
    for ax in axes:
        ax.set_aspect("equal")
        ax.tick_params(labelsize=7, length=2)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))   # few labels: text is
        ax.yaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))   # the slow part to draw
    axes[0].set_facecolor("#f3e9e9")          # off the map: what an empty bin covers
    axes[1].set_xticks([])
    axes[1].set_yticks([])
    handles = [Line2D([], [], color=FRACTIONAL, ls="--", lw=2),
               Line2D([], [], color=QUANTISED, lw=2.5),
               tuple(Patch(fc=to_rgba(c, 0.3), ec=c) for c in BIN_COLORS),
               Line2D([], [], marker="o", ls="", mfc="white", mec=BIN_COLORS[0], ms=7),
               Patch(fc="none", ec=EMPTY, hatch="///", lw=0.8)]
    fig.legend(handles, ["RoI × scale", "cells pooled", "bins", "bin maximum", "empty bin"],
               handler_map={tuple: HandlerTuple(ndivide=None)},
               loc="lower center", ncol=5, fontsize=8, frameon=False, columnspacing=1.2,
               handlelength=1.8)
    return axes


def draw_roi_pool(roi_x: float = 21.0, roi_y: float = 29.5, roi_w: float = 75.0,
                  roi_h: float = 53.0, output_size=4, spatial_scale: float = 0.125,
                  feature=None, fig: Figure | None = None) -> dict:
    """RoI pooling of the box ``(roi_x, roi_y, roi_x + roi_w, roi_y + roi_h)`` (image pixels) on
    one feature map, drawn step by step.

    ``feature``: ``[H, W]`` map (array or tensor); default :func:`default_feature` of a
    128-pixel image at ``spatial_scale``. ``output_size``: int or ``(height, width)``.

    Returns a dict with
    ``fractional_roi`` (x1, y1, x2, y2 on the map, unrounded), ``quantised_roi`` (first column,
    first row, last column, last row, inclusive: the cells pooled), ``roi_cells`` (rows,
    columns), ``bin_size`` (rows, columns per bin, fractional), ``bins`` (int ``[oh, ow, 4]``:
    row_lo, row_hi, col_lo, col_hi, half-open, clamped to the map), ``pooled`` (float ``[oh, ow]``,
    equal to ``lecturelib.ops.roi_pool`` and checked), ``argmax`` (int ``[oh, ow, 2]``: row,
    column of each bin's maximum; -1 for an empty bin), ``empty_bins``, ``shared_cells`` (cells
    in more than one bin), ``fractional_area`` / ``quantised_area`` (cells²), ``iou`` (between
    the fractional RoI and the pooled cells), ``corner_shift`` (largest move of a corner by
    rounding, in cells) and ``corner_shift_pixels`` (the same in image pixels), ``steps`` (the
    computation as plain text, line by line), ``readout`` (the same as HTML) and ``figure``.
    """
    spatial_scale = check_spatial_scale(spatial_scale)
    check_roi(roi_x, roi_y, roi_w, roi_h)
    if feature is None:
        feature = default_feature(spatial_scale)
    feature = torch.as_tensor(np.asarray(feature, dtype=np.float32))
    if feature.ndim != 2 or min(feature.shape) < 1:
        raise ValueError(f"feature must be a 2-D map [H, W], got shape {tuple(feature.shape)}")
    height, width = feature.shape

    # 1. the geometry, exactly as every roi_pool path computes it
    roi = torch.tensor([[0.0, roi_x, roi_y, roi_x + roi_w, roi_y + roi_h]], dtype=torch.float32)
    geometry = roi_pool_bins(feature[None, None], roi, output_size, spatial_scale)
    row_bins, col_bins = geometry.rows[0].numpy(), geometry.cols[0].numpy()
    oh, ow = pooled_hw = len(row_bins), len(col_bins)
    r0, c0 = int(geometry.start_h[0]), int(geometry.start_w[0])
    bin_h, bin_w = geometry.bin_h, geometry.bin_w
    rows = int(round(float(bin_h[0]) * oh))
    cols = int(round(float(bin_w[0]) * ow))
    r1, c1 = r0 + rows - 1, c0 + cols - 1                   # last row / column, inclusive
    scale32 = torch.tensor(spatial_scale, dtype=torch.float32)
    fx1, fy1, fx2, fy2 = (float(v) for v in roi[0, 1:] * scale32)

    # 2. the bins' maxima (first maximum in row-major order wins, as in the kernels)
    values = feature.numpy()
    bins = np.zeros((oh, ow, 4), dtype=np.int64)
    pooled = np.zeros((oh, ow), dtype=np.float32)
    argmax = np.full((oh, ow, 2), -1, dtype=np.int64)
    cover = np.zeros((height, width), dtype=np.int64)
    for i, (h0, h1) in enumerate(row_bins):
        for j, (w0, w1) in enumerate(col_bins):
            bins[i, j] = (h0, h1, w0, w1)
            if h1 > h0 and w1 > w0:
                block = values[h0:h1, w0:w1]
                k = int(np.argmax(block))                   # numpy: the first maximum
                argmax[i, j] = (h0 + k // (w1 - w0), w0 + k % (w1 - w0))
                pooled[i, j] = block.flat[k]
                cover[h0:h1, w0:w1] += 1
    empty = int((argmax[..., 0] < 0).sum())
    shared = int((cover > 1).sum())
    package = roi_pool(feature[None, None], roi, pooled_hw, spatial_scale)[0, 0]
    if not torch.equal(package, torch.from_numpy(pooled)):
        raise AssertionError(f"the drawn bins give {pooled.tolist()} but lecturelib.ops.roi_pool "
                             f"gives {package.tolist()}")

    # 3. how far the pooled cells are from the RoI that was asked for
    qx1, qy1, qx2, qy2 = c0 - 0.5, r0 - 0.5, c1 + 0.5, r1 + 0.5   # whole cells, drawn extent
    fractional_area = (fx2 - fx1) * (fy2 - fy1)
    quantised_area = float(rows * cols)
    inter = max(0.0, min(fx2, qx2) - max(fx1, qx1)) * max(0.0, min(fy2, qy2) - max(fy1, qy1))
    iou = inter / (fractional_area + quantised_area - inter)
    corner_shift = max(abs(fx1 - c0), abs(fy1 - r0), abs(fx2 - c1), abs(fy2 - r1))

    # 4. the picture
    fig, (ax_map, ax_out) = figure_axes(fig, "roi_pool", _roi_pool_axes, FIGSIZE, EXPLORER_DPI)
    vmin, vmax = float(values.min()), float(values.max())
    if vmax == vmin:
        vmax = vmin + 1.0
    ax_map.imshow(values, cmap="gray", vmin=vmin, vmax=vmax, interpolation="nearest")
    ax_map.add_patch(Rectangle((-0.5, -0.5), width, height, fill=False, ec="#555555", lw=1))
    if max(height, width) <= 40:
        ax_map.hlines(np.arange(height + 1) - 0.5, -0.5, width - 0.5, color="#888888", lw=0.4)
        ax_map.vlines(np.arange(width + 1) - 0.5, -0.5, height - 0.5, color="#888888", lw=0.4)
    inset = 0.08
    tiles = [Rectangle((w0 - 0.5 + inset, h0 - 0.5 + inset), w1 - w0 - 2 * inset,
                       h1 - h0 - 2 * inset)
             for h0, h1, w0, w1 in bins.reshape(-1, 4) if h1 > h0 and w1 > w0]
    chess = [BIN_COLORS[(i + j) % 2] for i in range(oh) for j in range(ow)
             if bins[i, j, 1] > bins[i, j, 0] and bins[i, j, 3] > bins[i, j, 2]]
    ax_map.add_collection(PatchCollection(tiles, facecolors=[to_rgba(c, 0.28) for c in chess],
                                          edgecolors=chess, linewidths=1.2))
    off_map = roi_pool_bins(feature[None, None], roi, pooled_hw, spatial_scale, clamp=False)
    unclamped_rows, unclamped_cols = off_map.rows[0].tolist(), off_map.cols[0].tolist()
    for i, j in zip(*np.nonzero(argmax[..., 0] < 0)):
        (h0, h1), (w0, w1) = unclamped_rows[i], unclamped_cols[j]
        ax_map.add_patch(Rectangle((w0 - 0.5 + inset, h0 - 0.5 + inset), w1 - w0 - 2 * inset,
                                   h1 - h0 - 2 * inset, fill=False, ec=EMPTY, lw=0.8,
                                   hatch="///"))
    ax_map.add_patch(Rectangle((qx1, qy1), cols, rows, fill=False, ec=QUANTISED, lw=2.5))
    ax_map.add_patch(Rectangle((qx1, qy1), cols, rows, fill=False, ec="white", lw=0.8))
    ax_map.add_patch(Rectangle((fx1, fy1), fx2 - fx1, fy2 - fy1, fill=False, ec=FRACTIONAL,
                               lw=2, ls="--"))
    found = argmax[..., 0] >= 0
    ax_map.scatter(argmax[found][:, 1], argmax[found][:, 0], s=44, c="white",
                   edgecolors=[BIN_COLORS[(i + j) % 2] for i, j in zip(*np.nonzero(found))],
                   linewidths=1.8, zorder=5)
    margin = 1.5
    ax_map.set_xlim(min(-0.5, qx1, fx1) - margin, max(width - 0.5, qx2, fx2) + margin)
    ax_map.set_ylim(max(height - 0.5, qy2, fy2) + margin, min(-0.5, qy1, fy1) - margin)
    px = 1 / spatial_scale
    ax_map.set_title(f"cell = {px:g} px; pooled: columns {c0}..{c1}, rows {r0}..{r1}; "
                     f"IoU {iou:.2f}", fontsize=9)

    shown = np.where(found, pooled, np.nan)
    ax_out.imshow(shown, cmap="gray", vmin=vmin, vmax=vmax, interpolation="nearest")
    ax_out.set_facecolor("#f2f2f2")
    ax_out.add_collection(PatchCollection(
        [Rectangle((j - 0.5 + 0.04, i - 0.5 + 0.04), 0.92, 0.92) for i in range(oh)
         for j in range(ow)], facecolors="none",
        edgecolors=[BIN_COLORS[(i + j) % 2] for i in range(oh) for j in range(ow)],
        linewidths=2))
    size = 11 if max(oh, ow) <= 4 else 9 if max(oh, ow) <= 6 else 7.5
    for i in range(oh):
        for j in range(ow):
            if found[i, j]:
                v = float(pooled[i, j])
                light = (v - vmin) / (vmax - vmin) > 0.55
                ax_out.text(j, i, f"{v:.3g}", ha="center", va="center", fontsize=size,
                            color="black" if light else "white")
            else:
                ax_out.text(j, i, "0", ha="center", va="center", fontsize=size, color=EMPTY)
    if empty:
        ax_out.add_collection(PatchCollection(
            [Rectangle((j - 0.5, i - 0.5), 1, 1) for i, j in zip(*np.nonzero(~found))],
            facecolors="none", edgecolors=EMPTY, hatch="///", linewidths=0))
    ax_out.set_xlim(-0.5, ow - 0.5)
    ax_out.set_ylim(oh - 0.5, -0.5)
    ax_out.set_title(f"{oh}×{ow} bins of {float(bin_h[0]):.3g} × {float(bin_w[0]):.3g} cells, "
                     f"{empty} empty", fontsize=9)

    steps = (f"RoI (px)      x {roi_x:g}..{roi_x + roi_w:g}, y {roi_y:g}..{roi_y + roi_h:g}\n"
             f"× {spatial_scale:g}     x {fx1:.4g}..{fx2:.4g}, y {fy1:.4g}..{fy2:.4g} (cells)\n"
             f"rounded       columns {c0}..{c1}, rows {r0}..{r1} (C rounding: .5 goes away "
             f"from 0)\n"
             f"size          {rows} × {cols} cells (last - first + 1)\n"
             f"bin           {rows}/{oh} × {cols}/{ow} = {float(bin_h[0]):.4g} × "
             f"{float(bin_w[0]):.4g} cells; edges floor(start), ceil(end)\n"
             f"bins          {shared} cells in two bins or more, {empty} empty (off the map)\n"
             f"quantisation  corners moved up to {corner_shift:.4g} cell = "
             f"{corner_shift * px:.4g} px; IoU(RoI, pooled cells) = {iou:.3f}")
    readout = (f"RoI × {spatial_scale:g} = x {fx1:.4g}..{fx2:.4g}, y {fy1:.4g}..{fy2:.4g} → "
               f"pooled cells: columns <b>{c0}..{c1}</b>, rows <b>{r0}..{r1}</b> "
               f"({rows} × {cols}, corners rounded half away from 0)<br>"
               f"{oh} × {ow} bins of {float(bin_h[0]):.4g} × {float(bin_w[0]):.4g} cells (edges: "
               f"floor of the start, ceil of the end): {shared} cells in two bins or more, "
               f"<b>{empty} empty</b><br>"
               f"quantisation: corners moved up to {corner_shift:.4g} cell = "
               f"<b>{corner_shift * px:.4g} px</b>; IoU(RoI, pooled cells) = <b>{iou:.3f}</b>")
    return {"fractional_roi": (fx1, fy1, fx2, fy2), "quantised_roi": (c0, r0, c1, r1),
            "roi_cells": (rows, cols), "bin_size": (float(bin_h[0]), float(bin_w[0])),
            "bins": bins, "pooled": pooled, "argmax": argmax, "empty_bins": empty,
            "shared_cells": shared, "fractional_area": fractional_area,
            "quantised_area": quantised_area, "iou": iou, "corner_shift": corner_shift,
            "corner_shift_pixels": corner_shift * px, "steps": steps, "readout": readout,
            "figure": fig}


def roi_pool_explorer(roi_x: float = 21.0, roi_y: float = 29.5, roi_w: float = 75.0,
                      roi_h: float = 53.0, output_size: int = 4, spatial_scale: float = 0.125,
                      feature=None) -> Explorer:
    """Sliders for :func:`draw_roi_pool`: the RoI (image pixels, half-pixel steps so that
    coordinates landing on .5 of a cell can be tried), the output size and the spatial scale.
    Display the returned explorer (last line of a cell)."""
    import ipywidgets as widgets
    if spatial_scale not in SCALES.values():
        raise ValueError(f"spatial_scale must be one of {sorted(SCALES.values())} in the "
                         f"explorer, got {spatial_scale!r}")
    if feature is None:
        extent = IMAGE_SIZE
    else:
        extent = int(math.ceil(max(np.shape(feature)[-2:]) / min(SCALES.values())))
    style = {"description_width": "110px"}

    def slider(description, value, lo, hi):
        return widgets.FloatSlider(value=value, min=lo, max=hi, step=0.5, description=description,
                                   style=style, continuous_update=True, readout_format=".1f")

    controls = {
        "roi_x": slider("RoI x (px)", roi_x, -extent / 4, extent),
        "roi_y": slider("RoI y (px)", roi_y, -extent / 4, extent),
        "roi_w": slider("RoI width (px)", roi_w, 0, extent),
        "roi_h": slider("RoI height (px)", roi_h, 0, extent),
        "output_size": widgets.IntSlider(value=output_size, min=1, max=7,
                                         description="output size", style=style),
        "spatial_scale": widgets.SelectionSlider(options=list(SCALES.items()),
                                                 value=spatial_scale,
                                                 description="spatial scale", style=style),
    }
    return Explorer(draw_roi_pool, controls, fixed={"feature": feature}, figsize=FIGSIZE,
                    clear=False, side_panel=True, title="RoI pooling")
