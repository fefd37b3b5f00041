"""Non-maximum suppression (NMS), torchvision-compatible.

The idea in one loop: visit boxes from the best score down; keep a box unless a box kept
before it overlaps it with IoU > ``iou_threshold`` (IoU equal to the threshold is kept).

Three implementations, one answer:

- ``reference``: :func:`lecturelib.ops.reference.nms_reference`, a list of kept boxes;
- ``cpu``: the same greedy loop compiled by numba (:func:`_greedy_nms`), which beats
  torchvision's C++ on a laptop; the first call compiles it (cached on disk afterwards);
- ``triton``: an overlap bitmask computed in parallel, then one program walks it
  (:mod:`lecturelib.ops._triton.nms`).

Ties in score are visited lower index first (a stable sort), as torchvision's CPU kernel does.
torchvision refuses float16 / bfloat16 boxes on the CPU; here they are computed in float32.
"""
from __future__ import annotations

import numba
import numpy as np
import torch

from ._validate import check_boxes, check_scores, check_tensor, check_threshold
from .backends import implementation


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float, *,
        backend: str | None = None) -> torch.Tensor:
    """Boxes Float[N, 4] (x1, y1, x2, y2), scores Float[N] -> kept indices Int64[K], best first."""
    return _nms(boxes, scores, None, iou_threshold, backend)


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor,
                iou_threshold: float, *, backend: str | None = None) -> torch.Tensor:
    """NMS within each category: boxes of different ``idxs`` (Int64[N]) never suppress each
    other. Returns kept indices Int64[K] in decreasing score, like ``torchvision.ops.batched_nms``.
    """
    check_tensor(idxs, "idxs")
    if idxs.ndim != 1 or idxs.is_floating_point() or idxs.dtype == torch.bool:
        raise ValueError(f"idxs must be an integer Tensor[N] of category ids, "
                         f"got dtype {idxs.dtype} and shape {tuple(idxs.shape)}")
    return _nms(boxes, scores, idxs, iou_threshold, backend)


def _nms(boxes, scores, idxs, iou_threshold, backend):
    check_boxes(boxes, floating=True)
    check_scores(scores, boxes.shape[0])
    if idxs is not None and idxs.shape[0] != boxes.shape[0]:
        raise ValueError(f"idxs has {idxs.shape[0]} entries but boxes has {boxes.shape[0]} boxes")
    iou_threshold = check_threshold(iou_threshold)
    run = implementation("batched_nms" if idxs is not None else "nms", backend, boxes, scores)
    if boxes.shape[0] == 0:
        return torch.empty(0, dtype=torch.int64, device=boxes.device)
    return run(boxes, scores, iou_threshold, idxs)


def _sorted(boxes, scores, idxs):
    """The order of decreasing score (ties: lower index first), the boxes in float32/64 and the
    categories, both in that order and contiguous."""
    if boxes.dtype not in (torch.float32, torch.float64):
        boxes = boxes.float()
    order = torch.sort(scores, descending=True, stable=True).indices
    return order, boxes[order].contiguous(), None if idxs is None else idxs[order].contiguous()


def nms_cpu(boxes, scores, iou_threshold, idxs=None):
    """The CPU path: the greedy loop of :func:`_greedy_nms` over the sorted boxes."""
    order, sorted_boxes, sorted_idxs = _sorted(boxes, scores, idxs)
    classes = (np.zeros(0, np.int64) if sorted_idxs is None
               else sorted_idxs.cpu().to(torch.int64).numpy())
    columns = sorted_boxes.detach().cpu().T.contiguous().numpy()   # x1, y1, x2, y2 rows
    kept = _greedy_nms(columns, classes, iou_threshold)
    return order[torch.from_numpy(kept).to(boxes.device)]


def nms_triton(boxes, scores, iou_threshold, idxs=None):
    """The Triton path: the overlap bitmask of the sorted boxes, then one walk over it."""
    from ._triton.nms import nms_sorted_triton
    order, sorted_boxes, sorted_idxs = _sorted(boxes, scores, idxs)
    return order[nms_sorted_triton(sorted_boxes, sorted_idxs, iou_threshold)]


@numba.njit(cache=True, error_model="numpy")
def _greedy_nms(columns, classes, iou_threshold):
    """columns: float[4, N], the x1, y1, x2, y2 of boxes sorted by decreasing score (each
    coordinate contiguous, so the inner loop streams through memory); classes: int64[N], or
    empty for one class.

    Returns the positions (in the sorted order, ascending) of the kept boxes. Boxes are grouped
    by class first (a stable sort keeps each group in score order), so the work is the sum of
    the groups' squares, not N². The arithmetic is torchvision's: areas first, then
    ``inter / (area_i + area_j - inter)`` in the boxes' dtype, compared with the threshold as a
    double.
    """
    n = columns.shape[1]
    x1, y1, x2, y2 = columns[0], columns[1], columns[2], columns[3]
    areas = (x2 - x1) * (y2 - y1)
    zero = columns.dtype.type(0)
    suppressed = np.zeros(n, np.bool_)
    kept = np.empty(n, np.int64)
    n_kept = 0
    if classes.shape[0] != n:                 # one class: visit boxes in score order
        for i in range(n):
            if suppressed[i]:
                continue
            kept[n_kept] = i
            n_kept += 1
            for j in range(i + 1, n):
                if not suppressed[j]:
                    w = max(zero, min(x2[i], x2[j]) - max(x1[i], x1[j]))
                    h = max(zero, min(y2[i], y2[j]) - max(y1[i], y1[j]))
                    inter = w * h
                    if inter / (areas[i] + areas[j] - inter) > iou_threshold:
                        suppressed[j] = True
        return kept[:n_kept]
    group = np.argsort(classes, kind="mergesort")   # stable: each class stays in score order
    start = 0
    while start < n:                                # one class at a time
        end = start + 1
        while end < n and classes[group[end]] == classes[group[start]]:
            end += 1
        for a in range(start, end):
            i = group[a]
            if suppressed[i]:
                continue
            kept[n_kept] = i
            n_kept += 1
            for b in range(a + 1, end):
                j = group[b]
                if not suppressed[j]:
                    w = max(zero, min(x2[i], x2[j]) - max(x1[i], x1[j]))
                    h = max(zero, min(y2[i], y2[j]) - max(y1[i], y1[j]))
                    inter = w * h
                    if inter / (areas[i] + areas[j] - inter) > iou_threshold:
                        suppressed[j] = True
        start = end
    return np.sort(kept[:n_kept])
