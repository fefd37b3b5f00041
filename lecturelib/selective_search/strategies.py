"""Diversification and ranking (Uijlings et al., 2013, Sections 3.2, 3.3 and 5.2).

No single grouping finds every object, so selective search runs several **strategies** — a
colour space × a Felzenszwalb threshold ``k`` × a combination of similarities — and pools their
boxes. The paper's three settings (its Table 5; ``k`` also sets Felzenszwalb's minimum region
size, as in the authors' code):

=========  ==========================  ==========================  ===================  ====
mode       colour spaces               similarities                k                    runs
=========  ==========================  ==========================  ===================  ====
single     HSV                         C+T+S+F                     100                  1
fast       HSV, Lab                    C+T+S+F, T+S+F              50, 100              8
quality    HSV, Lab, rgI, H, I         C+T+S+F, T+S+F, F, S        50, 100, 150, 300    80
=========  ==========================  ==========================  ===================  ====

**Ranking** (Section 3.3). Within one hierarchy, the region created last (the whole image) has
position 1, the one before it position 2, and so on down to the initial regions. Each region
gets the value ``v = RND × position`` with ``RND`` uniform in [0, 1) — drawn from a seeded
generator, so a seed gives the same ranking every time — and all regions of all strategies are
ordered by increasing ``v``. Large regions come first in every hierarchy; the randomness keeps
80 strategies from all putting their few largest regions first. Boxes seen before (the same four
numbers from another region or strategy) are then dropped, keeping the best-ranked copy.

**Other rankings** (``ranking=``), the same ``v = RND × position`` with another position:

- ``"level"``: OpenCV's (``cv2.ximgproc``): the region's level from the *bottom* — initial
  regions 1, a merge one more than its higher part — so small regions come first ("inverted
  from the paper", says its source);
- ``"persistence"``: regions ordered by how many merges they survived as a region of their own
  (:meth:`~lecturelib.selective_search.grouping.Hierarchy.lifetimes`), longest first: a region
  whose neighbours stayed dissimilar stands out from them, at any size.

No order wins everywhere: on the course's 128-pixel scenes (small objects of one colour) the
bottom-up orders find more objects with few boxes, on 500-pixel photos the paper's does
(``benchmarks/bench_selective_search.py`` measures all three beside OpenCV).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from .colour import colour_space_name
from .similarity import initials, similarity_names

DISPLAY_NAMES = {"rgb": "RGB", "hsv": "HSV", "lab": "Lab", "rgi": "rgI", "h": "H", "i": "I"}


@dataclass(frozen=True)
class Strategy:
    """One hierarchical grouping: a colour space, a threshold ``k`` and a similarity set."""

    colour_space: str = "hsv"
    k: float = 100
    similarities: tuple[str, ...] = ("colour", "texture", "size", "fill")

    def __post_init__(self):
        object.__setattr__(self, "colour_space", colour_space_name(self.colour_space))
        object.__setattr__(self, "similarities", similarity_names(self.similarities))
        if isinstance(self.k, bool) or not isinstance(self.k, (int, float, np.number)) \
                or not np.isfinite(self.k) or self.k <= 0:
            raise ValueError(f"k must be a positive number, got {self.k!r}")

    def __str__(self) -> str:
        return f"{DISPLAY_NAMES[self.colour_space]} k={self.k:g} {initials(self.similarities)}"


def make_strategies(colour_spaces, ks, similarity_sets) -> list[Strategy]:
    """Every combination, in the order colour space, then ``k``, then similarity set."""
    for name, value, example in (("colour_spaces", colour_spaces, "['hsv', 'lab']"),
                                 ("ks", ks, "[50, 100]"),
                                 ("similarity_sets", similarity_sets, "['CTSF', 'TSF']")):
        if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) == 0:
            raise ValueError(f"{name} must be a non-empty list such as {example}, got {value!r}")
    return [Strategy(c, k, s) for c, k, s in itertools.product(colour_spaces, ks, similarity_sets)]


MODES: dict[str, dict] = {
    "single": dict(colour_spaces=("hsv",), ks=(100,), similarity_sets=("CTSF",)),
    "fast": dict(colour_spaces=("hsv", "lab"), ks=(50, 100), similarity_sets=("CTSF", "TSF")),
    "quality": dict(colour_spaces=("hsv", "lab", "rgi", "h", "i"), ks=(50, 100, 150, 300),
                    similarity_sets=("CTSF", "TSF", "F", "S")),
}
"""The paper's settings as arguments of :func:`make_strategies`."""

STRATEGIES: dict[str, tuple[Strategy, ...]] = {
    mode: tuple(make_strategies(**settings)) for mode, settings in MODES.items()}
"""``"single"`` (1 strategy), ``"fast"`` (8) and ``"quality"`` (80)."""


def hierarchy_positions(n_regions: int) -> np.ndarray:
    """``Int64[R]``: position of each region (creation order) in its hierarchy, 1 = the top
    (the last region created, the whole image), ``R`` = the first initial region."""
    return np.arange(n_regions, 0, -1, dtype=np.int64)


RANKINGS: tuple[str, ...] = ("paper", "level", "persistence")
"""The orders :func:`region_positions` knows; ``"paper"`` is Section 3.3's."""


def check_ranking(ranking) -> str:
    if not isinstance(ranking, str) or ranking not in RANKINGS:
        raise ValueError(f"ranking must be one of {RANKINGS}, got {ranking!r}")
    return ranking


def region_positions(hierarchy, ranking: str = "paper") -> np.ndarray:
    """``Int64[R]``: the position of every region of ``hierarchy`` (creation order) under
    ``ranking``, 1 = first: ``"paper"`` creation order from the top
    (:func:`hierarchy_positions`), ``"level"`` the level from the bottom
    (``hierarchy.levels()``), ``"persistence"`` the place in the order of decreasing lifetime
    (``hierarchy.lifetimes()``; ties: the region made first goes first)."""
    ranking = check_ranking(ranking)
    if ranking == "paper":
        return hierarchy_positions(hierarchy.n_regions)
    if ranking == "level":
        return hierarchy.levels()
    order = np.argsort(-hierarchy.lifetimes(), kind="stable")
    position = np.empty(len(order), np.int64)
    position[order] = np.arange(1, len(order) + 1)
    return position


def rank_regions(region_counts, seed=0, positions=None):
    """Pool the regions of several hierarchies and order them by ``v = RND × position``.

    ``region_counts``: the number of regions ``R_h`` of each hierarchy; ``positions``: one
    ``Int[R_h]`` per hierarchy (:func:`region_positions`), default the paper's. Returns three
    arrays over all ``Σ R_h`` regions, best first: hierarchy index, region index (creation
    order) and ``v``. Ties in ``v`` keep the pooled order (hierarchy, then region), so the
    result is fixed by the seed.
    """
    rng = np.random.default_rng(seed)
    if positions is None:
        positions = [hierarchy_positions(r) for r in region_counts]
    if len(positions) != len(region_counts) or any(
            len(p) != r for p, r in zip(positions, region_counts)):
        raise ValueError("positions must hold one array per hierarchy, of its region count")
    which = np.concatenate([np.full(r, h, np.int64) for h, r in enumerate(region_counts)]
                           + [np.zeros(0, np.int64)])
    region = np.concatenate([np.arange(r, dtype=np.int64) for r in region_counts]
                            + [np.zeros(0, np.int64)])
    position = np.concatenate([np.asarray(p, np.int64) for p in positions]
                              + [np.zeros(0, np.int64)])
    value = rng.random(len(position)) * position
    order = np.argsort(value, kind="stable")
    return which[order], region[order], value[order]


def first_occurrences(boxes: np.ndarray) -> np.ndarray:
    """Indices (increasing) of the rows of ``Int[N, 4]`` that did not occur earlier."""
    boxes = np.asarray(boxes, dtype=np.int64).reshape(-1, 4)
    if len(boxes) == 0:
        return np.zeros(0, np.int64)
    base = int(boxes.max()) + 1                        # one number per box: base-`base` digits
    codes = ((boxes[:, 0] * base + boxes[:, 1]) * base + boxes[:, 2]) * base + boxes[:, 3]
    _, first = np.unique(codes, return_index=True)
    return np.sort(first)
