"""The Region Proposal Network (Faster R-CNN, Ren et al. 2015), for one feature level.

A small network slides over the shared conv map: a 3 × 3 conv + ReLU at every cell, then two
sibling 1 × 1 convs give, for each of the A anchors of the cell, an *objectness* logit (object
or not) and 4 box deltas (how to move the anchor onto the object)::

    conv map Float[N, C, H, W]
      RPNHead        -> objectness Float[N, A, H, W], deltas Float[N, 4A, H, W]
      flatten        -> Float[N, H*W*A], Float[N, H*W*A, 4]   (the order of make_anchors)
      decode         -> boxes: anchors moved by the deltas (BoxCoder weights 1, 1, 1, 1)
      filter_proposals (per image) -> top-n by logit, sigmoid, clip, drop tiny, NMS 0.7, keep n

Training labels each anchor by IoU with the objects (:func:`label_anchors`: >= 0.7 positive,
< 0.3 negative, in between ignored, and every object's best anchors positive even below 0.7),
samples 256 per image, half positive where there are enough (:func:`lecturelib.matching.
sample_balanced`), and minimises :func:`rpn_loss`: binary cross-entropy on the sampled
objectness + smooth L1 (beta 1/9) on the positives' deltas ÷ the number sampled.

Everything is torchvision's ``RPNHead`` / ``RegionProposalNetwork`` on one level (the tests load
our weights into theirs and compare), except one option from the paper: anchors that cross the
image boundary can be left out of training (``ignore_cross_boundary``; torchvision keeps them).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from ..matching import IGNORED, match_proposals, matched_labels, sample_balanced
from ..ops import box_iou, clip_boxes_to_image, encode_boxes
from ..ops._validate import check_boxes, check_tensor, check_threshold
from ..ops.backends import implementation
from ..ops.box_coder import BBOX_XFORM_CLIP

RPN_WEIGHTS = (1.0, 1.0, 1.0, 1.0)   # BoxCoder weights of the RPN (the box head uses 10, 10, 5, 5)


class RPNHead(nn.Module):
    """3 × 3 conv + ReLU, then 1 × 1 convs to A objectness logits and 4A deltas per cell."""

    def __init__(self, in_channels: int, num_anchors: int):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, in_channels, 3, padding=1)
        self.cls_logits = nn.Conv2d(in_channels, num_anchors, 1)
        self.bbox_pred = nn.Conv2d(in_channels, 4 * num_anchors, 1)
        for layer in (self.conv, self.cls_logits, self.bbox_pred):   # torchvision's init
            nn.init.normal_(layer.weight, std=0.01)
            nn.init.zeros_(layer.bias)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Float[N, C, H, W] -> objectness Float[N, A, H, W], deltas Float[N, 4A, H, W]."""
        hidden = torch.relu(self.conv(features))
        return self.cls_logits(hidden), self.bbox_pred(hidden)


def flatten_predictions(objectness: torch.Tensor, deltas: torch.Tensor):
    """The head's maps in anchor order (cells row-major, then the A anchors of a cell):
    Float[N, A, H, W], Float[N, 4A, H, W] -> Float[N, H*W*A], Float[N, H*W*A, 4]."""
    n, a, h, w = objectness.shape
    objectness = objectness.permute(0, 2, 3, 1).reshape(n, -1)
    deltas = deltas.view(n, a, 4, h, w).permute(0, 3, 4, 1, 2).reshape(n, -1, 4)
    return objectness, deltas


def label_anchors(anchors: torch.Tensor, gt_boxes: torch.Tensor, high_threshold: float = 0.7,
                  low_threshold: float = 0.3, allow_low_quality_matches: bool = True,
                  image_size=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Training labels of one image's anchors: Int64[A] with 1 positive, 0 negative, -1 ignored,
    and the matched object of each anchor Float[A, 4] (object 0 where unmatched).

    torchvision's ``assign_targets_to_anchors``: ``Matcher(0.7, 0.3, allow_low_quality_matches
    =True)`` — IoU >= 0.7 positive, < 0.3 negative, and each object's best anchors (ties
    included) positive whatever their IoU. ``image_size`` ``(height, width)``: anchors that
    cross the image's border are ignored (the paper's rule). No objects: every anchor negative.
    """
    check_boxes(anchors, "anchors", floating=True)
    check_boxes(gt_boxes, "gt_boxes", floating=True)
    matches = match_proposals(box_iou(gt_boxes, anchors), high_threshold, low_threshold,
                              allow_low_quality_matches)
    labels = matched_labels(matches, torch.ones(len(gt_boxes), dtype=torch.int64,
                                                device=anchors.device))
    if image_size is not None:
        height, width = image_size
        inside = (anchors[:, 0] >= 0) & (anchors[:, 1] >= 0) & (anchors[:, 2] <= width) & \
            (anchors[:, 3] <= height)
        labels = torch.where(inside, labels, IGNORED)
    matched = gt_boxes[matches.clamp(min=0)] if len(gt_boxes) else torch.zeros_like(anchors)
    return labels, matched


def rpn_loss(objectness: torch.Tensor, deltas: torch.Tensor, anchors: torch.Tensor,
             labels: torch.Tensor, matched_boxes: torch.Tensor, batch_size: int = 256,
             positive_fraction: float = 0.5, generator: torch.Generator | None = None
             ) -> tuple[torch.Tensor, torch.Tensor]:
    """The RPN's two losses over a batch of images (torchvision's ``compute_loss``).

    ``objectness`` Float[N, A], ``deltas`` Float[N, A, 4], ``anchors`` Float[A, 4] (the same for
    every image), ``labels`` Int64[N, A] and ``matched_boxes`` Float[N, A, 4] from
    :func:`label_anchors`. Per image, ``batch_size`` anchors are sampled, up to
    ``positive_fraction`` positive. Returns ``(objectness_loss, box_loss)``: BCE-with-logits
    averaged over the sampled anchors; smooth L1 (beta 1/9) summed over the sampled positives'
    deltas and divided by the number of sampled anchors.
    """
    positive, negative = [], []
    for i in range(len(labels)):
        pos, neg = sample_balanced(labels[i], batch_size, positive_fraction, generator)
        positive.append(pos + i * labels.shape[1])
        negative.append(neg + i * labels.shape[1])
    positive, negative = torch.cat(positive), torch.cat(negative)
    sampled = torch.cat([positive, negative])
    flat_anchors = anchors.repeat(len(labels), 1)
    targets = encode_boxes(matched_boxes.reshape(-1, 4)[positive], flat_anchors[positive],
                           RPN_WEIGHTS)
    box_loss = nn.functional.smooth_l1_loss(deltas.reshape(-1, 4)[positive], targets,
                                            beta=1 / 9, reduction="sum") / max(sampled.numel(), 1)
    objectness_loss = nn.functional.binary_cross_entropy_with_logits(
        objectness.reshape(-1)[sampled], labels.reshape(-1)[sampled].to(objectness.dtype))
    return objectness_loss, box_loss


def _check_top_n(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def filter_proposals(boxes: torch.Tensor, objectness: torch.Tensor, image_size,
                     pre_nms_top_n: int, post_nms_top_n: int, nms_threshold: float = 0.7,
                     min_size: float = 1e-3, score_threshold: float = 0.0
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """One image's proposals from its decoded anchors: Float[A, 4] boxes and Float[A] logits ->
    (boxes Float[P, 4], scores Float[P] in (0, 1)), best first.

    torchvision's ``RegionProposalNetwork.filter_proposals`` on one level: the ``pre_nms_top_n``
    highest logits, sigmoid, clip to ``image_size`` ``(height, width)``, drop boxes narrower or
    lower than ``min_size``, keep scores >= ``score_threshold``, NMS at ``nms_threshold``, keep
    the first ``post_nms_top_n``.
    """
    check_boxes(boxes, "boxes", floating=True)
    if objectness.ndim != 1 or objectness.shape[0] != boxes.shape[0]:
        raise ValueError(f"objectness must be Float[{boxes.shape[0]}] (one logit per box), got "
                         f"shape {tuple(objectness.shape)}")
    if objectness.numel() and not bool(torch.isfinite(objectness).all()):
        raise ValueError("objectness contains NaN or infinite logits")
    pre_nms_top_n = _check_top_n(pre_nms_top_n, "pre_nms_top_n")
    post_nms_top_n = _check_top_n(post_nms_top_n, "post_nms_top_n")
    nms_threshold = check_threshold(nms_threshold, "nms_threshold")
    score_threshold = check_threshold(score_threshold, "score_threshold")
    if not (isinstance(min_size, (int, float)) and math.isfinite(min_size) and min_size >= 0):
        raise ValueError(f"min_size must be a non-negative number, got {min_size!r}")
    return _filter(boxes, objectness, image_size, pre_nms_top_n, post_nms_top_n, nms_threshold,
                   min_size, score_threshold)


def _filter(boxes, objectness, image_size, pre_nms_top_n, post_nms_top_n, nms_threshold,
            min_size, score_threshold):
    """:func:`filter_proposals` on checked arguments (the RPN calls it for every image, so the
    checks are not repeated step by step)."""
    objectness = objectness.detach()
    top = objectness.topk(min(pre_nms_top_n, len(objectness))).indices
    return _after_top_n(boxes.detach()[top], objectness[top], image_size, post_nms_top_n,
                        nms_threshold, min_size, score_threshold)


def _after_top_n(boxes, logits, image_size, post_nms_top_n, nms_threshold, min_size,
                 score_threshold):
    """The stages after the top-n, on the top-n boxes and logits, best first."""
    boxes = clip_boxes_to_image(boxes, tuple(image_size))
    scores = torch.sigmoid(logits)
    width, height = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    keep = (width >= min_size) & (height >= min_size) & (scores >= score_threshold)
    boxes, scores = boxes[keep], scores[keep]
    if len(boxes) == 0:
        return boxes, scores
    keep = implementation("nms", None, boxes, scores)(boxes, scores, nms_threshold)
    keep = keep[:post_nms_top_n]
    return boxes[keep], scores[keep]


def propose_one(objectness: torch.Tensor, deltas: torch.Tensor, anchors: torch.Tensor,
                image_size, pre_nms_top_n: int = 1000, post_nms_top_n: int = 1000,
                nms_threshold: float = 0.7, min_size: float = 1e-3,
                score_threshold: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """One image's proposals straight from the head: logits Float[A], deltas Float[A, 4] and
    anchors Float[A, 4] -> (boxes Float[P, 4], scores Float[P]), best first.

    The same boxes and scores as ``filter_proposals(decode_proposals(deltas[None], anchors)[0],
    objectness, ...)`` (a test compares them), in less time: decoding is one box at a time, so
    only the ``pre_nms_top_n`` anchors that survive the top-n are decoded (1000 of 12288 here),
    and the inputs are checked once, not by each stage.
    """
    if objectness.ndim != 1 or deltas.shape != (len(objectness), 4) or \
            anchors.shape != deltas.shape:
        raise ValueError(f"propose_one needs objectness Float[A], deltas and anchors Float[A, 4]; "
                         f"got {tuple(objectness.shape)}, {tuple(deltas.shape)} and "
                         f"{tuple(anchors.shape)}")
    pre_nms_top_n = _check_top_n(pre_nms_top_n, "pre_nms_top_n")
    post_nms_top_n = _check_top_n(post_nms_top_n, "post_nms_top_n")
    nms_threshold = check_threshold(nms_threshold, "nms_threshold")
    objectness, deltas = objectness.detach(), deltas.detach()
    if not bool(torch.isfinite(objectness).all()):
        raise ValueError("the RPN's objectness contains NaN or infinite logits (did training "
                         "diverge?)")
    top = objectness.topk(min(pre_nms_top_n, len(objectness))).indices
    chosen = deltas[top]                    # only the chosen anchors' deltas reach the output
    if not bool(torch.isfinite(chosen).all()):
        raise ValueError("the RPN's deltas contain NaN or infinite values (did training diverge?)")
    decode = implementation("decode_boxes", None, deltas)
    boxes = decode(chosen, anchors[top], RPN_WEIGHTS, BBOX_XFORM_CLIP)
    return _after_top_n(boxes, objectness[top], image_size, post_nms_top_n, nms_threshold,
                        min_size, score_threshold)


def decode_proposals(deltas: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """Float[N, A, 4] deltas (detached: Faster R-CNN does not train through the proposals'
    coordinates) applied to the anchors Float[A, 4] -> boxes Float[N, A, 4]."""
    check_tensor(deltas, "deltas")
    if deltas.ndim != 3 or deltas.shape[1:] != anchors.shape:
        raise ValueError(f"deltas must be Float[N, {anchors.shape[0]}, 4] for these anchors, got "
                         f"shape {tuple(deltas.shape)}")
    if not bool(torch.isfinite(deltas).all()):
        raise ValueError("deltas contains NaN or infinite values (did training diverge?)")
    n = deltas.shape[0]
    decode = implementation("decode_boxes", None, deltas)
    flat = decode(deltas.detach().reshape(-1, 4), anchors.repeat(n, 1), RPN_WEIGHTS,
                  BBOX_XFORM_CLIP)
    return flat.reshape(n, -1, 4)
