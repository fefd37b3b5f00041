"""R-CNN's warp: cut each region out of the image and stretch it to a fixed square.

The CNN takes a fixed input size, so every proposal — whatever its shape — is resampled
(bilinearly) to ``size × size``. R-CNN first enlarges the box so that the warped crop keeps
``context`` pixels of surroundings on each side (the paper: 16 at 227 × 227).
"""
from __future__ import annotations

import torch
from torchvision.ops import roi_align


def add_context(boxes: torch.Tensor, size: int, context: int) -> torch.Tensor:
    """Enlarge boxes Float[K, 4] about their centres so that, once warped to ``size``, the
    original box spans ``size - 2 * context`` pixels."""
    if not 0 <= 2 * context < size:
        raise ValueError(f"context must be in [0, size / 2), got {context} for size {size}")
    scale = size / (size - 2 * context)
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    half = (boxes[:, 2:] - boxes[:, :2]) / 2 * scale
    return torch.cat([centre - half, centre + half], dim=1)


def warp_regions(images: torch.Tensor, boxes, size: int = 32, context: int = 4) -> torch.Tensor:
    """Float[N, 3, H, W] (or [3, H, W]) and boxes (Tensor[K, 4] for one image, a list of them,
    or RoIs Tensor[K, 5]) -> warped crops Float[K, 3, size, size]. Outside the image is 0."""
    if images.ndim == 3:
        images = images[None]
    if isinstance(boxes, torch.Tensor) and boxes.ndim == 2 and boxes.shape[1] == 4:
        boxes = [boxes]
    if isinstance(boxes, (list, tuple)):
        boxes = torch.cat([torch.cat([torch.full((len(b), 1), float(i)), b.float()], 1)
                           for i, b in enumerate(boxes)]) if boxes else torch.zeros(0, 5)
    rois = torch.cat([boxes[:, :1], add_context(boxes[:, 1:], size, context)], dim=1)
    return roi_align(images, rois.to(images.dtype), output_size=size, spatial_scale=1.0,
                     sampling_ratio=2, aligned=True)
