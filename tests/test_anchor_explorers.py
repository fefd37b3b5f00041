"""Lesson 6's explorers: what they draw and count, checked against the ops they show."""
import torch

from lecturelib import ops
from lecturelib.data import SyntheticShapes
from lecturelib.models.rpn import filter_proposals, label_anchors
from lecturelib.widgets import (anchor_label_explorer, anchors_explorer, draw_anchor_labels,
                                draw_anchors, draw_rpn_proposals, rpn_proposals_explorer)


def scene():
    image, target = SyntheticShapes("val", num_images=2)[0]
    return image, target["boxes"]


def test_draw_anchors_counts_and_coverage():
    image, gt = scene()
    r = draw_anchors(image, gt, smallest=16, scales=3, ratios="0.5, 1, 2", stride=4,
                     cell_x=3, cell_y=5)
    assert r["anchors_per_location"] == 9 and r["feature_size"] == (32, 32)
    assert r["total"] == 32 * 32 * 9
    expected = ops.make_anchors((32, 32), 4, (16, 32, 64), (0.5, 1.0, 2.0))
    assert torch.equal(r["cell_anchors"], expected[(5 * 32 + 3) * 9:(5 * 32 + 4) * 9])
    assert torch.equal(r["best_iou"], ops.box_iou(gt, expected).max(dim=1).values)
    one = draw_anchors(image, gt, smallest=64, scales=1, ratios="1", stride=32)
    assert one["total"] == 16 and (one["best_iou"] < r["best_iou"] + 1e-6).all()
    e = anchors_explorer(image, gt)
    e.set(stride=32)
    assert e.controls["cell_x"].max == 3 and e.result["feature_size"] == (4, 4)


def test_draw_anchor_labels_equal_label_anchors():
    image, gt = scene()
    anchors = ops.make_anchors((32, 32), 4, (16, 32, 64), (0.5, 1.0, 2.0))
    r = draw_anchor_labels(image, anchors, gt)
    expected, _ = label_anchors(anchors, gt)
    assert torch.equal(r["labels"], expected)
    assert sum(r["counts"].values()) == len(anchors) and r["counts"]["positive"] >= len(gt)
    strict = draw_anchor_labels(image, anchors, gt, low_quality=False)
    assert strict["rescued"] == 0
    assert r["counts"]["positive"] - strict["counts"]["positive"] == r["rescued"]
    e = anchor_label_explorer(image, anchors, gt)
    e.controls["negative_iou"].value = 0.9
    assert e.controls["positive_iou"].value == 0.9


def test_draw_rpn_proposals_equal_filter_proposals():
    image, gt = scene()
    g = torch.Generator().manual_seed(0)
    anchors = ops.make_anchors((32, 32), 4, (16, 32, 64), (0.5, 1.0, 2.0))
    objectness = torch.randn(len(anchors), generator=g)
    r = draw_rpn_proposals(image, anchors, objectness, gt, 500, 100, 0.7)
    kept, scores = filter_proposals(anchors, objectness, (128, 128), 500, 100, 0.7)
    assert r["kept"] == len(kept) == 100 and torch.equal(r["scores"], scores)
    assert 0.0 <= r["recall"] <= 1.0
    e = rpn_proposals_explorer(image, anchors, objectness, gt)
    assert e.set(post_nms_top_n=5)["kept"] == 5


def test_anchor_explorer_defaults_are_the_course_anchors():
    from lecturelib.models.faster_rcnn import ANCHOR_SIZES, ASPECT_RATIOS
    image, gt = scene()
    r = draw_anchors(image, gt)
    assert tuple(r["sizes"]) == ANCHOR_SIZES and tuple(r["aspect_ratios"]) == ASPECT_RATIOS
