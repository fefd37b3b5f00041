"""What every detector of the course shares after its heads: post-processing and evaluation,
and the one convention by which a model is built, stored, loaded and evaluated.

A detector is an ``nn.Module`` with ``detect(image, proposals) -> {"boxes", "scores",
"labels"}`` for one image (``proposals`` from selective search where ``needs_proposals`` is
true, ignored otherwise). Its heads give, for every region, a box and a score per class; then
:func:`postprocess_detections` does what torchvision's ``RoIHeads.postprocess_detections``
does::

    boxes Float[P, K, 4], scores Float[P, K]
      -> clip to the image -> one candidate per (region, class), labels 1..K
      -> drop boxes without area (or below min_size) and scores not above score_threshold
      -> NMS per class -> the best max_detections

:func:`evaluate_detector` runs ``detect`` over a split of the synthetic scenes and scores it
with :func:`lecturelib.metrics.coco_evaluate`. :class:`Recipe` is what the command line
(``python -m lecturelib train | evaluate NAME``) needs of a model.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn
from tqdm.auto import tqdm

from ..data import CLASSES
from ..ops import batched_nms, clip_boxes_to_image
from .backbone import Backbone

NUM_CLASSES = len(CLASSES) - 1   # K object classes in the scenes; detectors add the background


def postprocess_detections(boxes: torch.Tensor, scores: torch.Tensor, image_size,
                           nms_threshold: float, max_detections: int = 100,
                           score_threshold: float | None = None, min_size: float = 0.0) -> dict:
    """Per-class boxes Float[P, K, 4] and scores Float[P, K] of P regions -> detections
    ``{"boxes": Float[D, 4], "scores": Float[D], "labels": Int64[D] (1..K)}``, best first.

    ``image_size`` is ``(height, width)``. A box is kept if its width and height are positive
    and at least ``min_size``, and its score is above ``score_threshold`` (``None``: any score,
    as for SVM margins).
    """
    regions, classes = scores.shape
    boxes = clip_boxes_to_image(boxes, tuple(image_size)).reshape(-1, 4)
    scores = scores.reshape(-1)
    labels = torch.arange(1, classes + 1, device=scores.device).repeat(regions)
    width, height = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    keep = (width > 0) & (height > 0) & (width >= min_size) & (height >= min_size)
    if score_threshold is not None:
        keep &= scores > score_threshold
    boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
    keep = batched_nms(boxes, scores, labels, nms_threshold)[:max_detections]
    return {"boxes": boxes[keep], "scores": scores[keep], "labels": labels[keep]}


def mirror(image: torch.Tensor, *box_sets: torch.Tensor):
    """Training's augmentation: the image Float[3, H, W] flipped left-right, and each set of
    boxes Float[B, 4] with it. Returns ``(image, *boxes)``."""
    width = image.shape[-1]
    return (image.flip(-1), *(torch.stack([width - b[:, 2], b[:, 1], width - b[:, 0], b[:, 3]], 1)
                              for b in box_sets))


def evaluate_detector(model: nn.Module, split: str = "test", num_images: int | None = None,
                      progress: bool = True, **detect_options) -> dict:
    """COCO metrics of ``model.detect`` on a split, with the seconds per image of detection
    (and of the proposals, separately, as the papers report them) and the images the backbone
    saw per image: one for a shared conv map, one per region for R-CNN."""
    from ..data import SyntheticShapes
    from ..metrics import coco_evaluate
    from .proposals import proposals_for
    data = SyntheticShapes(split, num_images=num_images)
    report = {}
    proposals = None
    if model.needs_proposals:
        proposals, report["proposal_seconds_per_image"] = proposals_for(data, progress=progress)
    backbone = next(m for m in model.modules() if isinstance(m, Backbone))
    passes = [0]
    hook = backbone.features.register_forward_hook(
        lambda module, inputs, output: passes.__setitem__(0, passes[0] + len(inputs[0])))
    predictions, targets, seconds = [], [], 0.0
    try:
        for i in tqdm(range(len(data)), desc=f"{type(model).__name__} on {split}",
                      disable=not progress):
            image, target = data[i]
            regions = None if proposals is None else torch.from_numpy(proposals[i])
            start = time.perf_counter()
            predictions.append(model.detect(image, regions, **detect_options))
            seconds += time.perf_counter() - start
            targets.append(target)
    finally:
        hook.remove()
    return {**coco_evaluate(predictions, targets), "split": split, "images": len(data),
            "seconds_per_image": seconds / len(data), **report,
            "forward_passes_per_image": passes[0] / len(data)}


@dataclass(frozen=True)
class Recipe:
    """What the command line needs of a model called NAME:

    - ``build(seed=0, progress=True, **overrides) -> (model, summary)`` trains it from scratch
      (deterministic from the seed) and writes nothing; ``train NAME`` stores the result with
      :func:`lecturelib.checkpoints.save_weights` as checkpoint NAME. ``None``: nothing to
      train under this name (an evaluation of another model's part, as ``rpn``);
    - ``load() -> model`` is the shipped checkpoint (:func:`lecturelib.checkpoints.load_weights`);
    - ``evaluate(model, split=, num_images=, progress=) -> dict`` is what ``evaluate NAME``
      prints: :func:`evaluate_detector` for a detector;
    - ``schedules``: training schedules beyond the default (``--schedule``): ``build`` and
      ``load`` then take ``schedule=``, and the checkpoint is NAME_SCHEDULE.
    """
    build: Callable[..., tuple[nn.Module, dict]] | None
    load: Callable[..., nn.Module]
    evaluate: Callable[..., dict] = evaluate_detector
    schedules: tuple[str, ...] = ()
