"""Selective-search proposals for a data set split, computed once and cached on disk.

R-CNN spends most of its test time here (the lesson measures it), so training and evaluation
reuse the boxes: they are stored under ``$LECTURELIB_CACHE`` (default ``~/.cache/lecturelib``)
in a file whose name is a hash of everything that made them — the split, its seed and size,
and the selective-search options — so changing any of them computes new ones.

The file also holds a SHA-256 of its contents (every image's boxes: dtype, shape, bytes; the
seconds per image), checked at every load: a file that cannot be read (truncated, junk), lacks
the checksum (written by an older lecturelib) or does not match it (altered) is never used — a
warning names it and the proposals are computed again and the file replaced. Files are written
through a temporary file of the writer's own and renamed, so a reader never sees half of one.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
import warnings
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
        try:
            return _read_cache(path, len(dataset))
        except _Unusable as why:
            warnings.warn(f"proposal cache {path} {why}: computing the proposals again",
                          RuntimeWarning, stacklevel=2)
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
                                sha256=np.array(_contents_sha256(boxes, per_image)),
                                **{f"image_{i}": b for i, b in enumerate(boxes)})
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return boxes, per_image


class _Unusable(Exception):
    """A cache file that must not be used; the message says why."""


def _contents_sha256(boxes: list[np.ndarray], seconds_per_image: float) -> str:
    """SHA-256 of what a cache file holds: each image's boxes (dtype, shape, bytes), in order,
    and the seconds per image."""
    h = hashlib.sha256(f"{len(boxes)} images, {float(seconds_per_image)!r} s".encode())
    for b in boxes:
        h.update(f"|{b.dtype.str}{b.shape}|".encode())
        h.update(np.ascontiguousarray(b).tobytes())
    return h.hexdigest()


def _read_cache(path: Path, num_images: int) -> tuple[list[np.ndarray], float]:
    """The boxes and seconds per image stored in ``path``, if it is whole and unaltered;
    raises :class:`_Unusable` otherwise."""
    try:
        with np.load(path, allow_pickle=False) as stored:
            if "sha256" not in stored.files:
                raise _Unusable("has no checksum (written by an older lecturelib)")
            expected = str(stored["sha256"])
            boxes = [stored[f"image_{i}"] for i in range(num_images)]
            seconds = float(stored["seconds_per_image"])
    except _Unusable:
        raise
    except Exception as exc:        # BadZipFile, zlib.error, EOFError, KeyError, ValueError ...
        why = " ".join(str(exc).split())[:120]
        raise _Unusable(f"cannot be read ({type(exc).__name__}: {why})") from exc
    if _contents_sha256(boxes, seconds) != expected:
        raise _Unusable("does not match its checksum (altered since it was written)")
    if any(b.dtype != np.float32 or b.ndim != 2 or b.shape[1] != 4 for b in boxes):
        raise _Unusable("does not hold Float32[N, 4] boxes")
    return boxes, seconds
