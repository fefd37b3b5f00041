"""Mask R-CNN's mask branch (He, Gkioxari, Dollár, Girshick, 2017): a small FCN on RoIAlign
features that predicts, for every positive RoI, one M × M mask per class.

    conv map Float[N, C, h, w]
      roi_align(positives, M/2 × M/2, sampling 2)  -> Float[R, C, M/2, M/2]
      MaskHead: 4 × (3 × 3 conv + ReLU), 2 × 2 stride-2 transposed conv + ReLU, 1 × 1 conv
                                                   -> mask logits Float[R, K, M, M]
      training:  maskrcnn_loss — per-pixel sigmoid BCE on the ground-truth class's channel
                 only (decoupled: the classes do not compete), targets cut from the
                 ground-truth masks by RoIAlign (project_masks_on_boxes: soft, in [0, 1])
      inference: maskrcnn_inference — the predicted class's channel, sigmoid;
                 paste_masks_in_image — resized into each box of the image (threshold: 0.5,
                 the caller's)

The three functions have torchvision's ``roi_heads`` signatures and values (tests compare
them), with the package's own ``roi_align`` and a ``ValueError`` naming the argument for bad
input. The detector that trains this branch (lesson 8) builds on
:class:`~lecturelib.models.faster_rcnn.FasterRCNN`.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..ops import roi_align
from ..ops._validate import check_tensor


class MaskHead(nn.Module):
    """RoIAlign features Float[R, C, S, S] -> mask logits Float[R, K, 2S, 2S]: ``convs`` × (3 × 3
    conv + ReLU) at ``channels``, a 2 × 2 stride-2 transposed conv + ReLU, a 1 × 1 conv to one
    channel per class (torchvision's MaskRCNNHeads + MaskRCNNPredictor, smaller)."""

    def __init__(self, in_channels: int, num_classes: int, channels: int = 64, convs: int = 4):
        super().__init__()
        layers = []
        for k in range(convs):
            layers += [nn.Conv2d(in_channels if k == 0 else channels, channels, 3, padding=1),
                       nn.ReLU(inplace=True)]
        self.fcn = nn.Sequential(*layers)
        self.deconv = nn.ConvTranspose2d(channels, channels, 2, stride=2)
        self.mask_logits = nn.Conv2d(channels, num_classes, 1)
        for layer in (*[m for m in self.fcn if isinstance(m, nn.Conv2d)], self.deconv,
                      self.mask_logits):          # torchvision's init: Kaiming normal, zero bias
            nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(layer.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.mask_logits(torch.relu(self.deconv(self.fcn(features))))


def _check_masks(masks, name: str, ndim: int = 3) -> torch.Tensor:
    check_tensor(masks, name)
    if masks.ndim != ndim:
        shape = "[G, H, W]" if ndim == 3 else "[N, 1, M, M]"
        raise ValueError(f"{name} must have shape {shape}, got {tuple(masks.shape)}")
    if masks.is_floating_point() and masks.numel() and not bool(torch.isfinite(masks).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return masks


def _check_boxes(boxes, name: str = "boxes") -> torch.Tensor:
    check_tensor(boxes, name)
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f"{name} must have shape [R, 4] (x1, y1, x2, y2), got "
                         f"{tuple(boxes.shape)}")
    if boxes.numel() and not bool(torch.isfinite(boxes).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return boxes


def project_masks_on_boxes(gt_masks: torch.Tensor, boxes: torch.Tensor,
                           matched_idxs: torch.Tensor, M: int) -> torch.Tensor:
    """The mask targets of one image's RoIs: each RoI's matched ground-truth mask, cut by
    RoIAlign to M × M (spatial scale 1, adaptive sampling, not aligned — torchvision's): soft
    values in [0, 1] where the mask's edge crosses a bin.

    gt_masks UInt8/bool/Float[G, H, W], boxes Float[R, 4], matched_idxs Int64[R] (which mask
    each RoI matched) -> Float[R, M, M]."""
    _check_masks(gt_masks, "gt_masks")
    _check_boxes(boxes)
    check_tensor(matched_idxs, "matched_idxs")
    if matched_idxs.shape != (len(boxes),):
        raise ValueError(f"matched_idxs must be Int64[{len(boxes)}] (one per box), got shape "
                         f"{tuple(matched_idxs.shape)}")
    if len(boxes) and (matched_idxs.is_floating_point() or int(matched_idxs.min()) < 0
                       or int(matched_idxs.max()) >= len(gt_masks)):
        raise ValueError(f"matched_idxs must be integers in [0, {len(gt_masks)}) (indices of "
                         f"gt_masks), got {matched_idxs.tolist()[:8]}")
    if isinstance(M, bool) or not isinstance(M, int) or M <= 0:
        raise ValueError(f"M must be a positive int, got {M!r}")
    rois = torch.cat([matched_idxs.to(boxes)[:, None], boxes], dim=1)
    return roi_align(gt_masks[:, None].to(rois), rois, (M, M), 1.0)[:, 0]


def maskrcnn_loss(mask_logits: torch.Tensor, proposals, gt_masks, gt_labels,
                  mask_matched_idxs) -> torch.Tensor:
    """The decoupled mask loss: binary cross-entropy, per pixel, between the ground-truth
    class's channel of each positive RoI and its target (:func:`project_masks_on_boxes`),
    averaged over all pixels of all RoIs. The other K − 1 channels get no gradient: classes do
    not compete for a pixel (a softmax over classes would make them).

    mask_logits Float[R, K, M, M]; per image: proposals Float[R_i, 4], gt_masks [G_i, H, W],
    gt_labels Int64[G_i] (1..K), mask_matched_idxs Int64[R_i]. Returns a scalar (0 with a
    gradient when there is no positive)."""
    check_tensor(mask_logits, "mask_logits")
    if mask_logits.ndim != 4 or mask_logits.shape[-1] != mask_logits.shape[-2]:
        raise ValueError(f"mask_logits must be Float[R, K, M, M], got {tuple(mask_logits.shape)}")
    lengths = {len(proposals), len(gt_masks), len(gt_labels), len(mask_matched_idxs)}
    if len(lengths) != 1:
        raise ValueError("proposals, gt_masks, gt_labels and mask_matched_idxs must hold one "
                         f"entry per image, got lengths {len(proposals)}, {len(gt_masks)}, "
                         f"{len(gt_labels)}, {len(mask_matched_idxs)}")
    size = mask_logits.shape[-1]
    labels = torch.cat([lab[idx] for lab, idx in zip(gt_labels, mask_matched_idxs)]) \
        if len(gt_labels) else torch.zeros(0, dtype=torch.int64)
    targets = [project_masks_on_boxes(m, p, i, size)
               for m, p, i in zip(gt_masks, proposals, mask_matched_idxs)]
    if len(labels) != len(mask_logits):
        raise ValueError(f"mask_logits has {len(mask_logits)} RoIs but the images' proposals "
                         f"hold {len(labels)}")
    if len(labels) == 0:
        return mask_logits.sum() * 0
    if int(labels.min()) < 0 or int(labels.max()) >= mask_logits.shape[1]:
        raise ValueError(f"gt_labels must be in [0, {mask_logits.shape[1]}) (a channel of "
                         f"mask_logits), got {sorted(set(labels.tolist()))}")
    chosen = mask_logits[torch.arange(len(labels), device=labels.device), labels]
    return F.binary_cross_entropy_with_logits(chosen, torch.cat(targets))


def maskrcnn_inference(mask_logits: torch.Tensor, labels) -> list[torch.Tensor]:
    """Mask logits Float[R, K, M, M] and each image's predicted labels Int64[R_i] -> per image
    Float[R_i, 1, M, M]: the sigmoid of the predicted class's channel."""
    check_tensor(mask_logits, "mask_logits")
    counts = [len(lab) for lab in labels]
    if mask_logits.ndim != 4 or sum(counts) != len(mask_logits):
        raise ValueError(f"mask_logits must be Float[{sum(counts)}, K, M, M] for these labels, "
                         f"got {tuple(mask_logits.shape)}")
    flat = torch.cat(list(labels)) if counts else torch.zeros(0, dtype=torch.int64)
    probabilities = mask_logits.sigmoid()[torch.arange(len(flat)), flat][:, None]
    return list(probabilities.split(counts, dim=0))


def paste_masks_in_image(masks: torch.Tensor, boxes: torch.Tensor, img_shape,
                         padding: int = 1) -> torch.Tensor:
    """Each M × M mask resized into its box of an image of ``img_shape`` (height, width):
    Float[N, 1, M, M], Float[N, 4] -> Float[N, 1, H, W], torchvision's arithmetic — pad the mask
    by ``padding`` (so its border can fade out), grow the box by the same factor, truncate the
    box to whole pixels, resize bilinearly (align_corners=False) to (h + 1, w + 1), paste,
    clipped to the image. Thresholding (0.5) is the caller's."""
    _check_masks(masks, "masks", ndim=4)
    _check_boxes(boxes)
    if len(masks) != len(boxes) or (len(masks) and masks.shape[1] != 1):
        raise ValueError(f"masks must be Float[{len(boxes)}, 1, M, M] (one per box), got "
                         f"{tuple(masks.shape)}")
    try:
        height, width = (int(v) for v in img_shape)
    except (TypeError, ValueError):
        raise ValueError(f"img_shape must be (height, width), got {img_shape!r}") from None
    if height <= 0 or width <= 0:
        raise ValueError(f"img_shape must be positive, got {img_shape!r}")
    if isinstance(padding, bool) or not isinstance(padding, int) or padding < 0:
        raise ValueError(f"padding must be a non-negative int, got {padding!r}")
    size = masks.shape[-1]
    scale = float(size + 2 * padding) / size
    padded = F.pad(masks, (padding,) * 4)
    half_w = (boxes[:, 2] - boxes[:, 0]) * 0.5 * scale
    half_h = (boxes[:, 3] - boxes[:, 1]) * 0.5 * scale
    cx, cy = (boxes[:, 2] + boxes[:, 0]) * 0.5, (boxes[:, 3] + boxes[:, 1]) * 0.5
    grown = torch.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], dim=1)
    grown = grown.to(torch.int64)                           # truncation, as torchvision
    out = masks.new_zeros((len(masks), 1, height, width))
    for k, (mask, (x1, y1, x2, y2)) in enumerate(zip(padded, grown.tolist())):
        w, h = max(x2 - x1 + 1, 1), max(y2 - y1 + 1, 1)
        resized = F.interpolate(mask[None], size=(h, w), mode="bilinear",
                                align_corners=False)[0, 0]
        xa, xb, ya, yb = max(x1, 0), min(x2 + 1, width), max(y1, 0), min(y2 + 1, height)
        if xb > xa and yb > ya:
            out[k, 0, ya:yb, xa:xb] = resized[ya - y1:yb - y1, xa - x1:xb - x1]
    return out
