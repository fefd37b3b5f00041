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
input. :class:`MaskRCNN` is :class:`~lecturelib.models.faster_rcnn.FasterRCNN` with this
branch; :func:`build_mask_rcnn` trains all of it jointly, :func:`evaluate_mask_rcnn` gives box
and mask AP; ``python -m lecturelib train | evaluate mask_rcnn``; lesson 8 shows every step.
"""
from __future__ import annotations

import time

import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from ..data import SyntheticShapes
from ..ops import roi_align
from ..ops._validate import check_tensor
from .backbone import load_pretrained
from .detector import NUM_CLASSES, mirror
from .faster_rcnn import DEFAULTS, FasterRCNN, _box_head_losses, _loss_summary, _rpn_step


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


# ---------------------------------------------------------------------------------------------
# the detector: Faster R-CNN + the mask branch
# ---------------------------------------------------------------------------------------------
MASK_DEFAULTS = dict(mask_roi_size=14, mask_channels=32, mask_sampling_ratio=2,
                     box_pooling="roi_pool")


class MaskRCNN(FasterRCNN):
    """:class:`~lecturelib.models.faster_rcnn.FasterRCNN` with a third head in parallel with
    the box head: on the same conv map, RoIAlign (``mask_roi_size``², sampling 2) of each RoI
    -> :class:`MaskHead` -> ``2 × mask_roi_size`` masks, one channel per class (channel 0, the
    background, is never trained: labels index the channels directly, as in torchvision).
    The box head is Lesson 6's, RoI pooling by default (the shipped model: its boxes compare
    one for one with Faster R-CNN's); ``box_pooling="roi_align"`` (sampling 2, not aligned)
    pools it as the paper and torchvision's Mask R-CNN do."""

    def __init__(self, num_classes: int = NUM_CLASSES, mask_roi_size: int = 14,
                 mask_channels: int = 32, mask_sampling_ratio: int = 2,
                 box_pooling: str = "roi_pool"):
        super().__init__(num_classes)
        if box_pooling not in ("roi_pool", "roi_align"):
            raise ValueError(f"box_pooling must be 'roi_pool' or 'roi_align', got {box_pooling!r}")
        self.pooling, self.aligned, self.sampling_ratio = box_pooling, False, mask_sampling_ratio
        self.mask_roi_size, self.mask_sampling_ratio = mask_roi_size, mask_sampling_ratio
        self.mask_head = MaskHead(self.backbone.out_channels, num_classes + 1, mask_channels)

    def mask_features(self, conv: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        """conv Float[N, C, h, w], rois Float[R, 5] -> RoIAlign features Float[R, C, S, S]."""
        return roi_align(conv, rois, self.mask_roi_size, 1.0 / self.backbone.stride,
                         self.mask_sampling_ratio)

    def mask_logits(self, conv: torch.Tensor, rois: torch.Tensor) -> torch.Tensor:
        """conv Float[N, C, h, w], rois Float[R, 5] -> mask logits Float[R, K + 1, M, M]."""
        return self.mask_head(self.mask_features(conv, rois))

    @torch.no_grad()
    def inspect(self, image: torch.Tensor, nms_threshold: float = 0.5, max_detections: int = 100,
                post_nms_top_n: int = 1000, score_threshold: float = 0.05) -> dict:
        """Every tensor of the mask branch for one image Float[3, H, W], for a lesson to show:
        Faster R-CNN's detections (``boxes`` Float[D, 4], ``labels``, ``scores``), the conv map
        ``conv`` Float[1, C, h, w], the RoIAlign features ``mask_features`` Float[D, C, S, S],
        the logits of all classes ``mask_logits`` Float[D, K + 1, M, M], the predicted class's
        sigmoid ``mask_28`` Float[D, M, M], and the same pasted into the image
        ``mask_probabilities`` Float[D, H, W]."""
        _check_image(image, self.backbone.stride)
        self.eval()
        conv = self.backbone.features(image[None])
        found = self.detect_conv(conv, image.shape[-2:], nms_threshold, max_detections,
                                 post_nms_top_n, score_threshold)
        rois = torch.cat([torch.zeros(len(found["boxes"]), 1), found["boxes"]], dim=1)
        features = self.mask_features(conv, rois)
        logits = self.mask_head(features)
        probabilities, = maskrcnn_inference(logits, [found["labels"]])
        pasted = paste_masks_in_image(probabilities, found["boxes"], tuple(image.shape[-2:]))[:, 0]
        return {**found, "conv": conv, "mask_features": features, "mask_logits": logits,
                "mask_28": probabilities[:, 0], "mask_probabilities": pasted}

    @torch.no_grad()
    def detect(self, image: torch.Tensor, proposals=None, nms_threshold: float = 0.5,
               max_detections: int = 100, post_nms_top_n: int = 1000,
               score_threshold: float = 0.05, mask_threshold: float = 0.5) -> dict:
        """Faster R-CNN's detections plus ``"masks"`` UInt8[D, H, W] (the pasted probabilities
        ≥ ``mask_threshold``) and ``"mask_probabilities"`` Float[D, H, W]; no detection gives
        empty masks of shape [0, H, W]."""
        if isinstance(mask_threshold, bool) or not isinstance(mask_threshold, (int, float)) \
                or not 0 <= mask_threshold <= 1:
            raise ValueError(f"mask_threshold must be a number in [0, 1], got {mask_threshold!r}")
        found = self.inspect(image, nms_threshold, max_detections, post_nms_top_n,
                             score_threshold)
        pasted = found["mask_probabilities"]
        return {**{k: found[k] for k in ("boxes", "labels", "scores")},
                "mask_probabilities": pasted, "masks": (pasted >= mask_threshold).to(torch.uint8)}


def _check_image(image, smallest: int) -> None:
    check_tensor(image, "image")
    if image.ndim != 3 or image.shape[0] != 3 or not image.is_floating_point():
        raise ValueError(f"image must be Float[3, H, W] (one RGB image in [0, 1]), got "
                         f"{image.dtype} {tuple(image.shape)}")
    if min(image.shape[-2:]) < smallest:
        raise ValueError(f"image must be at least {smallest} × {smallest} pixels (one cell of "
                         f"the conv map), got {tuple(image.shape)}")


def _batch_with_masks(data, config, g):
    images, targets = [], []
    for i in torch.randint(len(data), (config["images_per_batch"],), generator=g).tolist():
        image, target = data[i]
        boxes, masks = target["boxes"], target["masks"]
        if bool(torch.rand(1, generator=g) < 0.5):
            image, boxes = mirror(image, boxes)
            masks = masks.flip(-1)
        images.append(image)
        targets.append({"boxes": boxes, "labels": target["labels"], "masks": masks})
    return torch.stack(images), targets


def build_mask_rcnn(seed: int = 0, progress: bool = True, **overrides) -> tuple[MaskRCNN, dict]:
    """Train Mask R-CNN from the pre-trained backbone by approximate joint training: the RPN's
    two losses, the box head's two and the mask loss, added, every step (the Faster R-CNN
    recipe of :func:`~lecturelib.models.faster_rcnn.build_faster_rcnn`, same defaults). The
    mask loss is taken on the box head's positive RoIs, each matched to its best ground truth.
    Returns the model and a summary (``python -m lecturelib train mask_rcnn`` stores it)."""
    known = {**DEFAULTS, **MASK_DEFAULTS}
    unknown = set(overrides) - set(known)
    if unknown:
        raise ValueError(f"unknown training options {sorted(unknown)}; known: {sorted(known)}")
    config = {**known, **overrides}
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    data = SyntheticShapes("train", num_images=config["train_images"])
    size = (data.image_size, data.image_size)
    model = MaskRCNN(mask_roi_size=config["mask_roi_size"], mask_channels=config["mask_channels"],
                     mask_sampling_ratio=config["mask_sampling_ratio"],
                     box_pooling=config["box_pooling"])
    load_pretrained(model.backbone)
    optimizer = torch.optim.Adam(model.parameters(), lr=config["lr"])
    schedule = torch.optim.lr_scheduler.MultiStepLR(
        optimizer, [int(config["steps"] * config["lr_drop"])], gamma=0.1)
    model.train()
    history, mask_history = [], []
    bar = tqdm(range(config["steps"]), desc="Mask R-CNN, joint", disable=not progress)
    for _ in bar:
        images, targets = _batch_with_masks(data, config, g)
        conv = model.backbone.features(images)
        rpn_losses, proposals = _rpn_step(model, conv, size, targets, config, g)
        positives = []
        classification, box = _box_head_losses(model, conv, proposals, targets, config, g,
                                               positives)
        mask_rois = torch.cat([torch.cat([torch.full((len(p), 1), float(s)), p], 1)
                               for s, p, _ in positives])
        mask_loss = maskrcnn_loss(model.mask_logits(conv, mask_rois), [p for _, p, _ in positives],
                                  [t["masks"] for t in targets], [t["labels"] for t in targets],
                                  [m for _, _, m in positives])
        loss = sum(rpn_losses) + classification + box + mask_loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        history.append(loss.item())
        mask_history.append(mask_loss.item())
        bar.set_postfix(loss=f"{loss.item():.3f}", mask=f"{mask_loss.item():.3f}")
    model.eval()
    summary = {"config": config, "steps": {"joint": _loss_summary(history),
                                           "mask": _loss_summary(mask_history)},
               "seconds": time.perf_counter() - start}
    return model, summary


def load_mask_rcnn() -> MaskRCNN:
    """The shipped Mask R-CNN, hash verified, built with the options it was trained with."""
    from ..checkpoints import load_checkpoint
    checkpoint = load_checkpoint("mask_rcnn")
    config = checkpoint["meta"].get("config", {})
    model = MaskRCNN(**{k: config.get(k, v) for k, v in MASK_DEFAULTS.items()})
    model.load_state_dict(checkpoint["state_dict"])
    return model.eval()


def evaluate_mask_rcnn(model: MaskRCNN, split: str = "test", num_images: int | None = None,
                       progress: bool = True) -> dict:
    """Box metrics (``AP``, ``AP50``, ...) and mask metrics (``mask_AP``, ``mask_AP50``, ...,
    COCO's ``segm`` IoU on the pasted, thresholded masks) on a split, with the seconds per
    image (proposals, boxes and masks)."""
    from ..metrics import coco_evaluate
    data = SyntheticShapes(split, num_images=num_images)
    predictions, targets, seconds = [], [], 0.0
    for i in tqdm(range(len(data)), desc=f"Mask R-CNN on {split}", disable=not progress):
        image, target = data[i]
        begin = time.perf_counter()
        predictions.append(model.detect(image))
        seconds += time.perf_counter() - begin
        targets.append(target)
    boxes = coco_evaluate(predictions, targets)
    masks = coco_evaluate(predictions, targets, iou_type="segm")
    return {**boxes, **{f"mask_{k}": v for k, v in masks.items()}, "split": split,
            "images": len(data), "seconds_per_image": seconds / len(data)}
