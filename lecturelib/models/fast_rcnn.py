"""Fast R-CNN (Girshick, 2015) in miniature: one CNN pass per image, RoI pooling, two heads.

    image Float[3, 128, 128]
      backbone.features                 -> conv map Float[64, 32, 32]   (stride 4, computed once)
      roi_pool(proposals, 4 × 4, 1/4)   -> Float[P, 64, 4, 4]           (replaces the last max-pool)
      backbone.fc6, fc7                 -> Float[P, 256]
      cls_score                         -> K + 1 class scores (softmax)
      bbox_pred                         -> 4K class-specific deltas (weights 10, 10, 5, 5)

Training samples a few images × many RoIs: 25 % foreground (IoU >= 0.5 with an object), the
rest background (IoU in [0.1, 0.5)), and minimises cross-entropy + smooth L1 on the deltas of
the true class — one network, one loss, where R-CNN trained three models.
"""
from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from ..data import SyntheticShapes
from ..matching import BETWEEN_THRESHOLDS, match_proposals, sample_balanced
from ..ops import box_iou, decode_boxes, encode_boxes, roi_align, roi_pool
from .backbone import Backbone, load_pretrained
from .detector import NUM_CLASSES, mirror, postprocess_detections
from .proposals import proposals_for

BOX_WEIGHTS = (10.0, 10.0, 5.0, 5.0)
POOLED = Backbone.pool5_size   # RoI pooling output: what the replaced max-pool gave a 32 × 32 crop
DEFAULTS = dict(train_images=512, steps=1000, images_per_batch=2, rois_per_image=64,
                foreground_fraction=0.25, foreground_iou=0.5, background_iou=(0.1, 0.5),
                lr=1e-3, pooling="roi_pool", aligned=False, sampling_ratio=2, feature_stride=4)
POOLINGS = ("roi_pool", "roi_align")


class FastRCNN(nn.Module):
    needs_proposals = True

    def __init__(self, num_classes: int = NUM_CLASSES, pooling: str = "roi_pool",
                 aligned: bool = False, sampling_ratio: int = 2, feature_stride: int = 4):
        """``pooling``: "roi_pool" (Fast R-CNN's) or "roi_align" (Mask R-CNN's, with
        ``aligned`` and ``sampling_ratio``); ``feature_stride``: max-pool the conv map (one
        window of stride / 4 cells) to this stride before the RoIs are pooled — 4 is the backbone's own; 8, 16 make
        the grid coarser, for lesson 7's measurement of what quantisation costs."""
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        if feature_stride not in (4, 8, 16, 32):
            raise ValueError(f"feature_stride must be 4, 8, 16 or 32, got {feature_stride!r}")
        self.num_classes = num_classes
        self.pooling, self.aligned, self.sampling_ratio = pooling, aligned, sampling_ratio
        self.feature_stride = feature_stride
        self.backbone = Backbone(num_classes=num_classes)      # its classifier stays unused
        self.cls_score = nn.Linear(self.backbone.fc7_size, num_classes + 1)
        self.bbox_pred = nn.Linear(self.backbone.fc7_size, 4 * num_classes)
        nn.init.normal_(self.bbox_pred.weight, std=0.001)
        nn.init.zeros_(self.bbox_pred.bias)

    def forward(self, images: torch.Tensor, rois: torch.Tensor, backend: str | None = None):
        """images Float[N, 3, H, W], rois Float[R, 5] (batch index, x1, y1, x2, y2) ->
        class logits Float[R, K + 1], deltas Float[R, 4K]."""
        return self.roi_heads(self.backbone.features(images), rois, backend)   # conv once

    def roi_heads(self, conv: torch.Tensor, rois: torch.Tensor, backend: str | None = None):
        """The part after the shared conv map: conv Float[N, 64, H/4, W/4], rois Float[R, 5] ->
        class logits Float[R, K + 1], deltas Float[R, 4K]."""
        factor = self.feature_stride // self.backbone.stride
        if factor > 1:
            conv = F.max_pool2d(conv, factor)
        scale = 1.0 / self.feature_stride
        if self.pooling == "roi_align":
            pooled = roi_align(conv, rois, POOLED, scale, self.sampling_ratio, self.aligned,
                               backend=backend)
        else:
            pooled = roi_pool(conv, rois, POOLED, scale, backend=backend)
        fc7 = self.backbone.fc7_features(pooled)
        return self.cls_score(fc7), self.bbox_pred(fc7)

    @torch.no_grad()
    def detect(self, image: torch.Tensor, proposals: torch.Tensor, nms_threshold: float = 0.3,
               max_detections: int = 100) -> dict:
        """Detections for one image, like :meth:`lecturelib.models.rcnn.RCNN.detect`."""
        self.eval()
        conv = self.backbone.features(image[None])
        return self.detect_on(conv, image.shape[-2:], proposals, nms_threshold, max_detections)

    @torch.no_grad()
    def detect_on(self, conv: torch.Tensor, image_size, proposals: torch.Tensor,
                  nms_threshold: float = 0.3, max_detections: int = 100,
                  score_threshold: float = 0.01, min_size: float = 0.0) -> dict:
        """Detections from one image's conv map Float[1, C, h, w] and proposals Float[P, 4]."""
        proposals = torch.as_tensor(proposals, dtype=torch.float32).reshape(-1, 4)
        rois = torch.cat([torch.zeros(len(proposals), 1), proposals], dim=1)
        logits, deltas = self.roi_heads(conv, rois)
        scores = logits.softmax(dim=1)[:, 1:]                                  # [P, K]
        boxes = decode_boxes(deltas, proposals, BOX_WEIGHTS).reshape(-1, self.num_classes, 4)
        return postprocess_detections(boxes, scores, image_size, nms_threshold, max_detections,
                                      score_threshold, min_size)


def sample_rois(proposals: torch.Tensor, gt_boxes: torch.Tensor, gt_labels: torch.Tensor,
                count: int, foreground_fraction: float, foreground_iou: float,
                background_iou: tuple[float, float], generator: torch.Generator):
    """The paper's RoI sampling for one image: up to ``foreground_fraction`` of ``count`` from
    IoU >= foreground_iou (the ground truths included), the rest, drawn with replacement, from
    IoU in background_iou (:func:`lecturelib.matching.sample_balanced`, ``"negatives"``).
    Returns boxes Float[R, 4], labels Int64[R] (0 = background) and regression targets
    Float[R, 4] (zero for background RoIs, which the loss does not regress)."""
    if background_iou[1] != foreground_iou:
        raise ValueError(f"background_iou must end where foreground_iou starts ({foreground_iou}),"
                         f" got {background_iou}")
    boxes = torch.cat([gt_boxes, proposals])
    matches = match_proposals(box_iou(gt_boxes, boxes), foreground_iou, background_iou[0])
    background = matches == BETWEEN_THRESHOLDS      # IoU in [0.1, 0.5); below 0.1 is unused
    if not background.any():   # nothing in [0.1, 0.5): fall back to anything below 0.5
        background = matches < 0
    role = torch.where(matches >= 0, 1, torch.where(background, 0, -1))
    foreground, background = sample_balanced(role, count, foreground_fraction, generator,
                                             replacement="negatives")
    chosen = torch.cat([foreground, background])
    labels = torch.cat([gt_labels[matches[foreground]], torch.zeros_like(background)])
    targets = torch.zeros(len(chosen), 4)
    if len(foreground):
        targets[:len(foreground)] = encode_boxes(gt_boxes[matches[foreground]],
                                                 boxes[foreground].clamp_min(0), BOX_WEIGHTS)
    return boxes[chosen], labels, targets


def multitask_loss(logits, deltas, labels, targets, beta: float = 1.0):
    """Cross-entropy over K + 1 classes + smooth L1 on the deltas of the true class
    (foreground RoIs only), averaged over all RoIs as in the paper. ``beta``: where smooth L1
    turns from quadratic to linear (1 in the Fast R-CNN paper, 1/9 in torchvision's
    ``fastrcnn_loss``)."""
    classification = nn.functional.cross_entropy(logits, labels)
    fg = torch.nonzero(labels > 0)[:, 0]
    chosen = deltas.reshape(len(deltas), -1, 4)[fg, labels[fg] - 1]
    regression = nn.functional.smooth_l1_loss(chosen, targets[fg], beta=beta, reduction="sum")
    return classification + regression / max(len(labels), 1), classification, regression


def build_fast_rcnn(seed: int = 0, progress: bool = True, **overrides) -> tuple[FastRCNN, dict]:
    """Train from the pre-trained backbone on cached proposals; returns the model and a
    summary (nothing written: ``python -m lecturelib train fast_rcnn`` stores it)."""
    config = {**DEFAULTS, **overrides}
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    data = SyntheticShapes("train", num_images=config["train_images"])
    proposals, _ = proposals_for(data, progress=progress)
    model = FastRCNN(pooling=config["pooling"], aligned=config["aligned"],
                     sampling_ratio=config["sampling_ratio"],
                     feature_stride=config["feature_stride"])
    load_pretrained(model.backbone)
    optimizer = torch.optim.Adam(model.parameters(), lr=config["lr"])
    model.train()
    losses = []
    for _ in tqdm(range(config["steps"]), desc="training Fast R-CNN", disable=not progress):
        images, rois, labels, targets = [], [], [], []
        for slot, i in enumerate(torch.randint(len(data), (config["images_per_batch"],),
                                               generator=g).tolist()):
            image, target = data[i]
            flip = bool(torch.rand(1, generator=g) < 0.5)
            props = torch.from_numpy(proposals[i])
            gt = target["boxes"]
            if flip:                                   # mirror image, boxes and proposals
                image, gt, props = mirror(image, gt, props)
            boxes, y, t = sample_rois(props, gt, target["labels"], config["rois_per_image"],
                                      config["foreground_fraction"], config["foreground_iou"],
                                      config["background_iou"], g)
            images.append(image)
            rois.append(torch.cat([torch.full((len(boxes), 1), float(slot)), boxes], 1))
            labels.append(y)
            targets.append(t)
        logits, deltas = model(torch.stack(images), torch.cat(rois))
        loss, _, _ = multitask_loss(logits, deltas, torch.cat(labels), torch.cat(targets))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    model.eval()
    window = max(1, len(losses) // 5)      # mean loss of the first and the last fifth
    summary = {"config": config, "first_loss": float(np.mean(losses[:window])),
               "last_loss": float(np.mean(losses[-window:])), "seconds": time.perf_counter() - start}
    return model, summary


def load_fast_rcnn() -> FastRCNN:
    """The shipped Fast R-CNN, hash verified."""
    from ..checkpoints import load_weights
    return load_weights("fast_rcnn", FastRCNN())
