"""Felzenszwalb & Huttenlocher's graph-based segmentation (IJCV 2004), compiled, several ``k`` at once.

This is ``skimage.segmentation.felzenszwalb`` step for step — it returns the *same labels*
(the tests and the lesson check this on many images) — reorganised for selective search, which
segments one image at several thresholds ``k``:

1. smooth the image with a Gaussian (``sigma``), exactly as scikit-image does;
2. build the 8-connected pixel graph: each pixel is joined to its right, lower, lower-right
   neighbour, and each lower-left/upper-right pair, weighted by the Euclidean colour distance;
3. sort the edges by weight (``np.argsort`` on the same float64 weights);
4. for each ``k``: visit the edges from the weakest; join the two components ``A`` and ``B`` it
   connects when its weight is below ``min(Int(A) + k/|A|, Int(B) + k/|B|)``, where ``Int`` is
   the largest weight inside a component (the last one that joined it). Then visit the edges
   once more, weakest first, and join across every edge with a component smaller than
   ``min_size`` pixels on either side.

Steps 1-3 depend only on the image, so they run once for all ``k`` (:func:`sorted_edges`); only
step 4 runs per ``k`` (:func:`segment_sorted_edges`). ``k`` is in the units of a 0-255 image
(scikit-image divides it by 255 for images in [0, 1]). Labels are numbered in raster order of
each component's first pixel, as scikit-image numbers them.
"""
from __future__ import annotations

import numba
import numpy as np


def sorted_edges(image: np.ndarray, sigma: float = 0.8):
    """The image's 8-connected pixel graph, weakest edge first.

    ``image`` ``Float[H, W, C]`` in [0, 1]. Returns ``(ends Int32[E, 2], weights Float64[E])``:
    the two pixels (flat indices ``y · W + x``) of each edge and its weight, in increasing weight
    (ties as ``np.argsort`` leaves them, numbered as in :func:`_edge_weights`),
    ``E = 4HW - 3H - 3W + 2``.
    """
    from scipy import ndimage

    image = np.asarray(image, dtype=np.float64)        # scikit-image works in float64
    if image.ndim == 2:
        image = image[:, :, None]
    smooth = ndimage.gaussian_filter(image, sigma=[sigma, sigma, 0])
    weights = _edge_weights(smooth)
    order = np.argsort(weights)
    return _sorted_ends(order, image.shape[0], image.shape[1]), weights[order]


@numba.njit(cache=True, nogil=True)
def _edge_weights(image):
    """Colour distance of every 8-connected pixel pair, in four blocks (raster order in each):
    right ``(y, x)-(y, x+1)``, down ``(y, x)-(y+1, x)``, down-right ``(y, x)-(y+1, x+1)``,
    up-right ``(y+1, x)-(y, x+1)``. Summed channel by channel, as NumPy sums them."""
    h, w, c = image.shape
    out = np.empty(h * (w - 1) + (h - 1) * w + 2 * (h - 1) * (w - 1), image.dtype)
    e = 0
    for block in range(4):
        rows = h if block == 0 else h - 1
        cols = w if block == 1 else w - 1
        for y in range(rows):
            for x in range(cols):
                if block == 0:
                    y0, x0, y1, x1 = y, x + 1, y, x
                elif block == 1:
                    y0, x0, y1, x1 = y + 1, x, y, x
                elif block == 2:
                    y0, x0, y1, x1 = y + 1, x + 1, y, x
                else:
                    y0, x0, y1, x1 = y + 1, x, y, x + 1
                d = image[y0, x0, 0] - image[y1, x1, 0]
                total = d * d
                for ch in range(1, c):
                    d = image[y0, x0, ch] - image[y1, x1, ch]
                    total += d * d
                out[e] = np.sqrt(total)
                e += 1
    return out


@numba.njit(cache=True, nogil=True)
def _endpoints(e, h, w):
    """The two pixels (flat indices) of edge ``e`` in the numbering of :func:`_edge_weights`."""
    n0 = h * (w - 1)
    n1 = n0 + (h - 1) * w
    n2 = n1 + (h - 1) * (w - 1)
    if e < n0:
        y, x = e // (w - 1), e % (w - 1)
        return y * w + x + 1, y * w + x
    if e < n1:
        e -= n0
        y, x = e // w, e % w
        return (y + 1) * w + x, y * w + x
    if e < n2:
        e -= n1
        y, x = e // (w - 1), e % (w - 1)
        return (y + 1) * w + x + 1, y * w + x
    e -= n2
    y, x = e // (w - 1), e % (w - 1)
    return y * w + x + 1, (y + 1) * w + x


@numba.njit(cache=True, nogil=True)
def _sorted_ends(order, h, w):
    ends = np.empty((order.shape[0], 2), np.int32)
    for q in range(order.shape[0]):
        a, b = _endpoints(order[q], h, w)
        ends[q, 0] = a
        ends[q, 1] = b
    return ends


@numba.njit(cache=True, nogil=True)
def _root(parent, x):
    while parent[x] != x:
        parent[x] = parent[parent[x]]              # path halving
        x = parent[x]
    return x


@numba.njit(cache=True, nogil=True)
def _segment(ends, weights, n, scale, min_size):
    parent = np.arange(n, dtype=np.int32)
    size = np.ones(n, np.int64)
    inner = np.zeros(n, np.float64)                # Int(C): weight of the last edge that joined C
    for q in range(ends.shape[0]):
        ra, rb = _root(parent, ends[q, 0]), _root(parent, ends[q, 1])
        if ra == rb:
            continue
        # thresholds rounded to float32, as scikit-image stores them
        ta = np.float32(inner[ra] + scale / size[ra])
        tb = np.float32(inner[rb] + scale / size[rb])
        if weights[q] < min(ta, tb):
            root, other = (ra, rb) if ra < rb else (rb, ra)   # the smaller index stays root
            parent[other] = root
            size[root] += size[other]
            inner[root] = weights[q]
    for q in range(ends.shape[0]):                 # small components join a neighbour
        ra, rb = _root(parent, ends[q, 0]), _root(parent, ends[q, 1])
        if ra != rb and (size[ra] < min_size or size[rb] < min_size):
            root, other = (ra, rb) if ra < rb else (rb, ra)
            parent[other] = root
            size[root] += size[other]
    labels = np.empty(n, np.int32)
    count = 0
    for p in range(n):                             # roots are each component's first pixel
        r = _root(parent, p)
        if r == p:
            labels[p] = count
            count += 1
        else:
            labels[p] = labels[r]
    return labels


def segment_sorted_edges(ends: np.ndarray, weights: np.ndarray, shape, k: float,
                         min_size: int) -> np.ndarray:
    """Step 4 for one ``k``: ``Int32[H, W]`` labels ``0 … n-1`` from :func:`sorted_edges`."""
    h, w = shape
    labels = _segment(ends, weights, int(h) * int(w), float(k) / 255.0, int(min_size))
    return labels.reshape(int(h), int(w))


def felzenszwalb(image: np.ndarray, k: float = 100, sigma: float = 0.8,
                 min_size: int = 20) -> np.ndarray:
    """``Float32[H, W, C]`` in [0, 1] -> ``Int32[H, W]``: the labels of
    ``skimage.segmentation.felzenszwalb(image, scale=k, sigma=sigma, min_size=min_size)``."""
    ends, weights = sorted_edges(image, sigma)
    return segment_sorted_edges(ends, weights, np.shape(image)[:2], k, min_size)
