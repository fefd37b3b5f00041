"""Detector-like raw output, simulated from a target: a stand-in for a trained detector.

Before the lessons have trained a detector, NMS and AP need realistic raw detections: several
overlapping boxes around each object with scores that fall as the box drifts, plus a few
false alarms. :func:`simulate_detections` makes them, deterministically from a seed.
"""
from __future__ import annotations

import numpy as np
import torch

from ..ops import box_iou


def simulate_detections(target: dict, per_object: int = 6, jitter: float = 0.15,
                        false_alarms: int = 2, image_size: int = 128, seed: int = 0) -> dict:
    """``target`` (``boxes`` Float[N, 4], ``labels`` Int64[N]) -> prediction dict with
    ``boxes`` Float[D, 4], ``scores`` Float[D], ``labels`` Int64[D].

    Each object gets ``per_object`` boxes whose corners move by ``jitter`` × its size; a box's
    score is its IoU with the object plus noise, so better boxes tend to score higher.
    """
    if per_object < 1 or jitter < 0 or false_alarms < 0:
        raise ValueError("per_object must be >= 1, jitter and false_alarms >= 0; got "
                         f"{per_object}, {jitter}, {false_alarms}")
    rng = np.random.default_rng(seed)
    gt = torch.as_tensor(target["boxes"], dtype=torch.float32).reshape(-1, 4)
    gt_labels = torch.as_tensor(target["labels"], dtype=torch.int64).reshape(-1)
    boxes, labels = [], []
    for box, label in zip(gt.numpy(), gt_labels.tolist()):
        size = np.array([box[2] - box[0], box[3] - box[1]] * 2)
        noise = rng.normal(0.0, jitter, (per_object, 4)) * size
        boxes.append(box + noise)
        labels += [label] * per_object
    for _ in range(false_alarms):
        xy = rng.uniform(0, image_size * 0.75, 2)
        wh = rng.uniform(image_size * 0.1, image_size * 0.3, 2)
        boxes.append(np.concatenate([xy, xy + wh])[None])
        labels.append(int(rng.integers(1, max(labels + [1]) + 1)))
    b = np.concatenate(boxes) if boxes else np.zeros((0, 4))
    b = np.concatenate([np.minimum(b[:, :2], b[:, 2:]), np.maximum(b[:, :2], b[:, 2:])], 1)
    b = torch.from_numpy(b.clip(0, image_size)).float()
    overlap = box_iou(b, gt).max(dim=1).values if len(gt) else torch.zeros(len(b))
    scores = (overlap + torch.from_numpy(rng.normal(0, 0.08, len(b))).float()).clamp(0.01, 0.99)
    return {"boxes": b, "scores": scores, "labels": torch.tensor(labels, dtype=torch.int64)}
