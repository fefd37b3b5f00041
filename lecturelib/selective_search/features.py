"""Region descriptors of selective search: colour and texture histograms (Uijlings et al., 3.2).

**Colour.** For each colour channel, a histogram of 25 bins over [0, 1]; the C channels'
histograms are concatenated (``C · 25`` values, 75 for a three-channel space) and normalised
with the L1 norm, so the whole vector sums to 1.

**Texture** (the paper's fast SIFT-like measurement). For each channel, the Gaussian
derivatives ``∂/∂x`` and ``∂/∂y`` with ``σ = 1`` give the derivative in any direction θ as
``cos θ · ∂/∂x + sin θ · ∂/∂y``. Eight orientations θ = 0°, 45°, …, 315° (so opposite
directions count separately: the negative half of one is the positive half of its opposite),
each kept only where positive, each histogrammed in 10 bins — ``C · 8 · 10`` values (240 for
three channels), normalised with the L1 norm. The paper does not fix the bins' range; ours run
from 0 to the 99th percentile of that channel's responses in the image (stronger ones go in the
last bin). Up to the single largest response instead, a few strong edges would squeeze nearly
every pixel into the first bin and make all regions look alike in texture.

Both histograms of a region are counts divided by their total, so the histogram of the union of
two regions is the size-weighted mean of theirs (:func:`merge_histograms`): merging costs
``O(bins)``, never a pass over pixels. Shapes: ``labels`` is ``Int[H, W]`` with regions
``0 .. n-1``; histograms are ``Float32[n, D]``.
"""
from __future__ import annotations

import numba
import numpy as np

COLOUR_BINS = 25
TEXTURE_BINS = 10
ORIENTATIONS = 8
TEXTURE_SIGMA = 1.0
PERCENTILE = 99.0   # texture bins span 0 .. this percentile of a channel's responses


def colour_bins(colour_image: np.ndarray, bins: int = COLOUR_BINS) -> np.ndarray:
    """``Float[H, W, C]`` in [0, 1] -> ``uint8[H, W, C]``: the colour bin of every pixel."""
    return np.minimum(colour_image * bins, bins - 1).astype(np.uint8)


def texture_bins(colour_image: np.ndarray, bins: int = TEXTURE_BINS,
                 sigma: float = TEXTURE_SIGMA) -> np.ndarray:
    """``Float[H, W, C]`` -> ``uint8[H, W, C · 8]``: per channel and orientation, the bin of the
    (positive part of the) Gaussian derivative; channel-major (``c · 8 + orientation``)."""
    from scipy import ndimage

    h, w, c = colour_image.shape
    dx = np.empty((c, h, w), np.float32)
    dy = np.empty((c, h, w), np.float32)
    for ch in range(c):
        plane = colour_image[:, :, ch]
        ndimage.gaussian_filter(plane, sigma, order=(0, 1), output=dx[ch])   # d/dx (columns)
        ndimage.gaussian_filter(plane, sigma, order=(1, 0), output=dy[ch])   # d/dy (rows)
    angles = np.arange(ORIENTATIONS) * (2 * np.pi / ORIENTATIONS)
    return _orientation_bins(dx, dy, np.cos(angles).astype(np.float32),
                             np.sin(angles).astype(np.float32), bins)


@numba.njit(cache=True, nogil=True)
def _orientation_bins(dx, dy, cos, sin, bins):
    c, h, w = dx.shape
    n_orient = cos.shape[0]
    fine = 1024                                    # resolution of the percentile search
    out = np.empty((h, w, c * n_orient), np.uint8)
    for ch in range(c):
        top = np.float32(0.0)                      # the largest response of this channel
        for y in range(h):
            for x in range(w):
                for o in range(n_orient):
                    r = cos[o] * dx[ch, y, x] + sin[o] * dy[ch, y, x]
                    if r > top:
                        top = r
        # the 99th percentile of the responses (zeros included), to within top / 1024
        counts = np.zeros(fine + 1, np.int64)
        for y in range(h):
            for x in range(w):
                for o in range(n_orient):
                    r = cos[o] * dx[ch, y, x] + sin[o] * dy[ch, y, x]
                    counts[int(r / top * fine) + 1 if r > 0 else 0] += 1
        wanted, seen, level = PERCENTILE / 100 * h * w * n_orient, 0, top
        for b in range(fine + 1):
            seen += counts[b]
            if seen >= wanted:
                level = b * top / fine
                break
        if level <= 0:
            level = top
        scale = bins / level if level > 0 else np.float32(0.0)
        for y in range(h):
            for x in range(w):
                for o in range(n_orient):
                    r = cos[o] * dx[ch, y, x] + sin[o] * dy[ch, y, x]
                    b = int(r * scale) if r > 0 else 0
                    out[y, x, ch * n_orient + o] = min(b, bins - 1)
    return out


def region_histograms(labels: np.ndarray, pixel_bins: np.ndarray, n_regions: int,
                      bins: int) -> np.ndarray:
    """Histograms of every region: ``labels Int[H, W]``, ``pixel_bins uint8[H, W, F]`` (the bin
    of each of F measurements per pixel) -> ``Float32[n_regions, F · bins]``, rows summing to 1.
    """
    flat_labels = np.ascontiguousarray(labels.reshape(-1), dtype=np.int64)
    flat_bins = np.ascontiguousarray(pixel_bins.reshape(flat_labels.size, -1))
    return _histograms(flat_labels, flat_bins, int(n_regions), int(bins))


@numba.njit(cache=True, nogil=True)
def _histograms(labels, pixel_bins, n_regions, bins):
    n_features = pixel_bins.shape[1]
    counts = np.zeros((n_regions, n_features * bins), np.float32)
    sizes = np.zeros(n_regions, np.float32)
    for p in range(labels.shape[0]):
        r = labels[p]
        sizes[r] += 1
        for f in range(n_features):
            counts[r, f * bins + pixel_bins[p, f]] += 1
    for r in range(n_regions):
        if sizes[r] > 0:
            total = sizes[r] * n_features          # every pixel adds one count per feature
            for d in range(counts.shape[1]):
                counts[r, d] /= total
    return counts


def colour_histograms(colour_image: np.ndarray, labels: np.ndarray, n_regions: int) -> np.ndarray:
    """``Float32[n_regions, C · 25]``: the L1-normalised colour histogram of every region."""
    return region_histograms(labels, colour_bins(colour_image), n_regions, COLOUR_BINS)


def texture_histograms(colour_image: np.ndarray, labels: np.ndarray,
                       n_regions: int) -> np.ndarray:
    """``Float32[n_regions, C · 8 · 10]``: the L1-normalised texture histogram of every region."""
    return region_histograms(labels, texture_bins(colour_image), n_regions, TEXTURE_BINS)


def merge_histograms(hist_i: np.ndarray, size_i: float, hist_j: np.ndarray,
                     size_j: float) -> np.ndarray:
    """The histogram of ``r_i ∪ r_j``: ``(size_i · H_i + size_j · H_j) / (size_i + size_j)``."""
    return (size_i * np.asarray(hist_i, np.float64) + size_j * np.asarray(hist_j, np.float64)) \
        / (size_i + size_j)
