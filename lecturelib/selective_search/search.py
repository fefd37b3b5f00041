"""``selective_search``: the whole method, from an image to ranked boxes.

For each strategy (``strategies.py``): convert the image to its colour space (``colour.py``),
segment it with Felzenszwalb at its ``k`` (``regions.py``), describe the regions
(``features.py``), group them bottom-up (``grouping.py``, Algorithm 1); then pool the regions of
all hierarchies, rank them, drop duplicate boxes and boxes smaller than ``min_box_size``.

Work shared between strategies is done once: a colour space's conversion and per-pixel texture
bins serve all its strategies; a (colour space, ``k``) segmentation and its region histograms
serve all its similarity sets ("fast" runs 8 groupings on 4 segmentations).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .colour import as_rgb_image, to_colour_space
from .features import COLOUR_BINS, TEXTURE_BINS, colour_bins, region_histograms, texture_bins
from .grouping import Hierarchy, group_described_regions
from .felzenszwalb import segment_sorted_edges, sorted_edges
from .regions import check_felzenszwalb_options, neighbour_pairs, sizes_and_boxes
from .strategies import (STRATEGIES, Strategy, check_ranking, first_occurrences, rank_regions,
                         region_positions)


@dataclass
class SelectiveSearchResult:
    """Everything :func:`selective_search` knows, for a lesson to take apart.

    - ``boxes`` ``Float32[N, 4]`` ``(x1, y1, x2, y2)``: the proposals, best-ranked first;
    - ``strategy`` ``Int64[N]``: which strategy (index into ``strategies``) produced each box
      (its best-ranked copy), ``region`` ``Int64[N]``: which region of that hierarchy,
      ``rank_values`` ``Float64[N]``: its ``v = RND × position``;
    - ``hierarchies``: one :class:`~lecturelib.selective_search.grouping.Hierarchy` per strategy,
      with the merge history;
    - ``seconds``: wall time of the search; ``ranking``: the order the boxes are in.

    :meth:`ranked` orders the same hierarchies another way without searching again.
    """

    boxes: np.ndarray
    strategy: np.ndarray
    region: np.ndarray
    rank_values: np.ndarray
    strategies: tuple[Strategy, ...]
    hierarchies: list[Hierarchy] = field(repr=False)
    seconds: float = 0.0
    ranking: str = "paper"

    def __len__(self) -> int:
        return len(self.boxes)

    def ranked(self, ranking: str = "paper", seed: int = 0, min_box_size: float = 0):
        """``Float32[N, 4]``: the boxes of these hierarchies under ``ranking`` and ``seed`` —
        what :func:`selective_search` returns for them, without redoing the grouping (an
        unknown ``ranking`` is refused by ``region_positions``)."""
        _check_seed_and_min_box_size(seed, min_box_size)
        return _rank(self.hierarchies, ranking, seed, min_box_size)[0]


def selective_search(image, mode: str = "fast", *, strategies=None, sigma: float = 0.8,
                     min_size: int | None = None, min_box_size: float = 0, seed: int = 0,
                     ranking: str = "paper", return_result: bool = False):
    """Selective search (Uijlings et al., 2013) on one image.

    Args:
        image: ``uint8[H, W, 3]`` RGB; grey ``[H, W]``, RGBA ``[H, W, 4]``, floats in [0, 1]
            and a ``Float[3, H, W]`` tensor are converted (see ``colour.as_rgb_image``).
        mode: ``"single"``, ``"fast"`` (R-CNN's choice) or ``"quality"`` (see
            :data:`STRATEGIES`).
        strategies: instead of ``mode``, any list of :class:`Strategy` (colour space, ``k``,
            similarities), e.g. ``[Strategy("lab", 200, "CF")]``.
        sigma: Felzenszwalb's smoothing (0.8 in the paper).
        min_size: Felzenszwalb's smallest region in pixels; default: each strategy's ``k``.
        min_box_size: drop boxes narrower or shorter than this many pixels (R-CNN's demo used
            20 on 500-pixel images); 0 keeps all.
        seed: seeds the random part of the ranking; the same seed gives the same boxes.
        ranking: ``"paper"`` (Section 3.3: large regions first), ``"level"`` (OpenCV's order:
            small regions first) or ``"persistence"`` (longest-lived regions first); see
            ``strategies.py``. The set of boxes is the same, only their order changes.
        return_result: return a :class:`SelectiveSearchResult` (merge histories included)
            instead of the boxes alone.

    Returns:
        ``Float32[N, 4]`` boxes ``(x1, y1, x2, y2)`` in pixels (pixel edges: ``x2 - x1`` is the
        width), best-ranked first, no two equal — or the full result.
    """
    start = time.perf_counter()
    rgb = as_rgb_image(image)
    strategies = _check_strategies(mode, strategies)
    _check_seed_and_min_box_size(seed, min_box_size)
    check_ranking(ranking)
    check_felzenszwalb_options(sigma, min_size)

    hierarchies = _all_hierarchies(rgb, strategies, sigma, min_size)
    boxes, which, region, value = _rank(hierarchies, ranking, seed, min_box_size)
    if not return_result:
        return boxes
    return SelectiveSearchResult(boxes, which, region, value, strategies, hierarchies,
                                 time.perf_counter() - start, ranking)


def _check_seed_and_min_box_size(seed, min_box_size):
    if isinstance(min_box_size, bool) or not isinstance(min_box_size, (int, float, np.number)) \
            or not np.isfinite(min_box_size) or min_box_size < 0:
        raise ValueError(f"min_box_size must be a number >= 0, got {min_box_size!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")


def _rank(hierarchies, ranking, seed, min_box_size):
    """Pool, order (``v = RND × position``), drop duplicates and small boxes: the boxes
    ``Float32[N, 4]`` and, for each, its hierarchy, region and ``v``."""
    counts = [h.n_regions for h in hierarchies]
    which, region, value = rank_regions(counts, seed,
                                        [region_positions(h, ranking) for h in hierarchies])
    offsets = np.cumsum([0] + counts)
    all_boxes = np.concatenate([h.boxes for h in hierarchies])[offsets[which] + region]
    keep = first_occurrences(all_boxes)
    if min_box_size > 0:
        sides = all_boxes[keep, 2:] - all_boxes[keep, :2]
        keep = keep[(sides >= min_box_size).all(axis=1)]
    return all_boxes[keep].astype(np.float32), which[keep], region[keep], value[keep]


def _check_strategies(mode, strategies) -> tuple[Strategy, ...]:
    if strategies is None:
        if mode not in STRATEGIES:
            raise ValueError(f"mode must be one of {tuple(STRATEGIES)}, got {mode!r}")
        return STRATEGIES[mode]
    if isinstance(strategies, Strategy):
        strategies = [strategies]
    if isinstance(strategies, (str, bytes)) or not hasattr(strategies, "__len__") \
            or not len(strategies):
        raise ValueError(f"strategies must be a non-empty list of Strategy, got {strategies!r}")
    out = []
    for s in strategies:
        if isinstance(s, Strategy):
            out.append(s)
        elif isinstance(s, (tuple, list)) and len(s) == 3:
            out.append(Strategy(*s))
        else:
            raise ValueError(f"strategies must hold Strategy objects or (colour_space, k, "
                             f"similarities) triples, got {s!r}")
    return tuple(out)


def _all_hierarchies(rgb, strategies, sigma, min_size) -> list[Hierarchy]:
    """One hierarchy per strategy, sharing conversions, segmentations and histograms."""
    hierarchies: list[Hierarchy | None] = [None] * len(strategies)
    for space in dict.fromkeys(s.colour_space for s in strategies):
        mine = [i for i, s in enumerate(strategies) if s.colour_space == space]
        converted = to_colour_space(rgb, space)
        wants_colour = any("colour" in strategies[i].similarities for i in mine)
        wants_texture = any("texture" in strategies[i].similarities for i in mine)
        pixel_colour = colour_bins(converted) if wants_colour else None
        pixel_texture = texture_bins(converted) if wants_texture else None
        ends, weights = sorted_edges(converted, sigma)         # the same for every k
        for k in dict.fromkeys(strategies[i].k for i in mine):
            same_k = [i for i in mine if strategies[i].k == k]
            labels = segment_sorted_edges(ends, weights, converted.shape[:2], k,
                                          int(k) if min_size is None else min_size)
            n = int(labels.max()) + 1
            sizes, boxes = sizes_and_boxes(labels, n)
            pairs = neighbour_pairs(labels)
            none = np.zeros((n, 0), np.float32)
            colour = (region_histograms(labels, pixel_colour, n, COLOUR_BINS)
                      if any("colour" in strategies[i].similarities for i in same_k) else none)
            texture = (region_histograms(labels, pixel_texture, n, TEXTURE_BINS)
                       if any("texture" in strategies[i].similarities for i in same_k) else none)
            for i in same_k:
                names = strategies[i].similarities
                hierarchies[i] = group_described_regions(
                    labels, sizes, boxes, pairs, colour if "colour" in names else none,
                    texture if "texture" in names else none, names, colour_space=space, k=k)
    return hierarchies
