"""The synthetic scenes as a torch ``Dataset``, shaped like torchvision's detection data sets.

>>> ds = SyntheticShapes("train")
>>> image, target = ds[0]
>>> image.shape, image.dtype                 # Float[3, H, W] in [0, 1]
(torch.Size([3, 128, 128]), torch.float32)
>>> loader = torch.utils.data.DataLoader(ds, batch_size=4, collate_fn=collate_fn)

``target`` is ``{"boxes": Float[N, 4] (x1, y1, x2, y2), "labels": Int64[N] (1..3),
"masks": UInt8[N, H, W], "image_id": int}``, what ``torchvision.models.detection`` models take
in training mode. Boxes use the pixel-edge convention (``x2 = last column + 1``, see
``scenes.py``). Images are generated when indexed (a few milliseconds each), never stored.

:func:`to_coco` writes the same annotations as a COCO dict (``pycocotools.coco.COCO`` reads
it), so the course's metrics can be checked against the reference COCO evaluation.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from .scenes import CLASSES, SPLITS, make_scene, scene_seed

__all__ = ["SyntheticShapes", "collate_fn", "mask_to_rle", "to_coco", "save_coco"]

DEFAULT_SIZES: dict[str, int] = {"train": 512, "val": 128, "test": 128}


class SyntheticShapes(Dataset):
    """Circles, squares and triangles on textured backgrounds, with boxes and instance masks.

    Args:
        split: ``"train"``, ``"val"`` or ``"test"``. Image ``i`` of a split is drawn from the
            seed ``[seed, split_number, i]``, so splits never share an image and growing
            ``num_images`` keeps the earlier images unchanged.
        num_images: length of the split, an int >= 0 (default 512 / 128 / 128).
        image_size: side S of the square images, an int >= 16.
        seed: base seed, an int >= 0; a different seed gives a different data set.
        transforms: optional ``f(image, target) -> (image, target)`` applied last, as in
            torchvision's detection references.

    Item ``i`` is ``(image Float[3, S, S] in [0, 1], target)`` with target as in the module
    docstring and ``target["image_id"] == i``.
    """

    classes: tuple[str, ...] = CLASSES

    def __init__(
        self,
        split: str = "train",
        num_images: int | None = None,
        image_size: int = 128,
        seed: int = 0,
        transforms: Callable[[torch.Tensor, dict], tuple[torch.Tensor, dict]] | None = None,
    ):
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; choose one of {tuple(SPLITS)}")
        from ..ops._validate import check_number   # lazily: data stays importable alone

        self.split = split
        self.num_images = (DEFAULT_SIZES[split] if num_images is None else check_number(
            num_images, "num_images", minimum=0, integer=True, expected="an int >= 0 or None"))
        self.image_size = check_number(image_size, "image_size", minimum=16, integer=True,
                                       expected="an int >= 16 (pixels)")
        self.seed = check_number(seed, "seed", minimum=0, integer=True, expected="an int >= 0")
        if transforms is not None and not callable(transforms):
            raise ValueError(f"transforms must be None or a function (image, target) -> "
                             f"(image, target), got {type(transforms).__name__}")
        self.transforms = transforms

    def __len__(self) -> int:
        return self.num_images

    def scene(self, index: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Image ``index`` as numpy: uint8 ``[S, S, 3]`` and the numpy target of ``make_scene``."""
        if not -self.num_images <= index < self.num_images:
            raise IndexError(f"index {index} out of range for {self.num_images} images")
        index %= self.num_images
        return make_scene(scene_seed(self.seed, self.split, index), self.image_size)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict[str, Any]]:
        image, target = self.scene(index)
        out = {
            "boxes": torch.from_numpy(target["boxes"]),
            "labels": torch.from_numpy(target["labels"]),
            "masks": torch.from_numpy(target["masks"]),
            "image_id": int(index) % self.num_images,
        }
        tensor = torch.from_numpy(image).permute(2, 0, 1).contiguous().float().div_(255)
        if self.transforms is not None:
            tensor, out = self.transforms(tensor, out)
        return tensor, out

    def __repr__(self) -> str:
        return (
            f"SyntheticShapes(split={self.split!r}, num_images={self.num_images}, "
            f"image_size={self.image_size}, seed={self.seed})"
        )


def collate_fn(batch: list[tuple[torch.Tensor, dict]]) -> tuple[tuple, tuple]:
    """For ``DataLoader``: keep images and targets as sequences (they differ in N), like
    torchvision's detection references: ``(images, targets)``, each a tuple of length B."""
    return tuple(zip(*batch))  # type: ignore[return-value]


def mask_to_rle(mask: np.ndarray) -> dict[str, list[int]]:
    """Uncompressed COCO RLE of a binary ``[H, W]`` mask.

    COCO reads pixels column by column (Fortran order) and ``counts`` alternates runs of 0s and
    1s, starting with 0s (a leading 0 count when the first pixel is set).
    """
    h, w = mask.shape
    flat = np.asarray(mask, dtype=bool).ravel(order="F")
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1  # where a new run starts
    edges = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(edges).tolist()
    if flat.size and flat[0]:
        counts = [0] + counts
    return {"counts": counts, "size": [h, w]}


def to_coco(dataset: SyntheticShapes) -> dict[str, Any]:
    """Export every image's annotations as a COCO ground-truth dict.

    ``bbox`` is ``[x, y, w, h]`` = ``[x1, y1, x2 - x1, y2 - y1]`` of our pixel-edge boxes,
    ``area`` is the visible mask area in pixels, ``segmentation`` is uncompressed RLE
    (:func:`mask_to_rle`), ``iscrowd`` is 0. Image ids are dataset indices, annotation ids
    start at 1 (COCOeval treats id 0 as "no match"), category ids are the labels 1..3.
    """
    images, annotations = [], []
    for index in range(len(dataset)):
        _, target = dataset.scene(index)
        h, w = target["masks"].shape[1:]
        name = f"{dataset.split}_{index:06d}.png"
        images.append({"id": index, "width": int(w), "height": int(h), "file_name": name})
        for box, label, mask in zip(target["boxes"], target["labels"], target["masks"]):
            x1, y1, x2, y2 = (float(v) for v in box)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": index,
                    "category_id": int(label),
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": int(mask.sum()),
                    "segmentation": mask_to_rle(mask),
                    "iscrowd": 0,
                }
            )
    categories = [
        {"id": i, "name": name, "supercategory": "shape"} for i, name in enumerate(CLASSES) if i > 0
    ]
    return {
        "info": {"description": repr(dataset), "version": "1.0"},
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": categories,
    }


def save_coco(dataset: SyntheticShapes, path: str) -> None:
    """Write :func:`to_coco` ``(dataset)`` to ``path`` as JSON."""
    with open(path, "w") as f:
        json.dump(to_coco(dataset), f)
