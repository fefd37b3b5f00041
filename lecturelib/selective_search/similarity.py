"""The four similarities of selective search (Uijlings et al., 2013, Section 3.2), all in [0, 1].

For regions ``r_i`` and ``r_j`` of an image of ``size(im)`` pixels:

- colour   ``s_colour(r_i, r_j) = Σ_k min(c_i^k, c_j^k)`` — intersection of the L1-normalised colour
  histograms (25 bins per channel, see ``features.py``);
- texture  ``s_texture(r_i, r_j) = Σ_k min(t_i^k, t_j^k)`` — the same on the texture histograms;
- size     ``s_size(r_i, r_j) = 1 - (size(r_i) + size(r_j)) / size(im)`` — small regions merge
  early, so that regions of all sizes form everywhere in the image (no region eats the rest);
- fill     ``s_fill(r_i, r_j) = 1 - (size(BB_ij) - size(r_i) - size(r_j)) / size(im)`` — where
  ``BB_ij`` is the tight box around both: regions that fill each other's gaps merge early,
  regions that would leave a large hole in their common box merge late.

A strategy combines them as ``s = a_1 s_colour + a_2 s_texture + a_3 s_size + a_4 s_fill`` with
each ``a ∈ {0, 1}`` (a plain sum: only the order of similarities matters). The paper abbreviates
a combination by initials: "C+T+S+F" is ``"CTSF"`` here, "T+S+F" is ``"TSF"``.

These functions are compiled by numba so that the grouping loop (``grouping.py``) calls the very
same code; they are ordinary functions from Python too. Boxes are ``(x1, y1, x2, y2)`` in pixel
edges, so ``size(BB) = (x2 - x1) · (y2 - y1)``.
"""
from __future__ import annotations

import functools

import numba
import numpy as np

SIMILARITIES: tuple[str, ...] = ("colour", "texture", "size", "fill")
"""The four measures, in the order of their initials C, T, S, F."""


def similarity_names(similarities) -> tuple[str, ...]:
    """Parse a combination: initials (``"CTSF"``, ``"T+S+F"``) or names (``("colour", "fill")``)
    -> the names in the canonical order. ``ValueError`` for anything else or an empty set."""
    if isinstance(similarities, (str, tuple, frozenset)):
        try:
            return _parse_similarities(similarities)       # the common case, remembered
        except TypeError:                                  # unhashable inside a tuple
            pass
    return _parse_similarities.__wrapped__(similarities)


@functools.lru_cache(maxsize=64)
def _parse_similarities(similarities) -> tuple[str, ...]:
    initials = {name[0]: name for name in SIMILARITIES}
    if isinstance(similarities, str):
        letters = similarities.replace("+", "").replace(" ", "").upper()
        if not letters or any(ch not in "CTSF" for ch in letters):
            raise ValueError(f"similarities as initials must use C, T, S, F (e.g. 'CTSF' or "
                             f"'T+S+F'), got {similarities!r}")
        chosen = {initials[ch.lower()] for ch in letters}
    else:
        try:
            chosen = set(similarities)
        except TypeError:
            raise ValueError(f"similarities must be initials like 'CTSF' or names from "
                             f"{SIMILARITIES}, got {similarities!r}") from None
        unknown = chosen - set(SIMILARITIES)
        if unknown or not chosen:
            raise ValueError(f"similarities must be a non-empty subset of {SIMILARITIES}, "
                             f"got {similarities!r}")
    return tuple(name for name in SIMILARITIES if name in chosen)


def initials(similarities) -> str:
    """``("colour", "texture", "size", "fill")`` -> ``"C+T+S+F"``, the paper's notation."""
    return "+".join(name[0].upper() for name in similarity_names(similarities))


@numba.njit(cache=True, nogil=True)
def histogram_intersection(h_i, h_j):
    """``Σ_k min(h_i[k], h_j[k])``: 1 for identical normalised histograms, 0 for disjoint ones."""
    total = 0.0
    for k in range(h_i.shape[0]):
        total += min(h_i[k], h_j[k])
    return total


@numba.njit(cache=True, nogil=True)
def colour_similarity(c_i, c_j):
    """``s_colour``: intersection of two colour histograms ``Float[C · 25]``."""
    return histogram_intersection(c_i, c_j)


@numba.njit(cache=True, nogil=True)
def texture_similarity(t_i, t_j):
    """``s_texture``: intersection of two texture histograms ``Float[C · 8 · 10]``."""
    return histogram_intersection(t_i, t_j)


@numba.njit(cache=True, nogil=True)
def size_similarity(size_i, size_j, image_size):
    """``s_size = 1 - (size_i + size_j) / size(im)``."""
    return 1.0 - (size_i + size_j) / image_size


@numba.njit(cache=True, nogil=True)
def fill_similarity(box_i, box_j, size_i, size_j, image_size):
    """``s_fill = 1 - (size(BB_ij) - size_i - size_j) / size(im)``; ``box_*`` are
    ``(x1, y1, x2, y2)``."""
    width = max(box_i[2], box_j[2]) - min(box_i[0], box_j[0])
    height = max(box_i[3], box_j[3]) - min(box_i[1], box_j[1])
    return 1.0 - (width * height - size_i - size_j) / image_size


@numba.njit(cache=True, nogil=True)
def combined_similarity(i, j, colour, texture, sizes, boxes, image_size, use):
    """``s(r_i, r_j)`` of a strategy: the sum of the measures switched on in ``use``
    (``Bool[4]``: colour, texture, size, fill), for regions ``i`` and ``j`` given as rows of
    ``colour Float[R, Dc]``, ``texture Float[R, Dt]``, ``sizes Int[R]``, ``boxes Int[R, 4]``."""
    s = 0.0
    if use[0]:
        s += colour_similarity(colour[i], colour[j])
    if use[1]:
        s += texture_similarity(texture[i], texture[j])
    if use[2]:
        s += size_similarity(sizes[i], sizes[j], image_size)
    if use[3]:
        s += fill_similarity(boxes[i], boxes[j], sizes[i], sizes[j], image_size)
    return s


def use_flags(similarities) -> np.ndarray:
    """``"CTSF"`` or names -> ``Bool[4]`` switches in the order colour, texture, size, fill."""
    names = similarity_names(similarities)
    return np.array([name in names for name in SIMILARITIES], dtype=np.bool_)
