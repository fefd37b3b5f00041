"""Selective-search proposals for a data set split, computed once and cached on disk.

R-CNN spends most of its test time here (the lesson measures it), so training and evaluation
reuse the boxes: they are stored under ``$LECTURELIB_CACHE`` (default ``~/.cache/lecturelib``)
in a file whose name is a hash of everything that made them — the split, its seed and size,
and the selective-search options — so changing any of them computes new ones.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..data import SyntheticShapes


def cache_dir() -> Path:
    path = Path(os.environ.get("LECTURELIB_CACHE", Path.home() / ".cache" / "lecturelib"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _code_version() -> str:
    """A hash of the selective-search and scene-generator sources: new code, new cache."""
    root = Path(__file__).parents[1]
    h = hashlib.sha256()
    for path in sorted([*(root / "selective_search").glob("*.py"), root / "data" / "scenes.py"]):
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def proposals_for(dataset: SyntheticShapes, mode: str = "fast", max_boxes: int = 500,
                  min_box_size: int = 4, progress: bool = True) -> tuple[list[np.ndarray], float]:
    """Float32[N_i, 4] proposals (best first, at most ``max_boxes``) for every image of
    ``dataset``, and the mean seconds per image it took to compute them (measured when first
    computed, stored with the cache)."""
    from ..selective_search import selective_search
    key = json.dumps({"split": dataset.split, "n": len(dataset), "size": dataset.image_size,
                      "seed": dataset.seed, "mode": mode, "max_boxes": max_boxes,
                      "min_box_size": min_box_size, "code": _code_version()}, sort_keys=True)
    path = cache_dir() / f"proposals-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"
    if path.exists():
        stored = np.load(path)
        return ([stored[f"image_{i}"] for i in range(len(dataset))],
                float(stored["seconds_per_image"]))
    boxes, seconds = [], 0.0
    for i in tqdm(range(len(dataset)), desc=f"selective search ({dataset.split})",
                  disable=not progress):
        image = dataset.scene(i)[0]
        start = time.perf_counter()
        found = selective_search(image, mode=mode, min_box_size=min_box_size)[:max_boxes]
        seconds += time.perf_counter() - start
        boxes.append(np.asarray(found, dtype=np.float32).reshape(-1, 4))
    per_image = seconds / max(len(dataset), 1)
    # a temporary file of this process's own, then renamed: two processes filling the same
    # cache at once (the test suite's workers, two lessons open) never read a half-written one
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, seconds_per_image=per_image,
                                **{f"image_{i}": b for i, b in enumerate(boxes)})
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return boxes, per_image
