"""Colour spaces of selective search (Uijlings et al., 2013, Section 3.2 and Table 1).

The paper diversifies its grouping by running it in colour spaces with different invariances:

=======  ========  ===========================================================================
name     channels  what it is
=======  ========  ===========================================================================
``rgb``  3         the camera's red, green, blue: no invariance at all
``i``    1         intensity ``(R + G + B) / 3``: ignores colour
``lab``  3         CIE L*a*b*: lightness and two perceptual colour axes
``rgi``  3         normalised ``r = R / (R+G+B)``, ``g = G / (R+G+B)`` plus intensity ``I``
``hsv``  3         hue, saturation, value: hue is invariant to shadows and highlights
``h``    1         hue only: the most invariant (and the least discriminative)
=======  ========  ===========================================================================

Every conversion returns ``Float32[H, W, C]`` with each channel scaled to ``[0, 1]``, so the
Felzenszwalb threshold ``k`` means the same in every space (scikit-image reads a float image in
[0, 1] with ``k`` in the paper's 0-255 units) and the colour histograms can use fixed bins.
Scalings: L* / 100 and (a*, b* + 128) / 255 for Lab; r and g of a black pixel are 1/3 (grey).
Hue is an angle but is binned like any other channel, as in the paper.
"""
from __future__ import annotations

import numba
import numpy as np

COLOUR_SPACES: tuple[str, ...] = ("rgb", "hsv", "lab", "rgi", "h", "i")
"""The six names accepted by :func:`to_colour_space` (case does not matter: "Lab", "rgI")."""


def colour_space_name(name) -> str:
    """The canonical (lower-case) name of a colour space; ``ValueError`` for an unknown one."""
    key = str(name).lower() if isinstance(name, str) else None
    if key not in COLOUR_SPACES:
        raise ValueError(f"colour_space must be one of {COLOUR_SPACES} (any case), got {name!r}")
    return key


def intensity(rgb: np.ndarray) -> np.ndarray:
    """``uint8[H, W, 3]`` -> ``Float32[H, W]`` in [0, 1]: the mean of the three channels."""
    return rgb.astype(np.float32).sum(axis=2) / np.float32(3 * 255)


@numba.njit(cache=True, nogil=True)
def rgb_to_hsv(rgb):
    """``uint8[H, W, 3]`` -> ``Float32[H, W, 3]`` hue, saturation, value, each in [0, 1]
    (``skimage.color.rgb2hsv``'s values, computed in one pass)."""
    h, w, _ = rgb.shape
    out = np.empty((h, w, 3), np.float32)
    for y in range(h):
        for x in range(w):
            r, g, b = rgb[y, x, 0] / 255.0, rgb[y, x, 1] / 255.0, rgb[y, x, 2] / 255.0
            top, bottom = max(r, g, b), min(r, g, b)
            delta = top - bottom
            hue = 0.0
            if delta > 0:
                if top == r:
                    hue = (g - b) / delta
                elif top == g:
                    hue = 2.0 + (b - r) / delta
                else:
                    hue = 4.0 + (r - g) / delta
                hue = (hue / 6.0) % 1.0
            out[y, x, 0] = hue
            out[y, x, 1] = delta / top if top > 0 else 0.0
            out[y, x, 2] = top
    return out


def to_colour_space(rgb: np.ndarray, colour_space: str) -> np.ndarray:
    """Convert an RGB image ``uint8[H, W, 3]`` to ``Float32[H, W, C]`` in [0, 1] (C = 1 or 3)."""
    from skimage import color   # imported here: scikit-image costs ~0.5 s to import

    space = colour_space_name(colour_space)
    if space == "rgb":
        out = rgb.astype(np.float32) / np.float32(255)
    elif space == "i":
        out = intensity(rgb)[:, :, None]
    elif space in ("hsv", "h"):
        hsv = rgb_to_hsv(rgb)                          # all three channels already in [0, 1]
        out = hsv if space == "hsv" else hsv[:, :, :1]
    elif space == "lab":
        lab = color.rgb2lab(rgb).astype(np.float32)
        out = np.empty_like(lab)
        out[:, :, 0] = lab[:, :, 0] / 100
        out[:, :, 1:] = (lab[:, :, 1:] + 128) / 255
    else:                                              # rgi
        total = rgb.astype(np.float32).sum(axis=2)
        safe = np.where(total > 0, total, 1)
        r = np.where(total > 0, rgb[:, :, 0] / safe, 1 / 3)
        g = np.where(total > 0, rgb[:, :, 1] / safe, 1 / 3)
        out = np.stack([r, g, total / (3 * 255)], axis=2).astype(np.float32)
    return np.ascontiguousarray(np.clip(out, 0, 1), dtype=np.float32)


def as_rgb_image(image, name: str = "image") -> np.ndarray:
    """Accept what a lesson has at hand and return ``uint8[H, W, 3]`` RGB.

    - ``uint8[H, W, 3]``: as it is;
    - grey ``uint8[H, W]`` or ``[H, W, 1]``: repeated over three channels;
    - RGBA ``uint8[H, W, 4]``: composited onto white (as ``load_photo`` does);
    - a float array in [0, 1] of those shapes: scaled by 255 and rounded;
    - a torch tensor ``Float[3, H, W]`` in [0, 1] (the course's image format) or ``[1, H, W]``.

    Anything else is a ``ValueError`` that says what was given.
    """
    if type(image).__module__.startswith("torch"):
        tensor = image.detach().cpu()
        if tensor.ndim == 3 and tensor.shape[0] in (1, 3, 4) and tensor.shape[-1] not in (1, 3, 4):
            tensor = tensor.permute(1, 2, 0)
        image = tensor.numpy()
    if not isinstance(image, np.ndarray):
        raise ValueError(f"{name} must be an H×W×3 uint8 array (grey H×W and RGBA H×W×4 are "
                         f"converted), got {type(image).__name__}")
    given = f"shape {image.shape} and dtype {image.dtype}"
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (1, 3, 4))):
        raise ValueError(f"{name} must be H×W×3 (RGB), H×W×4 (RGBA) or H×W (grey), got {given}")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"{name} is empty: got {given}")
    if image.dtype == np.uint8:
        if image.ndim == 3 and image.shape[2] == 3:
            return np.ascontiguousarray(image)
        pixels = image.astype(np.float32) / 255
    elif image.dtype.kind == "f":
        if not np.isfinite(image).all():
            raise ValueError(f"a float {name} must hold finite values in [0, 1], got {given} "
                             f"with NaN or inf")
        if image.min() < 0 or image.max() > 1:
            raise ValueError(f"a float {name} must hold values in [0, 1], got {given} with range "
                             f"[{image.min():.3g}, {image.max():.3g}]")
        pixels = image.astype(np.float32)
    else:
        raise ValueError(f"{name} must be uint8 (or float in [0, 1]), got {given}")
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.shape[2] == 4:                                   # RGBA over white
        alpha = pixels[:, :, 3:]
        pixels = pixels[:, :, :3] * alpha + (1 - alpha)
    if pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    pixels = np.round(pixels * 255).astype(np.uint8)
    return np.ascontiguousarray(pixels)
