"""lecturelib.metrics against pycocotools (COCO AP/AR) and plain loops (proposal metrics)."""
import contextlib
import io

import numpy as np
import pycocotools.mask as mask_utils
import pytest
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from torchvision.ops import box_iou as tv_box_iou

from lecturelib.metrics import (average_best_overlap, coco_evaluate, mean_average_best_overlap,
                                proposal_recall)

KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100")


# --------------------------------------------------------------------------- pycocotools oracle
def _binary(masks):
    masks = np.asarray(masks)
    if masks.ndim == 4:
        masks = masks[:, 0]
    return (masks > 0.5) if masks.dtype.kind == "f" else (masks != 0)


def pycocotools_evaluate(predictions, targets, iou_type, num_classes=3):
    """The same evaluation through COCO objects built in memory; returns our 9 keys."""
    images, annotations, results = [], [], []
    for i, (pred, target) in enumerate(zip(predictions, targets)):
        image_id = i + 1
        images.append({"id": image_id, "height": 256, "width": 256})
        gt_masks = _binary(target["masks"]) if "masks" in target else None
        for j, (box, label) in enumerate(zip(np.asarray(target["boxes"], np.float64).tolist(),
                                             np.asarray(target["labels"]).tolist())):
            x1, y1, x2, y2 = box
            ann = {"id": len(annotations) + 1, "image_id": image_id, "category_id": label,
                   "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1),
                   "iscrowd": 0}
            if gt_masks is not None:
                mask = np.asfortranarray(gt_masks[j].astype(np.uint8))
                ann["segmentation"] = mask_utils.encode(mask)
                ann["area"] = float(mask.sum())
            annotations.append(ann)
        dt_masks = _binary(pred["masks"]) if iou_type == "segm" else None
        for j, (box, score, label) in enumerate(zip(
                np.asarray(pred["boxes"], np.float64).tolist(),
                np.asarray(pred["scores"], np.float64).tolist(),
                np.asarray(pred["labels"]).tolist())):
            result = {"image_id": image_id, "category_id": label, "score": score}
            if iou_type == "bbox":
                x1, y1, x2, y2 = box
                result["bbox"] = [x1, y1, x2 - x1, y2 - y1]
            else:   # like torchvision's evaluator: the mask only, area and bbox from the RLE
                result["segmentation"] = mask_utils.encode(
                    np.asfortranarray(dt_masks[j].astype(np.uint8)))
            results.append(result)
    categories = [{"id": k} for k in range(1, num_classes + 1)]
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": images, "annotations": annotations, "categories": categories}
        gt.createIndex()
        if results:
            dt = gt.loadRes(results)
        else:   # loadRes cannot take an empty list
            dt = COCO()
            dt.dataset = {"images": images, "annotations": [], "categories": categories}
            dt.createIndex()
        evaluator = COCOeval(gt, dt, iou_type)
        evaluator.params.imgIds = [image["id"] for image in images]
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return dict(zip(KEYS, evaluator.stats[:9].tolist()))


# ------------------------------------------------------------------------------ random scenes
SCALES = ((4, 30), (34, 90), (100, 150))          # small, medium, large sides
GRID_SIDES = (8, 16, 31, 32, 33, 48, 95, 96, 97, 128)   # on the area boundaries 32², 96²


def _random_gt_boxes(rng, n, integer):
    if integer:
        w, h = rng.choice(GRID_SIDES, n), rng.choice(GRID_SIDES, n)
        x, y = rng.integers(0, 100, n), rng.integers(0, 100, n)
    else:
        low, high = np.array(SCALES)[rng.integers(0, 3, n)].T
        w, h = rng.uniform(low, high), rng.uniform(low, high)
        x, y = rng.uniform(0, 100, n), rng.uniform(0, 100, n)
    return np.stack([x, y, x + w, y + h], 1).astype(np.float64)


def _jitter(rng, boxes, amount, integer):
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    noise = rng.normal(0, amount, (len(boxes), 4)) * np.stack([w, h, w, h], 1)
    if integer:
        noise = np.round(noise)
    out = boxes + noise
    out[:, 2:] = np.maximum(out[:, 2:], out[:, :2] + 1)
    return out


def _tricky_structures(rng, label):
    """Integer-grid configurations where the fine print of the matching decides the result:
    returns GT boxes, detection boxes and detection scores, all of class ``label``."""
    x, y = rng.integers(0, 100, 2)
    kind = rng.integers(0, 3)
    if kind == 0:   # one detection exactly between two GTs (tied IoU), a second on the first GT
        w, s = int(rng.choice([16, 32, 48])), int(rng.choice([2, 4, 6]))
        first, second = [x, y, x + w, y + w], [x + s, y, x + s + w, y + w]
        gt = [first, second]
        dets, scores = [[x + s // 2, y, x + s // 2 + w, y + w], first], [0.99, 0.98]
    elif kind == 1:  # GTs on both sides of an area boundary, a detection in between
        small, big, mid = [(30, 34, 33), (92, 100, 97)][rng.integers(0, 2)]
        gt = [[x, y, x + small, y + small], [x, y, x + big, y + big]][::rng.choice([1, -1])]
        dets, scores = [[x, y, x + mid, y + mid]], [0.97]
    else:            # detections cropped so that IoU = 0.5, 0.75, 0.8, 0.9 exactly
        w = 40
        gt = [[x, y, x + w, y + w]]
        dets = [[x, y, x + int(w * f), y + w] for f in rng.choice([0.5, 0.75, 0.8, 0.9], 2)]
        scores = rng.random(2).tolist()
    return np.array(gt, np.float64), np.array(dets, np.float64), np.array(scores)


def random_bbox_case(seed):
    """A few images with near-duplicates, tied scores, empty images, a class without GT,
    (integer grid) IoU ties and IoU exactly at thresholds, and (some cases) more than 100
    detections of one class in an image, some of them true positives past rank 100."""
    rng = np.random.default_rng(seed)
    num_classes = int(rng.integers(1, 4))
    integer = seed % 3 == 0
    ties = seed % 2 == 0
    no_gt_class = num_classes > 1 and seed % 4 == 1
    crowded = seed % 5 == 2
    predictions, targets = [], []
    for image in range(int(rng.integers(1, 6))):
        n_gt = 0 if rng.random() < 0.2 else int(rng.integers(1, 9))
        gt = _random_gt_boxes(rng, n_gt, integer)
        gt_labels = rng.integers(1, num_classes + (0 if no_gt_class else 1), n_gt)
        boxes, labels, scores = [], [], []

        def add(new_boxes, new_labels, new_scores):
            boxes.append(np.reshape(new_boxes, (-1, 4)))
            labels.append(np.broadcast_to(new_labels, len(boxes[-1])))
            scores.append(np.broadcast_to(new_scores, len(boxes[-1])))

        for box, label in zip(gt, gt_labels):
            copies = int(rng.integers(0, 4))
            amount = rng.choice([0.02, 0.1, 0.3])
            add(_jitter(rng, np.repeat(box[None], copies, 0), amount, integer),
                np.where(rng.random(copies) < 0.1, rng.integers(1, num_classes + 1, copies), label),
                rng.random(copies))
        n_fp = int(rng.integers(0, 6))
        add(_jitter(rng, _random_gt_boxes(rng, n_fp, integer), 0.05, integer),
            rng.integers(1, num_classes + 1, n_fp), rng.random(n_fp))
        if integer and n_gt:
            for _ in range(int(rng.integers(1, 4))):
                label = gt_labels[0]
                extra_gt, dets, det_scores = _tricky_structures(rng, label)
                gt = np.concatenate([gt, extra_gt])
                gt_labels = np.append(gt_labels, [label] * len(extra_gt))
                add(dets, label, det_scores)
        if crowded and image == 0 and n_gt:   # > 100 of one class; FPs outscore some TPs
            n_crowd = int(rng.integers(101, 140))
            add(_random_gt_boxes(rng, n_crowd, integer), gt_labels[0], rng.uniform(0.3, 1, n_crowd))
            add(_jitter(rng, np.repeat(gt[:1], 30, 0), 0.1, integer), gt_labels[0], rng.random(30))
        boxes, labels, scores = map(np.concatenate, (boxes, labels, scores))
        if rng.random() < 0.15:                   # an image without detections
            boxes, labels, scores = boxes[:0], labels[:0], scores[:0]
        if ties:
            scores = np.round(scores, 1)
        if seed % 2:       # tensors in odd cases, numpy arrays in even ones
            targets.append({"boxes": torch.as_tensor(gt, dtype=torch.float32),
                            "labels": torch.as_tensor(gt_labels, dtype=torch.int64)})
            predictions.append({"boxes": torch.as_tensor(boxes, dtype=torch.float32),
                                "scores": torch.as_tensor(scores, dtype=torch.float32),
                                "labels": torch.as_tensor(labels, dtype=torch.int64)})
        else:
            targets.append({"boxes": gt.astype(np.float32), "labels": gt_labels.astype(np.int64)})
            predictions.append({"boxes": boxes.astype(np.float32),
                                "scores": scores.astype(np.float32),
                                "labels": labels.astype(np.int64)})
    return predictions, targets, num_classes


def _ellipse(size, box):
    yy, xx = np.mgrid[:size, :size] + 0.5
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    rx, ry = max((box[2] - box[0]) / 2, 0.5), max((box[3] - box[1]) / 2, 0.5)
    return ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1


def random_segm_case(seed, size=192):
    """Instance masks (ellipses of all sizes, one with holes) and predicted masks as shifted,
    noisy copies; predictions are float probabilities [N, 1, H, W] or uint8 [N, H, W]."""
    rng = np.random.default_rng(1000 + seed)
    num_classes = int(rng.integers(1, 4))
    predictions, targets = [], []
    for image in range(int(rng.integers(1, 5))):
        n_gt = 0 if rng.random() < 0.2 else int(rng.integers(1, 6))
        low, high = np.array(SCALES)[rng.integers(0, 3, n_gt)].T
        w, h = rng.uniform(low, high), rng.uniform(low, high)
        x, y = rng.uniform(0, size - w), rng.uniform(0, size - h)
        gt = np.stack([x, y, x + w, y + h], 1)
        gt_masks = np.array([_ellipse(size, b) for b in gt], bool).reshape(-1, size, size)
        if n_gt:
            gt_masks[0] &= rng.random((size, size)) > 0.2       # one object with holes
        gt_labels = rng.integers(1, num_classes + 1, n_gt)
        masks, boxes, labels = [], [], []
        for mask, box, label in zip(gt_masks, gt, gt_labels):
            x1, y1, x2, y2 = np.round(box).astype(int)
            for _ in range(int(rng.integers(0, 4))):
                shifted = np.roll(mask, tuple(rng.integers(-3, 4, 2)), axis=(0, 1))
                shifted[y1:y2, x1:x2] ^= rng.random((y2 - y1, x2 - x1)) < 0.05
                masks.append(shifted)
                boxes.append(_jitter(rng, box[None], 0.1, False)[0])
                wrong = rng.random() < 0.1
                labels.append(int(rng.integers(1, num_classes + 1)) if wrong else label)
        for _ in range(int(rng.integers(0, 4))):                 # false positives, one empty
            box = _random_gt_boxes(rng, 1, True)[0]
            masks.append(_ellipse(size, box) & (rng.random() > 0.2))
            boxes.append(box)
            labels.append(int(rng.integers(1, num_classes + 1)))
        masks = np.stack(masks) if masks else np.zeros((0, size, size), bool)
        if seed % 2:
            probabilities = np.where(masks, rng.uniform(0.5, 1, masks.shape),
                                     rng.uniform(0, 0.5, masks.shape))
            probabilities[masks & (rng.random(masks.shape) < 0.01)] = 0.5  # 0.5 = background
            pred_masks = torch.as_tensor(probabilities[:, None], dtype=torch.float32)
        else:
            pred_masks = torch.as_tensor(masks, dtype=torch.uint8)
        scores = np.round(rng.random(len(masks)), 1 if seed % 3 == 0 else 6)
        targets.append({"boxes": torch.as_tensor(gt, dtype=torch.float32),
                        "labels": torch.as_tensor(gt_labels, dtype=torch.int64),
                        "masks": torch.as_tensor(gt_masks, dtype=torch.uint8)})
        boxes = np.reshape(boxes, (-1, 4))
        predictions.append({"boxes": torch.as_tensor(boxes, dtype=torch.float32),
                            "scores": torch.as_tensor(scores, dtype=torch.float32),
                            "labels": torch.as_tensor(labels, dtype=torch.int64),
                            "masks": pred_masks})
    return predictions, targets, num_classes


def _assert_same(ours, reference):
    assert set(ours) == set(KEYS)
    assert all(type(v) is float for v in ours.values())
    for key in KEYS:
        assert ours[key] == pytest.approx(reference[key], abs=1e-9, rel=0), (key, ours, reference)


@pytest.mark.parametrize("seed", range(48))
def test_bbox_matches_pycocotools(seed):
    predictions, targets, num_classes = random_bbox_case(seed)
    _assert_same(coco_evaluate(predictions, targets, "bbox"),
                 pycocotools_evaluate(predictions, targets, "bbox", num_classes))


@pytest.mark.parametrize("seed", range(16))
def test_segm_matches_pycocotools(seed):
    predictions, targets, num_classes = random_segm_case(seed)
    _assert_same(coco_evaluate(predictions, targets, "segm"),
                 pycocotools_evaluate(predictions, targets, "segm", num_classes))


@pytest.mark.parametrize("seed", range(6))
def test_bbox_with_gt_masks_uses_mask_area(seed):
    predictions, targets, num_classes = random_segm_case(seed)
    _assert_same(coco_evaluate(predictions, targets, "bbox"),
                 pycocotools_evaluate(predictions, targets, "bbox", num_classes))


def test_random_cases_cover_the_rules():
    """The generator really produces the situations the comparison is meant to exercise."""
    seen = set()
    for seed in range(48):
        predictions, targets, _ = random_bbox_case(seed)
        for p, t in zip(predictions, targets):
            gt_labels, dt_labels = np.asarray(t["labels"]), np.asarray(p["labels"])
            boxes = np.asarray(t["boxes"], np.float64)
            areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
            seen |= {"small"} if (areas < 32 ** 2).any() else set()
            seen |= {"medium"} if ((areas >= 32 ** 2) & (areas <= 96 ** 2)).any() else set()
            seen |= {"large"} if (areas > 96 ** 2).any() else set()
            seen |= {"no gt"} if len(gt_labels) == 0 else set()
            seen |= {"no dets"} if len(dt_labels) == 0 else set()
            seen |= {"tied scores"} if len(np.unique(p["scores"])) < len(dt_labels) else set()
            seen |= {">100"} if np.bincount(dt_labels).max(initial=0) > 100 else set()
        all_gt = np.concatenate([np.asarray(t["labels"]) for t in targets])
        all_dt = np.concatenate([np.asarray(p["labels"]) for p in predictions])
        seen |= {"class without gt"} if set(all_dt.tolist()) - set(all_gt.tolist()) else set()
    assert seen == {"small", "medium", "large", "no gt", "no dets", "tied scores", ">100",
                    "class without gt"}


# ---------------------------------------------------------------------------------- hand cases
def _target(boxes, labels):
    return {"boxes": torch.as_tensor(boxes, dtype=torch.float32).reshape(-1, 4),
            "labels": torch.as_tensor(labels, dtype=torch.int64)}


def _prediction(boxes, scores, labels):
    return {**_target(boxes, labels), "scores": torch.as_tensor(scores, dtype=torch.float32)}


def approx(value):
    """pycocotools computes precision as tp / (tp + fp + eps): a perfect 1 can be 1 - 2e-16."""
    return pytest.approx(value, abs=1e-12, rel=0)


SMALL, MEDIUM, LARGE = [0, 0, 10, 10], [20, 20, 70, 70], [0, 100, 120, 220]


def test_perfect_predictions_score_one():
    targets = [_target([SMALL, MEDIUM], [1, 2]), _target([LARGE], [1]), _target([], [])]
    predictions = [_prediction(t["boxes"], [1.0] * len(t["boxes"]), t["labels"]) for t in targets]
    assert coco_evaluate(predictions, targets) == approx(dict.fromkeys(KEYS, 1.0))


def test_no_predictions_score_zero():
    targets = [_target([SMALL, MEDIUM, LARGE], [1, 2, 2])]
    assert coco_evaluate([_prediction([], [], [])], targets) == dict.fromkeys(KEYS, 0.0)


def test_nothing_to_evaluate_is_minus_one():
    assert coco_evaluate([], []) == dict.fromkeys(KEYS, -1.0)
    # detections but no ground truth anywhere: no category takes part
    predictions = [_prediction([SMALL], [0.9], [1])]
    assert coco_evaluate(predictions, [_target([], [])]) == dict.fromkeys(KEYS, -1.0)
    # a size range without ground truth is -1 while the others are computed
    result = coco_evaluate([_prediction([MEDIUM], [0.9], [1])], [_target([MEDIUM], [1])])
    assert (result["APs"], result["APm"], result["APl"]) == approx((-1.0, 1.0, -1.0))


def test_hand_computed_precision_envelope():
    # TP (0.9), FP (0.8), TP (0.7): precision 1 up to recall 0.5, then 2/3 up to recall 1
    targets = [_target([[0, 0, 50, 50], [100, 100, 150, 150]], [1, 1])]
    predictions = [_prediction([[0, 0, 50, 50], [200, 0, 250, 50], [100, 100, 150, 150]],
                               [0.9, 0.8, 0.7], [1, 1, 1])]
    result = coco_evaluate(predictions, targets)
    ap = (51 * 1.0 + 50 * 2 / 3) / 101
    for key in ("AP", "AP50", "AP75", "APm"):
        assert result[key] == approx(ap)
    assert (result["APs"], result["APl"]) == (-1.0, -1.0)
    assert (result["AR1"], result["AR10"], result["AR100"]) == (0.5, 1.0, 1.0)


def test_iou_exactly_at_threshold_is_a_match():
    predictions = [_prediction([[0, 0, 10, 5]], [0.9], [1])]
    result = coco_evaluate(predictions, [_target([[0, 0, 10, 10]], [1])])
    assert (result["AP50"], result["AP75"]) == approx((1.0, 0.0))
    assert result["AP"] == approx(0.1)                         # 1 of 10 thresholds


def test_max_detections_count_per_image_and_category():
    targets = [_target([SMALL, MEDIUM], [1, 2])]
    predictions = [_prediction([SMALL, MEDIUM], [0.9, 0.8], [1, 2])]
    assert coco_evaluate(predictions, targets)["AR1"] == 1.0   # not 0.5: one per category


def test_area_boundary_belongs_to_both_ranges():
    box = [[0, 0, 32, 32]]                                     # area 32² exactly
    result = coco_evaluate([_prediction(box, [0.9], [1])], [_target(box, [1])])
    assert (result["APs"], result["APm"], result["APl"]) == approx((1.0, 1.0, -1.0))


def test_perfect_masks_score_one():
    _, targets, _ = random_segm_case(2)
    predictions = [{**t, "scores": torch.ones(len(t["boxes"])),
                    "boxes": torch.zeros(len(t["boxes"]), 4)} for t in targets]  # boxes unused
    result = coco_evaluate(predictions, targets, "segm")
    result.pop("AR1")                       # 1 detection per image and class cannot find them all
    assert {k: v for k, v in result.items() if v != -1} == approx(
        {k: 1.0 for k, v in result.items() if v != -1})
    assert result["AP"] == approx(1.0)


def test_numpy_inputs_and_float_masks():
    predictions, targets, _ = random_segm_case(1)
    as_numpy = [{k: v.numpy() for k, v in d.items()} for d in predictions]
    assert coco_evaluate(as_numpy, targets, "segm") == coco_evaluate(predictions, targets, "segm")


@pytest.mark.parametrize("change, match", [
    (lambda p, t: (p, t + t), "same length"),
    (lambda p, t: ({"boxes": 1}, t), "predictions must be a list"),
    (lambda p, t: ([{k: v for k, v in p[0].items() if k != "scores"}], t),
     r"predictions\[0\].*'scores'"),
    (lambda p, t: (p, [{"boxes": t[0]["boxes"]}]), r"targets\[0\].*'labels'"),
    (lambda p, t: ([{**p[0], "boxes": torch.zeros(1, 3)}], t),
     r"predictions\[0\]\['boxes'\].*\[N, 4\]"),
    (lambda p, t: ([{**p[0], "labels": torch.ones(2, dtype=torch.int64)}], t),
     r"predictions\[0\]\['labels'\]"),
    (lambda p, t: (p, [{**t[0], "masks": torch.zeros(2, 8, 8)}]), r"targets\[0\]\['masks'\]"),
])
def test_bad_input_names_the_argument(change, match):
    predictions, targets = change([_prediction([SMALL], [0.9], [1])], [_target([SMALL], [1])])
    with pytest.raises(ValueError, match=match):
        coco_evaluate(predictions, targets)


def test_bad_iou_type_and_segm_without_masks():
    predictions, targets = [_prediction([SMALL], [0.9], [1])], [_target([SMALL], [1])]
    with pytest.raises(ValueError, match="iou_type"):
        coco_evaluate(predictions, targets, "keypoints")
    with pytest.raises(ValueError, match=r"targets\[0\].*'masks'"):
        coco_evaluate(predictions, targets, "segm")
    targets[0]["masks"] = torch.zeros(1, 16, 16, dtype=torch.uint8)
    predictions[0]["masks"] = torch.zeros(1, 1, 8, 8)
    with pytest.raises(ValueError, match=r"predictions\[0\]\['masks'\]"):
        coco_evaluate(predictions, targets, "segm")


# ----------------------------------------------------------------------------- proposal metrics
def _naive_best_overlaps(proposals, gt, n):
    """Best IoU of each GT box over the first n proposals, one pair at a time."""
    best = []
    for g in gt.tolist():
        overlap = 0.0
        for p in proposals[:n].tolist():
            w = max(0.0, min(p[2], g[2]) - max(p[0], g[0]))
            h = max(0.0, min(p[3], g[3]) - max(p[1], g[1]))
            union = (p[2] - p[0]) * (p[3] - p[1]) + (g[2] - g[0]) * (g[3] - g[1]) - w * h
            overlap = max(overlap, w * h / union if union > 0 else 0.0)
        best.append(overlap)
    return best


def _random_proposal_case(seed):
    rng = np.random.default_rng(5000 + seed)
    proposals, gts, labels = [], [], []
    for _ in range(int(rng.integers(1, 5))):
        gt = _random_gt_boxes(rng, int(rng.integers(0 if gts else 1, 6)), seed % 2 == 0)
        near = _jitter(rng, np.repeat(gt, 5, 0), 0.15, False) if len(gt) else np.zeros((0, 4))
        props = np.concatenate([near, _random_gt_boxes(rng, int(rng.integers(0, 30)), False)])
        proposals.append(torch.as_tensor(props[rng.permutation(len(props))]))
        gts.append(torch.as_tensor(gt, dtype=torch.float32))
        labels.append(torch.as_tensor(rng.integers(1, 4, len(gt))))
    return proposals, gts, labels


@pytest.mark.parametrize("seed", range(10))
def test_proposal_metrics_match_naive_loops(seed):
    proposals, gts, labels = _random_proposal_case(seed)
    counts = [0, 1, 3, 10, 50, 10_000]
    for threshold in (0.5, 0.7):
        expected = []
        for n in counts:
            best = sum((_naive_best_overlaps(p, g, n) for p, g in zip(proposals, gts)), [])
            expected.append(np.mean(np.array(best) >= threshold))
        np.testing.assert_allclose(proposal_recall(proposals, gts, threshold, counts), expected,
                                   atol=1e-12)
        assert proposal_recall(proposals, gts, threshold, 10) == pytest.approx(expected[3])
        assert proposal_recall(proposals, gts, threshold) == pytest.approx(expected[-1], abs=1e-12)
    best = np.concatenate([_naive_best_overlaps(p, g, None) for p, g in zip(proposals, gts)])
    classes = np.concatenate([np.asarray(lab) for lab in labels])
    expected_abo = {int(c): best[classes == c].mean() for c in np.unique(classes)}
    abo = average_best_overlap(proposals, gts, labels)
    assert abo.keys() == expected_abo.keys()
    for c in abo:
        assert abo[c] == pytest.approx(expected_abo[c], abs=1e-12)
    assert mean_average_best_overlap(proposals, gts, labels) == pytest.approx(
        np.mean(list(expected_abo.values())), abs=1e-12)
    assert average_best_overlap(proposals, gts) == {None: pytest.approx(best.mean(), abs=1e-12)}


def test_proposal_iou_agrees_with_torchvision():
    proposals, gts, _ = _random_proposal_case(3)
    for p, g in zip(proposals, gts):
        if len(p) and len(g):
            best = tv_box_iou(p.double(), g.double()).max(0).values
            np.testing.assert_allclose(best, _naive_best_overlaps(p, g, None), atol=1e-12)
            covered = float((best >= 0.6).double().mean())
            assert proposal_recall([p], [g], 0.6) == pytest.approx(covered)


def test_proposal_metrics_hand_case():
    gt = torch.tensor([[0.0, 0, 10, 10], [20, 20, 30, 30], [50, 50, 60, 60]])
    labels = torch.tensor([1, 1, 2])
    proposals = torch.tensor([[0.0, 0, 10, 5],      # IoU 0.5 with box 0
                              [20, 20, 30, 30],     # IoU 1 with box 1
                              [0, 0, 10, 10]])      # IoU 1 with box 0
    assert proposal_recall(proposals, gt, 0.5, [0, 1, 2, 3]).tolist() == [0, 1 / 3, 2 / 3, 2 / 3]
    assert proposal_recall(proposals, gt, 0.7, 2) == pytest.approx(1 / 3)
    assert average_best_overlap(proposals[:2], gt, labels) == {1: 0.75, 2: 0.0}
    assert mean_average_best_overlap(proposals[:2], gt, labels) == 0.375
    assert average_best_overlap([torch.zeros(0, 4)], [gt]) == {None: 0.0}   # no proposals
    assert average_best_overlap([], []) == {}
    point = torch.tensor([[5.0, 5, 5, 5]])                                   # zero area: 0, not NaN
    assert average_best_overlap([point], [point]) == {None: 0.0}


def test_proposal_metrics_bad_input():
    gt = [torch.tensor([[0.0, 0, 10, 10]])]
    with pytest.raises(ValueError, match="same length"):
        proposal_recall(gt + gt, gt)
    with pytest.raises(ValueError, match=r"proposals\[0\]"):
        proposal_recall([torch.zeros(2, 3)], gt)
    with pytest.raises(ValueError, match=r"gt_boxes\[0\]"):
        proposal_recall(gt, [torch.tensor([[5.0, 0, 0, 5]])])
    with pytest.raises(ValueError, match="no boxes"):
        proposal_recall(gt, [torch.zeros(0, 4)])
    with pytest.raises(ValueError, match="no boxes"):
        mean_average_best_overlap(gt, [torch.zeros(0, 4)])
    with pytest.raises(ValueError, match="num_proposals"):
        proposal_recall(gt, gt, num_proposals=-1)
    with pytest.raises(ValueError, match="gt_labels"):
        average_best_overlap(gt, gt, [torch.tensor([1, 2])])
