"""Algorithm 1 of Uijlings et al. (2013): hierarchical grouping, with its whole history kept.

::

    R = {r_1 … r_n}  ← Felzenszwalb regions            S = {s(r_i, r_j) for neighbouring pairs}
    while S ≠ ∅:
        (r_i, r_j) ← the pair with the highest similarity in S
        r_t ← r_i ∪ r_j                                 (features by weighted sums: no pixels)
        remove from S every similarity that involves r_i or r_j
        add to S the similarities between r_t and its neighbours;  R ← R ∪ {r_t}
    L ← the bounding boxes of all regions in R

How it is made fast (``_group``, compiled by numba):

- S is a **max-heap** of ``(s, i, j)``. Removing "every similarity involving r_i or r_j" would
  need a search, so it is done lazily: a popped pair whose region has already been merged away
  is simply skipped. The similarity of two *live* regions never changes, so the first live pair
  popped is the true maximum. Each merge costs ``O(d log |S|)`` for ``d`` neighbours, never a
  rescan of all pairs.
- Each region keeps a list of neighbours. The list of ``r_t`` is the union of its parents' lists;
  stale entries (regions merged since) are mapped to their current region with a union-find
  ``find`` and duplicates are dropped.
- Features of ``r_t`` are size-weighted means of its parents' histograms (``features.py``).

Regions are numbered in creation order: ``0 … n-1`` are the initial regions, merge step ``s``
(0-based) creates region ``n + s``, and the last one (``2n - 2``) is the whole image. Ties in
similarity go to the pair with the smaller ``i``, then the smaller ``j`` (``i < j``).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numba
import numpy as np

from .colour import as_rgb_image, to_colour_space
from .features import COLOUR_BINS, TEXTURE_BINS, colour_bins, region_histograms, texture_bins
from .regions import (check_felzenszwalb_options, initial_regions, neighbour_pairs,
                      sizes_and_boxes)
from .similarity import combined_similarity, initials, similarity_names, use_flags
from .strategies import Strategy


@dataclass
class Hierarchy:
    """The result of one hierarchical grouping (one strategy on one image).

    Shapes, with ``n`` initial regions and ``R = 2n - 1`` regions in all:

    - ``labels`` ``Int32[H, W]``: the initial region (0 … n-1) of every pixel;
    - ``sizes`` ``Int64[R]`` and ``boxes`` ``Int64[R, 4]`` ``(x1, y1, x2, y2)``: every region,
      initial ones first, then one per merge in the order they were made;
    - ``merges`` ``Int64[n-1, 2]``: the pair ``(i, j)`` merged at each step (step ``s`` makes
      region ``n + s``); ``merge_similarities`` ``Float64[n-1]``: their similarity;
    - ``pairs`` ``Int64[E, 2]``: the neighbouring initial regions (8-connected);
    - ``colour`` ``Float32[R, Dc]``, ``texture`` ``Float32[R, Dt]``: histograms of every region
      (width 0 when the strategy does not use that similarity).
    """

    labels: np.ndarray
    sizes: np.ndarray
    boxes: np.ndarray
    merges: np.ndarray
    merge_similarities: np.ndarray
    pairs: np.ndarray
    colour: np.ndarray
    texture: np.ndarray
    similarities: tuple[str, ...]
    colour_space: str | None = None
    k: float | None = None
    use: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        self.use = use_flags(self.similarities)

    @property
    def n_initial(self) -> int:
        return int(self.labels.max()) + 1 if self.labels.size else 0

    @property
    def n_regions(self) -> int:
        return len(self.sizes)

    @property
    def image_size(self) -> int:
        return int(self.labels.size)

    def __repr__(self) -> str:
        return (f"Hierarchy({self.colour_space or '?'}, k={self.k}, {initials(self.similarities)}:"
                f" {self.n_initial} initial regions, {len(self.merges)} merges)")

    def parents(self, step: int | None = None) -> np.ndarray:
        """``Int64[R]``: the region each region was merged into within the first ``step`` merges
        (all when None), or its own id if it was not merged by then."""
        step = len(self.merges) if step is None else self._check_step(step)
        parent = np.arange(self.n_regions, dtype=np.int64)
        created = self.n_initial + np.arange(step)
        parent[self.merges[:step, 0]] = created
        parent[self.merges[:step, 1]] = created
        return parent

    def current_regions(self, step: int) -> np.ndarray:
        """``Int64[n]``: the region each initial region belongs to after ``step`` merges."""
        root = self.parents(step)
        while True:                                    # pointer jumping: O(log depth) passes
            nxt = root[root]
            if np.array_equal(nxt, root):
                break
            root = nxt
        return root[: self.n_initial]

    def labels_at(self, step: int) -> np.ndarray:
        """``Int64[H, W]``: the region of every pixel after ``step`` merges."""
        return self.current_regions(step)[self.labels]

    def neighbours_at(self, step: int) -> np.ndarray:
        """``Int64[P, 2]`` ``(i, j)``, ``i < j``: the neighbouring pairs of live regions after
        ``step`` merges — the pairs whose similarities are in S at that moment."""
        owner = self.current_regions(step)
        a, b = owner[self.pairs[:, 0]], owner[self.pairs[:, 1]]
        keep = a != b
        pairs = np.stack([np.minimum(a, b)[keep], np.maximum(a, b)[keep]], axis=1)
        return np.unique(pairs, axis=0) if len(pairs) else pairs.reshape(0, 2)

    def levels(self) -> np.ndarray:
        """``Int64[R]``: each region's level counted from the bottom, as OpenCV ranks them:
        initial regions 1, a merged region one more than the higher of its two parts."""
        level = np.ones(self.n_regions, np.int64)
        for step, (i, j) in enumerate(self.merges):
            level[self.n_initial + step] = max(level[i], level[j]) + 1
        return level

    def lifetimes(self) -> np.ndarray:
        """``Int64[R]``: how many merge steps each region stayed a region of its own — from the
        step that made it (0 for initial regions) until the step that merged it away (the
        whole image: until one step after the last). A long life means the region's neighbours
        were dissimilar to it for a long time: it stands out."""
        n, m = self.n_initial, len(self.merges)
        born = np.r_[np.zeros(n, np.int64), np.arange(1, m + 1, dtype=np.int64)]
        gone = np.full(self.n_regions, m + 1, np.int64)
        gone[self.merges.reshape(-1)] = np.repeat(np.arange(1, m + 1, dtype=np.int64), 2)
        return gone - born

    def similarity(self, i: int, j: int) -> float:
        """``s(r_i, r_j)`` under this strategy's similarities (the value the loop used)."""
        return float(combined_similarity(int(i), int(j), self.colour, self.texture, self.sizes,
                                         self.boxes, float(self.image_size), self.use))

    def _check_step(self, step) -> int:
        if isinstance(step, bool) or int(step) != step or not 0 <= step <= len(self.merges):
            raise ValueError(f"step must be an int in 0..{len(self.merges)}, got {step!r}")
        return int(step)


def group_regions(labels: np.ndarray, colour_image: np.ndarray, similarities="CTSF", *,
                  colour_space: str | None = None, k: float | None = None,
                  pixel_texture_bins: np.ndarray | None = None) -> Hierarchy:
    """Run Algorithm 1 on given initial regions.

    ``labels Int[H, W]`` (regions ``0 … n-1``, each one connected), ``colour_image
    Float[H, W, C]`` in [0, 1] (the space the histograms are taken in), ``similarities`` as
    ``"CTSF"`` or names. ``pixel_texture_bins`` may pass precomputed ``texture_bins`` of
    ``colour_image`` (shared between strategies).
    """
    names = similarity_names(similarities)
    labels = np.ascontiguousarray(labels, dtype=np.int32)
    if labels.ndim != 2 or labels.shape != colour_image.shape[:2]:
        raise ValueError(f"labels must be H×W like colour_image {colour_image.shape[:2]}, "
                         f"got shape {labels.shape}")
    if labels.min() < 0 or len(np.unique(labels)) != labels.max() + 1:
        raise ValueError("labels must number the regions 0 … n-1 without gaps")
    n = int(labels.max()) + 1
    sizes, boxes = sizes_and_boxes(labels, n)
    pairs = neighbour_pairs(labels)
    use = use_flags(names)
    colour = (region_histograms(labels, colour_bins(colour_image), n, COLOUR_BINS) if use[0]
              else np.zeros((n, 0), np.float32))
    if use[1]:
        bins = texture_bins(colour_image) if pixel_texture_bins is None else pixel_texture_bins
        texture = region_histograms(labels, bins, n, TEXTURE_BINS)
    else:
        texture = np.zeros((n, 0), np.float32)
    return group_described_regions(labels, sizes, boxes, pairs, colour, texture, names,
                                   colour_space=colour_space, k=k)


def group_described_regions(labels, sizes, boxes, pairs, colour, texture, similarities, *,
                            colour_space=None, k=None) -> Hierarchy:
    """The loop itself, on regions already described (what :func:`group_regions` computes:
    ``sizes_and_boxes``, ``neighbour_pairs`` and the histograms, ``Float32[n, 0]`` for a
    histogram the strategy does not use). Strategies sharing a segmentation share these."""
    names = similarity_names(similarities)
    n = len(sizes)
    merges, merge_sims, all_sizes, all_boxes, all_colour, all_texture = _group(
        n, pairs, sizes, boxes, colour, texture, float(labels.size), use_flags(names))
    if len(merges) != n - 1:
        raise ValueError(f"the regions do not form one connected graph: {len(merges)} merges "
                         f"for {n} regions")
    return Hierarchy(labels, all_sizes, all_boxes, merges, merge_sims, pairs, all_colour,
                     all_texture, names, colour_space, k)


def hierarchical_grouping(image, colour_space: str = "hsv", k: float = 100,
                          similarities="CTSF", sigma: float = 0.8,
                          min_size: int | None = None) -> Hierarchy:
    """One selective-search strategy on one image: convert ``image`` (``uint8[H, W, 3]``, see
    :func:`~lecturelib.selective_search.colour.as_rgb_image`) to ``colour_space``, segment it
    with Felzenszwalb (``k``, ``sigma``, ``min_size``; default ``min_size = k``) and group."""
    rgb = as_rgb_image(image)
    strategy = Strategy(colour_space, k, similarities)         # checks all three
    check_felzenszwalb_options(sigma, min_size)
    converted = to_colour_space(rgb, strategy.colour_space)
    labels = initial_regions(converted, k, sigma, min_size)
    return group_regions(labels, converted, strategy.similarities,
                         colour_space=strategy.colour_space, k=k)


# ------------------------------------------------------------------------------------------
# The compiled loop
# ------------------------------------------------------------------------------------------
@numba.njit(cache=True, nogil=True)
def _grow(array, needed):
    """``array`` with room for at least ``needed`` rows (doubling), contents kept."""
    if needed <= array.shape[0]:
        return array
    bigger = np.empty(max(needed, 2 * array.shape[0]), array.dtype)
    bigger[: array.shape[0]] = array
    return bigger


@numba.njit(cache=True, nogil=True)
def _better(s1, a1, b1, s2, a2, b2):
    """Heap order: higher similarity first; ties to the smaller ``i``, then the smaller ``j``."""
    if s1 != s2:
        return s1 > s2
    if a1 != a2:
        return a1 < a2
    return b1 < b2


@numba.njit(cache=True, nogil=True)
def _push(hs, ha, hb, m, s, a, b):
    i = m
    hs[i], ha[i], hb[i] = s, a, b
    while i > 0:                                       # sift up
        p = (i - 1) // 2
        if not _better(hs[i], ha[i], hb[i], hs[p], ha[p], hb[p]):
            break
        hs[i], hs[p] = hs[p], hs[i]
        ha[i], ha[p] = ha[p], ha[i]
        hb[i], hb[p] = hb[p], hb[i]
        i = p
    return m + 1


@numba.njit(cache=True, nogil=True)
def _pop(hs, ha, hb, m):
    """Remove the best entry (moved to index ``m - 1``); returns the new size."""
    m -= 1
    hs[0], hs[m] = hs[m], hs[0]
    ha[0], ha[m] = ha[m], ha[0]
    hb[0], hb[m] = hb[m], hb[0]
    i = 0
    while True:                                        # sift down
        left, best = 2 * i + 1, i
        if left < m and _better(hs[left], ha[left], hb[left], hs[best], ha[best], hb[best]):
            best = left
        right = left + 1
        if right < m and _better(hs[right], ha[right], hb[right], hs[best], ha[best], hb[best]):
            best = right
        if best == i:
            return m
        hs[i], hs[best] = hs[best], hs[i]
        ha[i], ha[best] = ha[best], ha[i]
        hb[i], hb[best] = hb[best], hb[i]
        i = best


@numba.njit(cache=True, nogil=True)
def _find(parent, x):
    root = x
    while parent[root] != root:
        root = parent[root]
    while parent[x] != root:                           # path compression
        nxt = parent[x]
        parent[x] = root
        x = nxt
    return root


@numba.njit(cache=True, nogil=True)
def _group(n, pairs, sizes0, boxes0, colour0, texture0, image_size, use):
    total = 2 * n - 1 if n > 0 else 0
    sizes = np.empty(total, np.int64)
    boxes = np.empty((total, 4), np.int64)
    colour = np.empty((total, colour0.shape[1]), np.float32)
    texture = np.empty((total, texture0.shape[1]), np.float32)
    sizes[:n] = sizes0
    boxes[:n] = boxes0
    colour[:n] = colour0
    texture[:n] = texture0

    # neighbour lists: initial regions in CSR form, merged regions appended to the same pool
    n_pairs = pairs.shape[0]
    start = np.zeros(total, np.int64)
    count = np.zeros(total, np.int64)
    for e in range(n_pairs):
        count[pairs[e, 0]] += 1
        count[pairs[e, 1]] += 1
    used = 0
    for r in range(n):
        start[r] = used
        used += count[r]
    pool = np.empty(2 * n_pairs + 4 * n + 16, np.int64)
    fill = np.zeros(n, np.int64)
    for e in range(n_pairs):
        a, b = pairs[e, 0], pairs[e, 1]
        pool[start[a] + fill[a]] = b
        fill[a] += 1
        pool[start[b] + fill[b]] = a
        fill[b] += 1

    # S as a max-heap of (similarity, i, j), filled with every neighbouring pair
    cap = n_pairs + 4 * n + 16
    hs = np.empty(cap, np.float64)
    ha = np.empty(cap, np.int64)
    hb = np.empty(cap, np.int64)
    m = 0
    for e in range(n_pairs):
        a, b = pairs[e, 0], pairs[e, 1]
        m = _push(hs, ha, hb, m, combined_similarity(a, b, colour, texture, sizes, boxes,
                                                     image_size, use), a, b)

    parent = np.arange(total)
    alive = np.zeros(total, np.bool_)
    alive[:n] = True
    mark = np.full(total, -1, np.int64)
    merges = np.empty((max(n - 1, 0), 2), np.int64)
    merge_sims = np.empty(max(n - 1, 0), np.float64)
    step = 0
    while m > 0:
        m = _pop(hs, ha, hb, m)
        s, i, j = hs[m], ha[m], hb[m]
        if not (alive[i] and alive[j]):
            continue                                   # a similarity of a merged-away region
        t = n + step
        merges[step, 0], merges[step, 1], merge_sims[step] = i, j, s
        # r_t = r_i ∪ r_j: size, box, histograms by size-weighted sums
        size_i, size_j = sizes[i], sizes[j]
        sizes[t] = size_i + size_j
        boxes[t, 0] = min(boxes[i, 0], boxes[j, 0])
        boxes[t, 1] = min(boxes[i, 1], boxes[j, 1])
        boxes[t, 2] = max(boxes[i, 2], boxes[j, 2])
        boxes[t, 3] = max(boxes[i, 3], boxes[j, 3])
        w_i = size_i / (size_i + size_j)
        w_j = 1.0 - w_i
        for d in range(colour.shape[1]):
            colour[t, d] = w_i * colour[i, d] + w_j * colour[j, d]
        for d in range(texture.shape[1]):
            texture[t, d] = w_i * texture[i, d] + w_j * texture[j, d]
        alive[i] = alive[j] = False
        alive[t] = True
        parent[i] = parent[j] = t
        # neighbours of r_t: those of r_i and r_j, each mapped to its live region, once
        pool = _grow(pool, used + count[i] + count[j])
        start[t] = used
        for src in (i, j):
            for q in range(start[src], start[src] + count[src]):
                y = _find(parent, pool[q])
                if y != t and mark[y] != t:
                    mark[y] = t
                    pool[used] = y
                    used += 1
        count[t] = used - start[t]
        # S ∪ S_t
        need = m + count[t]
        hs, ha, hb = _grow(hs, need), _grow(ha, need), _grow(hb, need)
        for q in range(start[t], used):
            y = pool[q]
            m = _push(hs, ha, hb, m, combined_similarity(y, t, colour, texture, sizes, boxes,
                                                         image_size, use), y, t)
        step += 1
    return merges[:step], merge_sims[:step], sizes, boxes, colour, texture
