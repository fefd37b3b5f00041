"""Training R-CNN: three stages, three models, as in the paper.

1. **Fine-tune** the pre-trained CNN on warped proposals for K + 1 classes: a proposal with
   IoU >= 0.5 with a ground truth is an example of that object's class, the rest background;
   mini-batches hold 1 positive for every 3 background regions.
2. **Per-class linear SVMs** on fc7 features: positives are the ground-truth boxes, negatives
   the proposals with IoU < 0.3 with every object of that class; rounds of hard-negative
   mining add the negatives the SVM gets wrong.
3. **Class-specific box regression** (ridge) from pool5 features to the R-CNN deltas, trained
   on proposals with IoU >= 0.6.
"""
from __future__ import annotations

import time

import numpy as np
import torch
from sklearn.linear_model import Ridge
from sklearn.svm import LinearSVC
from tqdm.auto import tqdm

from ..data import SyntheticShapes
from ..matching import match_proposals, matched_labels, sample_balanced
from ..ops import box_iou, encode_boxes
from .backbone import INPUT_SIZE, load_pretrained
from .proposals import proposals_for
from .rcnn import CONTEXT, RCNN
from .warp import warp_regions

DEFAULTS = dict(train_images=512, finetune_steps=700, batch_size=64, positive_fraction=0.25,
                finetune_lr=1e-3, foreground_iou=0.5, svm_images=160, svm_negative_iou=0.3,
                svm_c=0.01, hard_negative_rounds=2, bbox_iou=0.6, ridge_alpha=100.0)


def label_proposals(proposals: torch.Tensor, gt_boxes: torch.Tensor, gt_labels: torch.Tensor,
                    foreground_iou: float = 0.5) -> torch.Tensor:
    """Fine-tuning labels Int64[P]: the class of the best-overlapping object if its IoU >=
    ``foreground_iou``, else 0 (background) — :func:`lecturelib.matching.match_proposals`
    with one threshold, so nothing is ignored."""
    matches = match_proposals(box_iou(gt_boxes, proposals), foreground_iou, foreground_iou)
    return matched_labels(matches, gt_labels)


def finetune_samples(data, proposals, foreground_iou: float, negatives_per_image: int, seed: int):
    """Warped crops (uint8, to save memory) and K+1 labels: every positive, a sample of negatives."""
    g = torch.Generator().manual_seed(seed)
    crops, labels = [], []
    for i in tqdm(range(len(data)), desc="warping fine-tuning regions", leave=False):
        image, target = data[i]
        boxes = torch.cat([target["boxes"], torch.from_numpy(proposals[i])])
        y = label_proposals(boxes, target["boxes"], target["labels"], foreground_iou)
        negatives = torch.nonzero(y == 0)[:, 0]
        negatives = negatives[torch.randperm(len(negatives), generator=g)[:negatives_per_image]]
        chosen = torch.cat([torch.nonzero(y > 0)[:, 0], negatives])
        crops.append((warp_regions(image, boxes[chosen], INPUT_SIZE, CONTEXT) * 255).round()
                     .clamp(0, 255).to(torch.uint8))
        labels.append(y[chosen])
    return torch.cat(crops), torch.cat(labels)


def finetune(model: RCNN, crops: torch.Tensor, labels: torch.Tensor, steps: int, batch_size: int,
             positive_fraction: float, lr: float, seed: int, progress: bool = True) -> list[float]:
    """Stage 1: SGD on balanced mini-batches of warped regions (K + 1 way cross-entropy):
    ``positive_fraction`` of each batch from the positives, drawn with replacement."""
    g = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.cnn.parameters(), lr=lr)
    model.cnn.train()
    losses = []
    for _ in tqdm(range(steps), desc="fine-tuning K+1", disable=not progress):
        batch = torch.cat(sample_balanced(labels, batch_size, positive_fraction, g, "both"))
        x = crops[batch].float() / 255
        flip = torch.rand(len(batch), generator=g) < 0.5
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        loss = torch.nn.functional.cross_entropy(model.cnn(x), labels[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    model.cnn.eval()
    return losses


def collect_features(model: RCNN, data, proposals, progress: bool = True):
    """pool5 / fc7 features of every ground truth and proposal, with their overlaps."""
    records = []
    for i in tqdm(range(len(data)), desc="CNN features for SVMs", disable=not progress):
        image, target = data[i]
        boxes = torch.cat([target["boxes"], torch.from_numpy(proposals[i])])
        pool5, fc7, _ = model.region_features(image, boxes)
        iou = box_iou(boxes, target["boxes"])                       # [B, G]
        is_gt = torch.arange(len(boxes)) < len(target["boxes"])
        records.append((pool5, fc7, boxes, iou, target["boxes"], target["labels"], is_gt))
    return records


def train_svms(model: RCNN, records, negative_iou: float, c: float, rounds: int, seed: int) -> dict:
    """Stage 2: one linear SVM per class with hard-negative mining. Returns per-class counts."""
    rng = np.random.default_rng(seed)
    fc7 = torch.cat([r[1] for r in records]).numpy()
    report = {}
    for k in range(1, model.num_classes + 1):
        positive, negative = [], []
        for _, _, boxes, iou, _, gt_labels, is_gt in records:
            of_k = gt_labels == k
            is_positive = torch.zeros(len(boxes), dtype=torch.bool)
            is_positive[:len(gt_labels)] = of_k                        # the ground-truth boxes
            overlap = iou[:, of_k].max(dim=1).values if of_k.any() else torch.zeros(len(boxes))
            positive.append(is_positive)
            negative.append(~is_gt & (overlap < negative_iou))
        positive, negative = torch.cat(positive).numpy(), torch.cat(negative).numpy()
        pos_x = fc7[positive]
        neg_index = np.flatnonzero(negative)
        active = rng.choice(neg_index, size=min(len(neg_index), 4 * len(pos_x)), replace=False)
        for _ in range(rounds + 1):
            x = np.concatenate([pos_x, fc7[active]])
            y = np.concatenate([np.ones(len(pos_x)), -np.ones(len(active))])
            svm = LinearSVC(C=c, class_weight={1: 2.0, -1: 1.0}, max_iter=5000, random_state=seed)
            svm.fit(x, y)
            scores = fc7[neg_index] @ svm.coef_[0] + svm.intercept_[0]
            hard = neg_index[scores > -1.0]                         # inside the margin: hard
            grown = np.union1d(active, hard)
            if len(grown) == len(active):
                break
            active = grown
        model.svm_weight[k - 1] = torch.from_numpy(svm.coef_[0]).float()
        model.svm_bias[k - 1] = float(svm.intercept_[0])
        report[k] = {"positives": int(len(pos_x)), "negatives_used": int(len(active)),
                     "negatives_available": int(len(neg_index))}
    return report


def train_box_regressors(model: RCNN, records, min_iou: float, alpha: float) -> dict:
    """Stage 3: ridge regression pool5 -> (dx, dy, dw, dh) per class, on proposals that
    overlap an object of that class with IoU >= min_iou."""
    report = {}
    for k in range(1, model.num_classes + 1):
        xs, ts = [], []
        for pool5, _, boxes, iou, gt_boxes, gt_labels, is_gt in records:
            of_k = torch.nonzero(gt_labels == k)[:, 0]
            if len(of_k) == 0:
                continue
            best, which = iou[:, of_k].max(dim=1)
            use = (best >= min_iou) & ~is_gt & (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
            if use.any():
                xs.append(pool5[use])
                ts.append(encode_boxes(gt_boxes[of_k[which[use]]], boxes[use]))
        x, t = torch.cat(xs).numpy(), torch.cat(ts).numpy()
        ridge = Ridge(alpha=alpha).fit(x, t)
        model.bbox_weight[k - 1] = torch.from_numpy(ridge.coef_).float()
        model.bbox_bias[k - 1] = torch.from_numpy(ridge.intercept_).float()
        report[k] = {"examples": int(len(x)), "r2": float(ridge.score(x, t))}
    return report


def build_rcnn(seed: int = 0, progress: bool = True, **overrides) -> tuple[RCNN, dict]:
    """Train the three stages from the shipped backbone and return the model and a summary
    (nothing written: ``python -m lecturelib train rcnn`` stores it)."""
    config = {**DEFAULTS, **overrides}
    torch.manual_seed(seed)
    start = time.perf_counter()
    data = SyntheticShapes("train", num_images=config["train_images"])
    proposals, _ = proposals_for(data, progress=progress)
    model = RCNN()
    load_pretrained(model.cnn)
    crops, labels = finetune_samples(data, proposals, config["foreground_iou"], 48, seed)
    losses = finetune(model, crops, labels, config["finetune_steps"], config["batch_size"],
                      config["positive_fraction"], config["finetune_lr"], seed, progress)
    n = config["svm_images"]
    records = collect_features(model, torch.utils.data.Subset(data, range(n)), proposals[:n],
                               progress)
    svm_report = train_svms(model, records, config["svm_negative_iou"], config["svm_c"],
                            config["hard_negative_rounds"], seed)
    bbox_report = train_box_regressors(model, records, config["bbox_iou"], config["ridge_alpha"])
    summary = {"config": config, "finetune_first_loss": float(np.mean(losses[:20])),
               "finetune_last_loss": float(np.mean(losses[-50:])), "svm": svm_report,
               "bbox_regression": bbox_report, "seconds": time.perf_counter() - start,
               "finetune_regions": int(len(crops))}
    return model, summary
