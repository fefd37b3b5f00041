"""Synthetic scenes for detection and instance segmentation: circles, squares, triangles.

One call makes one picture and its annotations, the same ones every time for the same seed:

>>> image, target = make_scene(seed=[0, 0, 7], size=128)
>>> image.shape, image.dtype                                  # (H, W, 3) uint8
((128, 128, 3), dtype('uint8'))
>>> sorted(target)                                            # numpy, torchvision's keys
['boxes', 'labels', 'masks']

How a scene is built
--------------------
1. A background that is not flat: a patch of a bundled photo (``photos.py``), a smooth colour
   gradient, smooth random "clouds", stripes, or a blend of two of these, plus pixel noise.
   Selective search and a CNN both have to separate objects from real texture.
2. 1-6 shapes, drawn one after another, so a later shape may cover part of an earlier one.
   Each has a random class, size (diameter or side log-uniform in 10-50 % of the image side,
   triangles 1.3× that, so COCO "small" (< 32² px) and "medium" objects both occur at 128 px),
   position (the whole shape lies inside the image), rotation (squares, triangles), colour and
   mild shading/noise. The colour is chosen to stand out from the pixels it is painted over.
3. Occlusion is bookkept with an "owner" map (which instance owns each pixel). A new shape is
   rejected (and another one sampled) if it would leave any earlier instance with less than
   ``min_visible`` (40 %) of its area, or fewer than ``min_pixels`` pixels, still visible.
   Rejecting the newcomer, rather than dropping the victim, keeps every painted pixel labelled.

Annotations (``target``), in drawing order (back to front), N ≥ 1:

- ``masks``  uint8 ``[N, H, W]``: the *visible* pixels of each instance (occlusion removed), so
  masks never overlap and each image pixel belongs to at most one instance.
- ``boxes``  float32 ``[N, 4]``: ``(x1, y1, x2, y2)``, the tight box of the visible mask in the
  **pixel-edge convention**: x1 is the left edge of the first column, x2 the right edge of the
  last column, i.e. ``x2 = last column + 1`` and ``x2 - x1`` is the width in pixels. (This is
  ``torchvision.ops.masks_to_boxes(masks) + [0, 0, 1, 1]``; masks_to_boxes uses pixel indices.)
- ``labels`` int64 ``[N]``: index into :data:`CLASSES`, 1..3 (0 is the background).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .photos import PHOTOS, _load_cached

__all__ = ["CLASSES", "SPLITS", "make_scene", "scene_seed"]

CLASSES: tuple[str, ...] = ("background", "circle", "square", "triangle")
SPLITS: dict[str, int] = {"train": 0, "val": 1, "test": 2}

_SIZE_RANGE = (0.10, 0.50)  # object diameter/side as a fraction of the image side
_TRIANGLE_SCALE = 1.3       # triangles cover less of their side², make them a bit bigger


def scene_seed(seed: int, split: str, index: int) -> list[int]:
    """The seed of image ``index`` of ``split``: ``[seed, SPLITS[split], index]``.

    ``np.random.default_rng`` hashes the whole list, so two splits never share a stream:
    the splits are disjoint by construction, whatever their sizes.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose one of {tuple(SPLITS)}")
    if seed < 0 or index < 0:
        raise ValueError("seed and index must be non-negative")
    return [int(seed), SPLITS[split], int(index)]


# --------------------------------------------------------------------------------------------
# Backgrounds: each returns float32 (S, S, 3) with values in [0, 255]
# --------------------------------------------------------------------------------------------
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates, as a column (ys) and a row (xs) for broadcasting."""
    c = np.arange(size, dtype=np.float32) + 0.5
    return c[:, None], c[None, :]


def _photo_patch(rng: np.random.Generator, size: int) -> np.ndarray:
    photo = _load_cached(PHOTOS[rng.integers(len(PHOTOS))])
    h, w = photo.shape[:2]
    # A random square window of side L, resampled (nearest pixel) to size × size:
    # L close to size is a close-up, a larger L a wider view (at most 4× zoomed out).
    longest = min(h, w, 4 * size)
    side = int(rng.integers(min(size, longest), longest + 1))
    y = int(rng.integers(0, h - side + 1))
    x = int(rng.integers(0, w - side + 1))
    step = np.arange(size) * side // size
    patch = photo[(y + step)[:, None], x + step].astype(np.float32)
    if rng.random() < 0.5:
        patch = patch[:, ::-1]
    return patch


def _gradient(rng: np.random.Generator, size: int) -> np.ndarray:
    ys, xs = _grid(size)
    c0, c1 = rng.uniform(0, 255, (2, 3)).astype(np.float32)
    if rng.random() < 0.7:  # linear ramp in a random direction
        a = rng.uniform(0, 2 * np.pi)
        t = (np.cos(a) * (xs - size / 2) + np.sin(a) * (ys - size / 2)) / size + 0.5
    else:                   # radial, centred somewhere in the image
        cy, cx = rng.uniform(0, size, 2)
        t = np.sqrt((xs - cx) ** 2 + (ys - cy) ** 2) / size
    t = np.clip(t, 0, 1)[:, :, None]
    return c0 + (c1 - c0) * t


def _upsample(grid: np.ndarray, size: int) -> np.ndarray:
    """Bilinear resize of a small (g, g, C) array to (size, size, C)."""
    g = grid.shape[0]
    pos = np.clip((np.arange(size, dtype=np.float32) + 0.5) * g / size - 0.5, 0, g - 1)
    i0 = np.floor(pos).astype(np.intp)
    i1 = np.minimum(i0 + 1, g - 1)
    w = (pos - i0)[:, None, None]
    rows = grid[i0] * (1 - w) + grid[i1] * w                   # (size, g, C)
    w = w[None, :, :, 0]
    return rows[:, i0] * (1 - w) + rows[:, i1] * w             # (size, size, C)


def _clouds(rng: np.random.Generator, size: int) -> np.ndarray:
    coarse = _upsample(rng.uniform(0, 255, (int(rng.integers(2, 6)),) * 2 + (3,)), size)
    fine = _upsample(rng.normal(0, 40, (int(rng.integers(8, 17)),) * 2 + (3,)), size)
    return (coarse + fine).astype(np.float32)


def _stripes(rng: np.random.Generator, size: int) -> np.ndarray:
    ys, xs = _grid(size)
    a = rng.uniform(0, np.pi)
    period = rng.uniform(4, 24) * size / 128
    t = 0.5 + 0.5 * np.sin(2 * np.pi * (np.cos(a) * xs + np.sin(a) * ys) / period)
    c0, c1 = rng.uniform(0, 255, (2, 3)).astype(np.float32)
    return c0 + (c1 - c0) * t[:, :, None]


_BACKGROUNDS = (_photo_patch, _gradient, _clouds, _stripes)
_BACKGROUND_P = (0.45, 0.2, 0.2, 0.15)


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    pick = lambda: _BACKGROUNDS[rng.choice(len(_BACKGROUNDS), p=_BACKGROUND_P)]  # noqa: E731
    bg = pick()(rng, size)
    if rng.random() < 0.35:  # mixture: blend in a second background through a soft mask
        alpha = _upsample(rng.uniform(0, 1, (3, 3, 1)), size)
        bg = bg * (1 - alpha) + pick()(rng, size) * alpha
    return bg + rng.normal(0, rng.uniform(0, 8), (size, size, 1)).astype(np.float32)


# --------------------------------------------------------------------------------------------
# Shapes: rasterised inside their own bounding window, with pixel centres at (i + 0.5)
# --------------------------------------------------------------------------------------------
def _sample_shape(rng: np.random.Generator, size: int) -> dict:
    label = int(rng.integers(1, len(CLASSES)))
    lo, hi = _SIZE_RANGE
    d = size * float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    if CLASSES[label] == "circle":
        reach, angle = d / 2, 0.0
    elif CLASSES[label] == "square":
        reach, angle = d / np.sqrt(2), rng.uniform(0, np.pi / 2)
    else:
        d *= _TRIANGLE_SCALE
        reach, angle = d / np.sqrt(3), rng.uniform(0, 2 * np.pi / 3)
    cy, cx = rng.uniform(reach, size - reach, 2)  # the whole shape lies inside the image
    return dict(label=label, d=d, reach=reach, angle=angle, cx=cx, cy=cy)


def _rasterise(shape: dict, size: int) -> tuple[np.ndarray, tuple[slice, slice], tuple]:
    """Boolean mask of the full shape inside its window, the window, and centred coordinates."""
    r, cx, cy = shape["reach"], shape["cx"], shape["cy"]
    x0, x1 = max(int(cx - r), 0), min(int(np.ceil(cx + r)) + 1, size)
    y0, y1 = max(int(cy - r), 0), min(int(np.ceil(cy + r)) + 1, size)
    dx = (np.arange(x0, x1, dtype=np.float32) + 0.5 - cx)[None, :]
    dy = (np.arange(y0, y1, dtype=np.float32) + 0.5 - cy)[:, None]
    kind, d, a = CLASSES[shape["label"]], shape["d"], shape["angle"]
    if kind == "circle":
        inside = dx * dx + dy * dy <= (d / 2) ** 2
    elif kind == "square":  # rotate into the square's frame, then |u|, |v| <= half side
        u = np.cos(a) * dx + np.sin(a) * dy
        v = -np.sin(a) * dx + np.cos(a) * dy
        inside = (np.abs(u) <= d / 2) & (np.abs(v) <= d / 2)
    else:  # equilateral triangle: inside its three edges, normals 120° apart, inradius d/(2√3)
        inradius = d / (2 * np.sqrt(3))
        inside = np.ones((y1 - y0, x1 - x0), dtype=bool)
        for k in range(3):
            phi = a + 2 * np.pi * k / 3
            inside &= np.cos(phi) * dx + np.sin(phi) * dy <= inradius
    return inside, (slice(y0, y1), slice(x0, x1)), (dx, dy)


def _paint(rng: np.random.Generator, image: np.ndarray, inside: np.ndarray, window, dxdy, reach):
    """Paint one shape in place with a colour that contrasts with what it covers."""
    region = image[window]
    under = region[inside].mean(axis=0)
    candidates = rng.uniform(0, 255, (12, 3)).astype(np.float32)
    dist = np.linalg.norm(candidates - under, axis=1)
    good = np.flatnonzero(dist >= 110)
    colour = candidates[good[0] if good.size else int(np.argmax(dist))]
    # Mild shading: brightness ramps by up to ±20 % across the shape, plus fine noise.
    dx, dy = dxdy
    a = rng.uniform(0, 2 * np.pi)
    ramp = 1 + rng.uniform(0, 0.2) * (np.cos(a) * dx + np.sin(a) * dy) / reach
    noise = rng.normal(0, rng.uniform(0, 6), ramp.shape).astype(np.float32)
    texture = colour * ramp[:, :, None] + noise[:, :, None]
    region[inside] = texture[inside]


def make_scene(
    seed: int | Sequence[int],
    size: int = 128,
    *,
    max_instances: int = 6,
    min_visible: float = 0.4,
    min_pixels: int | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Draw one scene, deterministically from ``seed``.

    Args:
        seed: anything ``np.random.default_rng`` accepts; datasets pass
            :func:`scene_seed` ``(base_seed, split, index)``.
        size: image side S in pixels (square images).
        max_instances: the number of instances is uniform in 1..max_instances.
        min_visible: smallest visible fraction an occluded instance may keep.
        min_pixels: smallest visible area in pixels (default ``40 · (S/128)²``).

    Returns:
        ``image``: uint8 ``[S, S, 3]``; ``target``: ``{"boxes": float32 [N, 4] (x1, y1, x2, y2),
        pixel-edge convention, "labels": int64 [N] in 1..3, "masks": uint8 [N, S, S]}``,
        N ≥ 1, instances in drawing order (see the module docstring).
    """
    if size < 16:
        raise ValueError(f"size must be at least 16 pixels, got {size}")
    rng = np.random.default_rng(seed)
    if min_pixels is None:
        min_pixels = max(8, round(40 * (size / 128) ** 2))
    image = _background(rng, size)
    owner = np.full((size, size), -1, dtype=np.int16)  # -1: background, else instance index
    labels: list[int] = []
    full_area: list[int] = []
    visible: list[int] = []
    wanted = int(rng.integers(1, max_instances + 1))
    tries = 0
    while len(labels) < wanted and (tries < 10 * wanted or not labels):
        tries += 1
        shape = _sample_shape(rng, size)
        inside, window, dxdy = _rasterise(shape, size)
        area = int(inside.sum())
        if area < min_pixels:
            continue
        covered = owner[window][inside]
        lost = np.bincount(covered[covered >= 0], minlength=len(labels))
        left = np.asarray(visible, dtype=np.int64) - lost
        if np.any(left < min_visible * np.asarray(full_area)) or np.any(left < min_pixels):
            continue  # it would hide too much of an earlier instance: try another shape
        owner[window][inside] = len(labels)
        _paint(rng, image, inside, window, dxdy, shape["reach"])
        labels.append(shape["label"])
        full_area.append(area)
        visible = list(left) + [area]

    masks = (owner[None] == np.arange(len(labels), dtype=np.int16)[:, None, None]).astype(np.uint8)
    # Tight boxes of the visible masks: first occupied column/row, and last one + 1.
    rows, cols = masks.any(axis=2), masks.any(axis=1)  # [N, S] each
    x1, y1 = cols.argmax(1), rows.argmax(1)
    x2, y2 = size - cols[:, ::-1].argmax(1), size - rows[:, ::-1].argmax(1)
    boxes = np.stack([x1, y1, x2, y2], axis=1).astype(np.float32)
    image = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    return image, {"boxes": boxes, "labels": np.asarray(labels, dtype=np.int64), "masks": masks}
