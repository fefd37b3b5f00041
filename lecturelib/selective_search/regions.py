"""The starting regions of selective search and what is known about them before any merging.

1. :func:`initial_regions` — Felzenszwalb & Huttenlocher's graph-based segmentation: pixels are
   nodes, neighbouring pixels are joined by edges weighted by their colour difference, and two
   components merge while the edge between them is weaker than the internal variation of both
   plus ``k / size``. A larger ``k`` (scikit-image calls it ``scale``) gives fewer, larger
   regions. ``sigma`` smooths the image first; components smaller than ``min_size`` pixels are
   merged into a neighbour. As in the authors' code, ``min_size`` defaults to ``k``.
   ``implementation="skimage"`` calls ``skimage.segmentation.felzenszwalb``; the default,
   ``"compiled"``, is ``felzenszwalb.py``: the same algorithm with the same labels, 2-3x
   faster, and able to share the sorted edges between several ``k``.
2. :func:`sizes_and_boxes` — each region's area in pixels and its bounding box.
3. :func:`neighbour_pairs` — which regions touch, read off the label image.

**Neighbours** are 8-connected: two regions are neighbours when a pixel of one is next to a
pixel of the other horizontally, vertically *or diagonally*. Felzenszwalb's graph itself joins
diagonal pixels, so a region may already be held together by a corner; treating the corner as a
contact for grouping too keeps the two notions the same. (Two regions with overlapping *boxes*
are not neighbours unless their pixels touch: box overlap is the wrong test.)

**Boxes** use the pixel-edge convention of the whole course: a region whose columns run from
``c0`` to ``c1`` has ``x1 = c0, x2 = c1 + 1`` (so ``x2 - x1`` is its width in pixels).
"""
from __future__ import annotations

import numba
import numpy as np

from .felzenszwalb import felzenszwalb


def initial_regions(colour_image: np.ndarray, k: float = 100, sigma: float = 0.8,
                    min_size: int | None = None, *, implementation: str = "compiled") -> np.ndarray:
    """Felzenszwalb segmentation of ``Float[H, W, C]`` in [0, 1] -> ``Int32[H, W]`` labels
    ``0 … n-1`` (``k`` in the paper's units, for 0-255 images)."""
    min_size = int(k) if min_size is None else int(min_size)
    if implementation == "compiled":
        labels = felzenszwalb(colour_image, float(k), float(sigma), min_size)
    elif implementation == "skimage":
        from skimage.segmentation import felzenszwalb as skimage_felzenszwalb

        labels = skimage_felzenszwalb(colour_image, scale=float(k), sigma=float(sigma),
                                      min_size=min_size, channel_axis=-1)
    else:
        raise ValueError(f"implementation must be 'compiled' or 'skimage', "
                         f"got {implementation!r}")
    return np.ascontiguousarray(labels, dtype=np.int32)


def check_felzenszwalb_options(sigma, min_size) -> None:
    """``ValueError`` naming ``sigma`` (a number >= 0) or ``min_size`` (None or an int >= 1)."""
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float, np.number)) \
            or not np.isfinite(sigma) or sigma < 0:
        raise ValueError(f"sigma must be a number >= 0, got {sigma!r}")
    if min_size is not None and (isinstance(min_size, bool)
                                 or not isinstance(min_size, (int, np.integer)) or min_size < 1):
        raise ValueError(f"min_size must be None or an int >= 1, got {min_size!r}")


def sizes_and_boxes(labels: np.ndarray, n_regions: int | None = None):
    """``labels Int[H, W]`` -> sizes ``Int64[n]`` (pixels) and boxes ``Int64[n, 4]``
    ``(x1, y1, x2, y2)`` in the pixel-edge convention."""
    labels = np.ascontiguousarray(labels, dtype=np.int32)
    n = int(labels.max()) + 1 if n_regions is None else int(n_regions)
    return _sizes_and_boxes(labels, n)


@numba.njit(cache=True, nogil=True)
def _sizes_and_boxes(labels, n):
    h, w = labels.shape
    sizes = np.zeros(n, np.int64)
    boxes = np.empty((n, 4), np.int64)
    boxes[:, 0] = w
    boxes[:, 1] = h
    boxes[:, 2] = 0
    boxes[:, 3] = 0
    for y in range(h):
        for x in range(w):
            r = labels[y, x]
            sizes[r] += 1
            if x < boxes[r, 0]:
                boxes[r, 0] = x
            if y < boxes[r, 1]:
                boxes[r, 1] = y
            if x + 1 > boxes[r, 2]:
                boxes[r, 2] = x + 1
            if y + 1 > boxes[r, 3]:
                boxes[r, 3] = y + 1
    return sizes, boxes


def neighbour_pairs(labels: np.ndarray, connectivity: int = 8) -> np.ndarray:
    """Every pair of touching regions once: ``Int64[E, 2]`` with ``i < j``, sorted.

    ``connectivity`` 8 (default: sides and corners) or 4 (sides only).
    """
    if connectivity not in (4, 8):
        raise ValueError(f"connectivity must be 4 or 8, got {connectivity!r}")
    labels = np.ascontiguousarray(labels, dtype=np.int32)
    if labels.size == 0:
        return np.zeros((0, 2), np.int64)
    n = int(labels.max()) + 1
    codes = _touching_codes(labels, connectivity == 8, n)
    codes = np.unique(codes)
    return np.stack([codes // n, codes % n], axis=1)


@numba.njit(cache=True, nogil=True)
def _touching_codes(labels, diagonal, n):
    """``i * n + j`` (i < j) for every pixel pair that straddles two regions (with repeats)."""
    h, w = labels.shape
    out = np.empty(4 * h * w, np.int64)
    m = 0
    for y in range(h):
        for x in range(w):
            a = labels[y, x]
            # look right, down, and (8-connected) down-right and down-left: each pair once
            for k in range(4):
                if k == 0:
                    yy, xx = y, x + 1
                elif k == 1:
                    yy, xx = y + 1, x
                elif not diagonal:
                    break
                elif k == 2:
                    yy, xx = y + 1, x + 1
                else:
                    yy, xx = y + 1, x - 1
                if yy >= h or xx < 0 or xx >= w:
                    continue
                b = labels[yy, xx]
                if a != b:
                    out[m] = a * n + b if a < b else b * n + a
                    m += 1
    return out[:m]
