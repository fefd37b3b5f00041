"""Real photographs that ship inside installed wheels, so no lesson has to download anything.

scikit-image carries a folder of sample images (``skimage/data/``) and scikit-learn carries two
JPEGs (``sklearn/datasets/images/``). Some of scikit-image's ``skimage.data.*`` functions fetch
larger files with ``pooch`` from the internet; we never call those functions. Instead we read the
files that are physically present in the wheel, by path, with Pillow. Nothing here opens a socket.

>>> img = load_photo("astronaut")
>>> img.shape, img.dtype
((512, 512, 3), dtype('uint8'))

Every photo comes back as ``uint8`` RGB of shape ``(H, W, 3)``: greyscale files are repeated
over three channels and transparent files (RGBA) are composited onto white, which is what
``skimage.data`` does for ``horse`` and ``logo`` before showing them.
"""
from __future__ import annotations

import functools
import importlib.util
import os

import numpy as np
from PIL import Image

__all__ = ["PHOTOS", "PHOTO_BOXES", "load_photo", "photo_boxes", "photo_path"]

# name -> (package, file inside that package). Names follow the ``skimage.data`` function that
# would return the same picture (``colorwheel`` is color.png); scikit-learn's names keep ".jpg"
# off. Only files that are inside the wheels are listed: nothing that needs pooch.
_FILES: dict[str, tuple[str, str]] = {
    "astronaut": ("skimage", "data/astronaut.png"),
    "brick": ("skimage", "data/brick.png"),
    "camera": ("skimage", "data/camera.png"),
    "cell": ("skimage", "data/cell.png"),
    "chelsea": ("skimage", "data/chelsea.png"),
    "clock": ("skimage", "data/clock_motion.png"),
    "coffee": ("skimage", "data/coffee.png"),
    "coins": ("skimage", "data/coins.png"),
    "colorwheel": ("skimage", "data/color.png"),
    "grass": ("skimage", "data/grass.png"),
    "gravel": ("skimage", "data/gravel.png"),
    "horse": ("skimage", "data/horse.png"),
    "hubble_deep_field": ("skimage", "data/hubble_deep_field.jpg"),
    "immunohistochemistry": ("skimage", "data/ihc.png"),
    "logo": ("skimage", "data/logo.png"),
    "moon": ("skimage", "data/moon.png"),
    "motorcycle": ("skimage", "data/motorcycle_left.png"),
    "page": ("skimage", "data/page.png"),
    "retina": ("skimage", "data/retina.jpg"),
    "rocket": ("skimage", "data/rocket.jpg"),
    "text": ("skimage", "data/text.png"),
    "china": ("sklearn", "datasets/images/china.jpg"),
    "flower": ("sklearn", "datasets/images/flower.jpg"),
}

PHOTOS: tuple[str, ...] = tuple(_FILES)
"""Names accepted by :func:`load_photo`, in a fixed order."""


def _package_dir(package: str) -> str:
    # find_spec on a top-level name locates the package without importing it, so this costs
    # neither scikit-learn's nor scikit-image's import time.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"{package} is needed for the bundled photos; install it")
    return list(spec.submodule_search_locations)[0]


def photo_path(name: str) -> str:
    """Absolute path of the file behind ``name`` (one of :data:`PHOTOS`)."""
    if name not in _FILES:
        raise ValueError(f"unknown photo {name!r}; choose one of: {', '.join(PHOTOS)}")
    package, relative = _FILES[name]
    return os.path.join(_package_dir(package), *relative.split("/"))


def _to_rgb(img: Image.Image) -> np.ndarray:
    """Pillow image in any of the modes these files use -> uint8 ``(H, W, 3)``."""
    if img.mode in ("RGBA", "LA", "P"):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba)
    if img.mode in ("I;16", "I;16B", "I"):  # 16-bit greyscale: scale down to 8 bits
        arr = np.asarray(img, dtype=np.float64)
        arr = np.round(arr * 255.0 / max(float(arr.max()), 1.0)).astype(np.uint8)
        return np.repeat(arr[:, :, None], 3, axis=2)
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


@functools.lru_cache(maxsize=None)
def _load_cached(name: str) -> np.ndarray:
    with Image.open(photo_path(name)) as img:
        arr = _to_rgb(img)
    arr = np.ascontiguousarray(arr)
    arr.setflags(write=False)  # the cached copy is shared: nobody may paint on it
    return arr


def load_photo(name: str) -> np.ndarray:
    """Load a bundled photo as RGB.

    Args:
        name: one of :data:`PHOTOS` (e.g. ``"astronaut"``, ``"coffee"``, ``"china"``).

    Returns:
        ``np.ndarray`` of dtype ``uint8`` and shape ``(H, W, 3)``, a fresh writable copy.

    Raises:
        ValueError: for a name that is not in :data:`PHOTOS` (the message lists the valid ones).
    """
    return _load_cached(name).copy()


# Objects in six bundled photos, boxed by hand (x1, y1, x2, y2) in the photos' own pixels, from
# figures with a 25-pixel grid: about ±5 px. Coins: every coin. Ground truth for proposal recall
# (benchmarks/bench_selective_search.py, lesson 3).
PHOTO_BOXES: dict[str, list[tuple[int, int, int, int]]] = {
    # person, head, helmet in hand, model shuttle, flag, mission patch
    "astronaut": [(20, 22, 385, 512), (150, 22, 302, 210), (292, 345, 512, 512),
                  (355, 0, 470, 285), (0, 0, 95, 460), (128, 342, 205, 412)],
    # cup, saucer, spoon
    "coffee": [(175, 18, 408, 305), (75, 72, 480, 392), (325, 68, 425, 325)],
    # rocket, left tower, right tower, two lightning masts, launch pad
    "rocket": [(306, 125, 340, 395), (5, 0, 92, 427), (560, 0, 640, 427), (178, 125, 205, 427),
               (440, 125, 475, 427), (265, 395, 375, 427)],
    # motorcycle, front wheel, rear wheel, bench, red bin, two cardboard boxes
    "motorcycle": [(150, 40, 685, 448), (508, 300, 685, 448), (122, 240, 275, 395),
                   (40, 105, 280, 305), (527, 183, 620, 258), (533, 28, 600, 100),
                   (620, 185, 690, 270)],
    # 24 coins, row by row
    "coins": [(132, 29, 179, 74), (193, 30, 239, 73), (305, 16, 364, 72), (22, 35, 65, 74),
              (81, 39, 120, 74), (257, 34, 295, 72), (25, 104, 67, 145), (84, 107, 122, 145),
              (134, 110, 174, 145), (186, 105, 227, 144), (245, 95, 296, 144),
              (317, 105, 356, 145), (25, 178, 63, 217), (80, 175, 124, 217),
              (135, 179, 174, 217), (189, 170, 237, 217), (251, 172, 297, 217),
              (315, 156, 379, 218), (18, 233, 75, 288), (92, 245, 136, 287),
              (144, 236, 201, 288), (220, 240, 269, 288), (276, 239, 326, 288),
              (336, 248, 384, 289)],
    # man, head, camera, tripod
    "camera": [(0, 92, 332, 512), (155, 92, 265, 210), (262, 138, 325, 182),
               (232, 200, 408, 512)],
}


def photo_boxes(name: str) -> np.ndarray:
    """``Float32[G, 4]`` ``(x1, y1, x2, y2)``: the objects boxed by hand in photo ``name`` (one
    of :data:`PHOTO_BOXES`), in the photo's own pixels — ground truth for proposal recall."""
    if name not in PHOTO_BOXES:
        raise ValueError(f"no boxes for photo {name!r}; boxed photos: {', '.join(PHOTO_BOXES)}")
    return np.array(PHOTO_BOXES[name], np.float32)
