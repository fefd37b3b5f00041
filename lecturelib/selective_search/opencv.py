"""OpenCV's selective search (``cv2.ximgproc``), the peer ours is measured against by the tests,
``benchmarks/bench_selective_search.py`` and lesson 3. OpenCV comes with the test extra
(``opencv-contrib-python-headless``); nothing else in the package needs it.

- :func:`opencv_fast`: its ``switchToSelectiveSearchFast()`` on an RGB image, in its order;
- :data:`OPENCV_FAST`: the same method in our terms (its 12 groupings, its fixed minimum region
  of 100 px, its bottom-up order), for ``selective_search(image, **OPENCV_FAST)``;
- :func:`seed_c_rand`: OpenCV ranks with C's ``rand()`` and offers no seed; this seeds it.
"""
from __future__ import annotations

import ctypes

import numpy as np

from .strategies import make_strategies

__all__ = ["OPENCV_FAST", "opencv_available", "opencv_fast", "seed_c_rand"]

OPENCV_FAST = dict(strategies=make_strategies(["hsv", "lab"], [150, 300, 450], ["CTSF", "TSF"]),
                   min_size=100, ranking="level")


def opencv_available() -> bool:
    """True when OpenCV with its ``ximgproc`` contrib module can be imported."""
    try:
        import cv2
    except ImportError:
        return False
    return hasattr(cv2, "ximgproc")


def seed_c_rand(seed: int) -> bool:
    """Seed C's ``rand()`` through the C library (glibc, macOS), so OpenCV's order is the same
    every run. False where that library is not reachable (Windows): OpenCV stays unseeded."""
    try:
        ctypes.CDLL(None).srand(seed)
        return True
    except (OSError, AttributeError, TypeError):
        return False


def opencv_fast(image: np.ndarray, seed: int | None = None) -> np.ndarray:
    """OpenCV's fast mode on an RGB ``uint8[H, W, 3]`` image, one thread -> ``Float32[N, 4]``
    ``(x1, y1, x2, y2)`` in its order; ``seed`` seeds C's ``rand()`` first (None: not seeded,
    the order moves on with every call)."""
    if not opencv_available():
        raise ImportError("OpenCV with ximgproc is not installed "
                          "(pip install opencv-contrib-python-headless)")
    import cv2
    cv2.setNumThreads(1)
    if seed is not None:
        seed_c_rand(seed)
    search = cv2.ximgproc.segmentation.createSelectiveSearchSegmentation()
    search.setBaseImage(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    search.switchToSelectiveSearchFast()
    xywh = search.process().reshape(-1, 4).astype(np.float32)
    return np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)
