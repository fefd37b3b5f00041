"""Data without downloads: synthetic detection/segmentation scenes and bundled photos.

- :func:`make_scene` / :class:`SyntheticShapes`: circles, squares and triangles with boxes and
  occlusion-corrected instance masks, deterministic from a seed (``scenes.py``, ``dataset.py``).
- :func:`to_coco` / :func:`save_coco`: the same annotations as COCO JSON.
- :func:`load_photo`: the photos shipped in the scikit-image and scikit-learn wheels;
  :func:`photo_boxes`: objects boxed by hand in six of them.
"""
from .dataset import SyntheticShapes, collate_fn, mask_to_rle, save_coco, to_coco
from .photos import PHOTO_BOXES, PHOTOS, load_photo, photo_boxes, photo_path
from .scenes import CLASSES, SPLITS, make_scene, scene_seed

__all__ = [
    "CLASSES",
    "PHOTOS",
    "PHOTO_BOXES",
    "SPLITS",
    "SyntheticShapes",
    "collate_fn",
    "load_photo",
    "make_scene",
    "mask_to_rle",
    "photo_boxes",
    "photo_path",
    "save_coco",
    "scene_seed",
    "to_coco",
]
