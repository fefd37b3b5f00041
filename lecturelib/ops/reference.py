"""The plain-loop versions of the box ops: slow, obviously right, and what the lessons read.

Every function here takes and returns the same things as its fast twin in ``lecturelib.ops``
and the tests check all of them against torchvision. Coordinates are ``(x1, y1, x2, y2)`` in
pixels; a box's width is ``x2 - x1`` (no "+1").

The loops walk over NumPy rows, so each number keeps the boxes' precision (float32 arithmetic
for float32 boxes): at a knife-edge such as an IoU of exactly 1/3, the answer is the one
torchvision's float32 kernels give.
"""
from __future__ import annotations

import math

import torch

from .backends import gradient_from_cpu_path


def iou_pair(a, b) -> float:
    """IoU of two boxes given as 4 numbers each: intersection area / union area.

    Two boxes of zero area have a union of 0; we define their IoU as 0 (not NaN).
    """
    inter_w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    inter_h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = inter_w * inter_h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@gradient_from_cpu_path("box_iou")
def box_iou_reference(boxes1: torch.Tensor, boxes2: torch.Tensor) -> torch.Tensor:
    """Tensor[N, 4], Tensor[M, 4] -> Tensor[N, M]: the IoU of every pair, two nested loops.

    In the precision of both inputs together (float32 and float64 give float64, as torch
    promotes). Python numbers carry no gradient: the decorator gives the result the CPU path's.
    """
    dtype = torch.promote_types(_float_dtype(boxes1), _float_dtype(boxes2))
    rows2 = _rows(boxes2, dtype)
    rows = [[float(iou_pair(a, b)) for b in rows2] for a in _rows(boxes1, dtype)]
    out = torch.tensor(rows, dtype=dtype, device=boxes1.device)
    return out.reshape(len(boxes1), len(boxes2))


def nms_reference(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float,
                  idxs: torch.Tensor | None = None) -> torch.Tensor:
    """Greedy non-maximum suppression, one box at a time.

    Visit boxes from the highest score down (ties: lower index first). Keep a box unless an
    already kept box of the same class (``idxs``; all one class when ``None``) overlaps it with
    IoU > ``iou_threshold``. Returns the kept indices, Int64[K], in decreasing score.
    """
    order = torch.sort(scores, descending=True, stable=True).indices.tolist()
    box_list = _rows(boxes)
    classes = idxs.tolist() if idxs is not None else [0] * len(order)
    kept: list[int] = []
    for i in order:
        if all(classes[k] != classes[i]
               or float(iou_pair(box_list[k], box_list[i])) <= iou_threshold for k in kept):
            kept.append(i)
    return torch.tensor(kept, dtype=torch.int64, device=boxes.device)


def nms_trace(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> list[dict]:
    """The greedy NMS loop, one record per visited box, for lessons that replay it.

    Boxes are visited from the highest score down; each record says which box was visited, whether
    it was kept, and otherwise which kept box suppressed it and with what IoU::

        {"index": 3, "kept": False, "suppressed_by": 0, "iou": 0.81}

    The kept indices, in order, are exactly :func:`nms_reference`'s answer.
    """
    order = torch.sort(scores, descending=True, stable=True).indices.tolist()
    rows = _rows(boxes)
    kept: list[int] = []
    steps = []
    for i in order:
        overlaps = [(float(iou_pair(rows[k], rows[i])), k) for k in kept]
        worst = max(overlaps, default=(0.0, None))
        if worst[0] > iou_threshold:
            steps.append({"index": i, "kept": False, "suppressed_by": worst[1], "iou": worst[0]})
        else:
            kept.append(i)
            steps.append({"index": i, "kept": True, "suppressed_by": None, "iou": worst[0]})
    return steps


@gradient_from_cpu_path("encode_boxes")
def encode_boxes_reference(reference_boxes: torch.Tensor, proposals: torch.Tensor,
                           weights=(1.0, 1.0, 1.0, 1.0)) -> torch.Tensor:
    """R-CNN box deltas that move each proposal onto its reference (ground-truth) box.

    For a proposal with centre (px, py) and size (pw, ph), and a target (gx, gy, gw, gh):
    ``dx = wx (gx - px) / pw, dy = wy (gy - py) / ph, dw = ww log(gw / pw), dh = wh log(gh / ph)``.
    (Python numbers carry no gradient: the decorator gives the result the CPU path's.)
    """
    wx, wy, ww, wh = weights
    out = []
    for g, p in zip(reference_boxes.tolist(), proposals.tolist()):
        pw, ph = p[2] - p[0], p[3] - p[1]
        gw, gh = g[2] - g[0], g[3] - g[1]
        px, py = p[0] + 0.5 * pw, p[1] + 0.5 * ph
        gx, gy = g[0] + 0.5 * gw, g[1] + 0.5 * gh
        out.append([wx * (gx - px) / pw, wy * (gy - py) / ph,
                    ww * math.log(gw / pw), wh * math.log(gh / ph)])
    return torch.tensor(out, dtype=proposals.dtype, device=proposals.device).reshape(-1, 4)


@gradient_from_cpu_path("decode_boxes")
def decode_boxes_reference(deltas: torch.Tensor, boxes: torch.Tensor,
                           weights=(1.0, 1.0, 1.0, 1.0),
                           clip: float = math.log(1000.0 / 16)) -> torch.Tensor:
    """Inverse of :func:`encode_boxes_reference`: apply deltas Tensor[N, 4k] to boxes Tensor[N, 4].

    ``dw`` and ``dh`` are clamped at ``clip`` before the exponential (no overflow to inf).
    (Python numbers carry no gradient: the decorator gives the result the CPU path's.)
    """
    wx, wy, ww, wh = weights
    out = []
    for d_row, b in zip(deltas.tolist(), boxes.tolist()):
        w, h = b[2] - b[0], b[3] - b[1]
        cx, cy = b[0] + 0.5 * w, b[1] + 0.5 * h
        row = []
        for k in range(0, len(d_row), 4):
            dx, dy = d_row[k] / wx, d_row[k + 1] / wy
            dw, dh = min(d_row[k + 2] / ww, clip), min(d_row[k + 3] / wh, clip)
            ncx, ncy = dx * w + cx, dy * h + cy
            nw, nh = math.exp(dw) * w, math.exp(dh) * h
            row += [ncx - 0.5 * nw, ncy - 0.5 * nh, ncx + 0.5 * nw, ncy + 0.5 * nh]
        out.append(row)
    return torch.tensor(out, dtype=deltas.dtype, device=deltas.device).reshape(deltas.shape)


def _rows(boxes: torch.Tensor, dtype: torch.dtype | None = None) -> list:
    """The boxes as a list of NumPy rows in ``dtype`` (default: float32, or float64 for float64
    boxes): scalar maths keeps that dtype."""
    return list(boxes.detach().cpu().to(dtype or _float_dtype(boxes)).numpy())


def _float_dtype(t: torch.Tensor) -> torch.dtype:
    return t.dtype if t.dtype in (torch.float32, torch.float64) else torch.float32


def roi_pool_reference(x: torch.Tensor, rois: torch.Tensor, output_size: tuple[int, int],
                       spatial_scale: float) -> torch.Tensor:
    """RoI max pooling with explicit loops: Float[N, C, H, W], Float[K, 5] -> Float[K, C, oh, ow].

    For each RoI: project and round its corners to feature cells, split it into oh × ow bins
    (:func:`~lecturelib.ops.roi_pool.roi_pool_bins`, the geometry every path shares), take the
    maximum of each bin (0 for an empty bin). Differentiable through autograd (slowly).
    """
    from ._roi_common import bin_ranges, roi_pool_geometry
    oh, ow = output_size
    geometry = roi_pool_geometry(rois, spatial_scale, output_size)
    row_bins, col_bins = bin_ranges(geometry, output_size, x.shape[2], x.shape[3])
    out = []
    for k, b in enumerate(geometry[0].tolist()):
        bins = []
        for h0, h1 in row_bins[k].tolist():
            for w0, w1 in col_bins[k].tolist():
                if h1 <= h0 or w1 <= w0:   # empty: the sum over no cell, 0 (zero gradient)
                    bins.append(x[b, :, :0, :0].sum(dim=(1, 2)))
                else:
                    bins.append(x[b, :, h0:h1, w0:w1].flatten(1).max(dim=1).values)
        out.append(torch.stack(bins, dim=1).reshape(x.shape[1], oh, ow))
    if not out:   # no RoI: an empty result that is still a function of x (zero gradient)
        return x[:0].sum(dim=(2, 3), keepdim=True).expand(0, x.shape[1], oh, ow)
    return torch.stack(out)


def make_anchors_reference(feature_size, stride, sizes, aspect_ratios,
                           centred: bool = False) -> torch.Tensor:
    """Anchors with plain loops: for every cell (row by row), every ratio, every size, a box of
    width ``size / sqrt(ratio)`` and height ``size * sqrt(ratio)`` centred on the cell's corner
    (``centred``: on its centre), its half-sizes rounded half to even, in float32 like
    torchvision. Returns Float[H * W * A, 4]."""
    import numpy as np

    from .anchors import check_anchor_args
    (height, width), (sy, sx), sizes, ratios = check_anchor_args(feature_size, stride, sizes,
                                                                  aspect_ratios)
    f32 = np.float32
    offset = 0.5 if centred else 0.0
    rows = []
    for y in range(height):
        for x in range(width):
            cx, cy = f32((x + offset) * sx), f32((y + offset) * sy)
            for ratio in ratios:
                h_ratio = np.sqrt(f32(ratio))
                w_ratio = f32(1) / h_ratio
                for size in sizes:
                    half_w = np.rint(w_ratio * f32(size) / f32(2))   # rint: half to even
                    half_h = np.rint(h_ratio * f32(size) / f32(2))
                    rows.append([cx - half_w, cy - half_h, cx + half_w, cy + half_h])
    return torch.tensor(np.array(rows, dtype=np.float32).reshape(-1, 4))


def bilinear_sample(plane: torch.Tensor, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The value of a feature map Float[C, H, W] at the real point (y, x), in cell units (cell
    (i, j) has its value at y = i, x = j): a weighted mean of the four cells around the point.
    Returns Float[C].

    With ``y0 = floor(y)``, ``ly = y - y0`` (and the same for x), the weights are
    ``(1 - ly)(1 - lx)``, ``(1 - ly) lx``, ``ly (1 - lx)``, ``ly lx`` for the cells
    (y0, x0), (y0, x0 + 1), (y0 + 1, x0), (y0 + 1, x0 + 1). At the border, torchvision's rules:
    a point more than one cell outside the map gives 0; a point in the one-cell margin is moved
    onto the map's edge (y < 0 -> 0, y > H - 1 -> H - 1). ``y`` and ``x`` are 0-d tensors, so
    autograd gives the gradient with respect to the point too.
    """
    height, width = plane.shape[-2:]
    if not (-1.0 <= y.item() <= height and -1.0 <= x.item() <= width):   # NaN lands here too
        return plane.new_zeros(plane.shape[0])
    y, x = torch.clamp(y, min=0), torch.clamp(x, min=0)
    y0, x0 = int(y.item()), int(x.item())
    if y0 >= height - 1:
        y0 = y1 = height - 1
        y = y.new_tensor(float(y0))          # on the last row: no slope in y
    else:
        y1 = y0 + 1
    if x0 >= width - 1:
        x0 = x1 = width - 1
        x = x.new_tensor(float(x0))
    else:
        x1 = x0 + 1
    ly, lx = y - y0, x - x0
    hy, hx = 1 - ly, 1 - lx
    return (hy * hx * plane[:, y0, x0] + hy * lx * plane[:, y0, x1]
            + ly * hx * plane[:, y1, x0] + ly * lx * plane[:, y1, x1])


def roi_align_bin(plane: torch.Tensor, y_start, x_start, bin_h, bin_w, grid_h: int,
                  grid_w: int) -> torch.Tensor:
    """One RoIAlign bin: the mean of ``grid_h × grid_w`` bilinear samples at the centres of a
    regular grid over the bin whose top-left corner is (y_start, x_start) and size
    bin_h × bin_w (cell units, real numbers: nothing is rounded). Float[C, H, W] -> Float[C]."""
    total = plane.new_zeros(plane.shape[0])
    for iy in range(grid_h):
        y = y_start + (iy + 0.5) * bin_h / grid_h
        for ix in range(grid_w):
            x = x_start + (ix + 0.5) * bin_w / grid_w
            total = total + bilinear_sample(plane, y, x)
    return total / max(grid_h * grid_w, 1)


def roi_align_reference(x: torch.Tensor, rois: torch.Tensor, output_size: tuple[int, int],
                        spatial_scale: float, sampling_ratio: int = -1,
                        aligned: bool = False) -> torch.Tensor:
    """RoIAlign with explicit loops: Float[N, C, H, W], Float[K, 5] -> Float[K, C, oh, ow].

    For each RoI: scale its corners to the map (× ``spatial_scale``, minus half a cell when
    ``aligned``), *without rounding*; split it into oh × ow equal bins; each bin is the mean of
    ``sampling_ratio²`` bilinear samples (``sampling_ratio <= 0``: ``ceil(bin size)`` per side,
    so roughly one sample per cell). Not aligned, an RoI is at least 1 × 1 cell (torchvision's
    legacy rule). Differentiable through autograd with respect to ``x`` and to the RoIs' corners.
    """
    oh, ow = output_size
    offset = 0.5 if aligned else 0.0
    out = []
    for roi in rois:
        b = int(roi[0].item())
        x1, y1, x2, y2 = (c * spatial_scale - offset for c in roi[1:])
        roi_w, roi_h = x2 - x1, y2 - y1
        if not aligned:                      # the legacy rule: at least one cell
            roi_w, roi_h = torch.clamp(roi_w, min=1.0), torch.clamp(roi_h, min=1.0)
        bin_h, bin_w = roi_h / oh, roi_w / ow
        grid_h = sampling_ratio if sampling_ratio > 0 else math.ceil(bin_h.item())
        grid_w = sampling_ratio if sampling_ratio > 0 else math.ceil(bin_w.item())
        bins = [roi_align_bin(x[b], y1 + ph * bin_h, x1 + pw * bin_w, bin_h, bin_w, grid_h,
                              grid_w)
                for ph in range(oh) for pw in range(ow)]
        out.append(torch.stack(bins, dim=1).reshape(x.shape[1], oh, ow))
    if not out:   # no RoI: an empty result that is still a function of x (zero gradient)
        return x[:0, :, :1, :1].expand(0, x.shape[1], oh, ow)
    return torch.stack(out)
