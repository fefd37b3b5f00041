"""Bad input, one table (issue 19): every public function the README's promise covers refuses
malformed input with a ValueError that names the argument and says what was expected — never a
crash deep inside, a silent NaN or a silently wrong result.

Each row: an id, the call, the exception, words its message must contain, and what the peer
(torchvision / pycocotools) does with the same input, so the difference is on purpose:
"accepts" means the peer returns something (usually NaN or a wrong-but-quiet value) where we
refuse; "-" means there is no peer. Rows whose exception is None must *return what torchvision
returns* (same values and dtype). ``ACCEPTED`` lists the boundary cases that must still work.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torchvision

from lecturelib import matching, ops, viz
from lecturelib.data import SyntheticShapes
from lecturelib.metrics import coco_evaluate, proposal_recall

NAN, INF = math.nan, math.inf
BOXES = torch.tensor([[0., 0, 10, 10], [5, 5, 20, 20]])
NAN_BOX = torch.tensor([[0., 0, NAN, 10]])
INVERTED = torch.tensor([[10., 0, 0, 10]])
FEATURES = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(0))
IMAGE = torch.zeros(3, 20, 20)


def target(**changes):
    return {"boxes": BOXES.clone(), "labels": torch.tensor([1, 2]), **changes}


def prediction(**changes):
    return {**target(), "scores": torch.tensor([0.9, 0.8]), **changes}


def coco(pred=None, truth=None):
    return coco_evaluate([pred or prediction()], [truth or target()])


def boxes_with(row):
    return torch.cat([BOXES[:1], torch.tensor([row], dtype=torch.float32)])


# id, call, exception (None: returns what torchvision returns), words in the message, the peer
CASES = [
    # --- matching: an IoU matrix is in [0, 1]
    ("match_proposals NaN IoU", lambda: matching.match_proposals(
        torch.tensor([[NAN, 0.2], [0.1, 0.9]]), 0.7, 0.3), ValueError, ["iou", "NaN"],
     "Matcher accepts: the NaN proposal is matched to ground truth 0 as a positive"),
    ("match_proposals IoU 1.5", lambda: matching.match_proposals(
        torch.tensor([[1.5, 0.2]]), 0.7, 0.3), ValueError, ["iou", "[0, 1]", "1.5"], "accepts"),
    ("match_proposals IoU -0.5", lambda: matching.match_proposals(
        torch.tensor([[-0.5, 0.2]]), 0.7, 0.3), ValueError, ["iou", "[0, 1]", "-0.5"], "accepts"),
    ("iou_label(nan)", lambda: matching.iou_label(NAN, 0.7, 0.3), ValueError,
     ["iou", "[0, 1]", "nan"], "- (was labelled -1, ignored)"),
    ("iou_label(1.2)", lambda: matching.iou_label(1.2, 0.7, 0.3), ValueError,
     ["iou", "[0, 1]"], "-"),
    ("iou_label('0.5')", lambda: matching.iou_label("0.5", 0.7, 0.3), ValueError,
     ["iou", "[0, 1]"], "-"),
    ("iou_label(tensor NaN)", lambda: matching.iou_label(torch.tensor([0.5, NAN]), 0.7, 0.3),
     ValueError, ["iou", "NaN", "index 1"], "-"),
    ("iou_label(tensor 2.0)", lambda: matching.iou_label(torch.tensor([0.5, 2.0]), 0.7, 0.3),
     ValueError, ["iou", "[0, 1]"], "-"),
    # --- coco_evaluate: which input, which image, which field
    ("coco NaN score", lambda: coco(prediction(scores=torch.tensor([NAN, 0.8]))), ValueError,
     ["predictions[0]['scores']", "NaN"], "pycocotools accepts: AP 1.0"),
    ("coco inf score", lambda: coco(prediction(scores=torch.tensor([0.9, INF]))), ValueError,
     ["predictions[0]['scores']", "infinite", "index 1"], "pycocotools accepts: AP 1.0"),
    ("coco NaN detection box", lambda: coco(prediction(boxes=boxes_with([0, 0, NAN, 10]))),
     ValueError, ["predictions[0]['boxes']", "NaN", "row 1"], "pycocotools accepts"),
    ("coco inverted detection box", lambda: coco(prediction(boxes=boxes_with([10, 0, 0, 10]))),
     ValueError, ["predictions[0]['boxes']", "x2 >= x1", "row 1"], "pycocotools accepts"),
    ("coco NaN ground-truth box", lambda: coco(truth=target(boxes=boxes_with([NAN, 0, 5, 10]))),
     ValueError, ["targets[0]['boxes']", "NaN"], "pycocotools accepts"),
    ("coco inverted ground-truth box",
     lambda: coco(truth=target(boxes=boxes_with([5, 25, 20, 20]))), ValueError,
     ["targets[0]['boxes']", "y2 >= y1", "row 1"], "pycocotools accepts: AP 1.0"),
    ("coco ground-truth label 0", lambda: coco(truth=target(labels=torch.tensor([0, 2]))),
     ValueError, ["targets[0]['labels']", "1..K", "background"], "pycocotools accepts"),
    ("coco detection label 0", lambda: coco(prediction(labels=torch.tensor([2, 0]))),
     ValueError, ["predictions[0]['labels']", "1..K", "entry 1"], "pycocotools accepts"),
    ("coco negative label", lambda: coco(truth=target(labels=torch.tensor([-1, 2]))),
     ValueError, ["targets[0]['labels']", "1..K", "-1"], "pycocotools accepts"),
    ("coco fractional label", lambda: coco(truth=target(labels=torch.tensor([1.5, 2.0]))),
     ValueError, ["targets[0]['labels']", "integer", "1.5"], "- (was truncated to 1)"),
    ("coco fractional detection label", lambda: coco(prediction(labels=np.array([1.0, 2.5]))),
     ValueError, ["predictions[0]['labels']", "integer", "2.5"], "- (was truncated to 2)"),
    ("coco string labels", lambda: coco(prediction(labels=np.array(["a", "b"]))),
     ValueError, ["predictions[0]['labels']", "numbers"], "-"),
    ("coco second image named", lambda: coco_evaluate(
        [prediction(), prediction(scores=torch.tensor([0.5, NAN]))], [target(), target()]),
     ValueError, ["predictions[1]['scores']"], "-"),
    # --- boxes
    ("box_convert NaN", lambda: ops.box_convert(NAN_BOX, "xyxy", "cxcywh"), ValueError,
     ["boxes", "NaN"], "accepts: NaN out"),
    ("box_convert x2 < x1", lambda: ops.box_convert(INVERTED, "xyxy", "xywh"), ValueError,
     ["boxes", "x2 >= x1"], "accepts: a negative width out"),
    ("box_convert xywh negative w", lambda: ops.box_convert(
        torch.tensor([[0., 0, -5, 10]]), "xywh", "xyxy"), ValueError,
     ["boxes", "w >= 0", "xywh"], "accepts: x2 < x1 out"),
    ("box_convert cxcywh inf", lambda: ops.box_convert(
        torch.tensor([[INF, 0, 5, 10]]), "cxcywh", "xyxy"), ValueError,
     ["boxes", "infinite"], "accepts"),
    ("clip_boxes_to_image NaN box", lambda: ops.clip_boxes_to_image(NAN_BOX, (20, 20)),
     ValueError, ["boxes", "NaN"], "accepts: NaN out"),
    ("clip_boxes_to_image x2 < x1", lambda: ops.clip_boxes_to_image(INVERTED, (20, 20)),
     ValueError, ["boxes", "x2 >= x1"], "accepts"),
    ("clip_boxes_to_image [.., 4] x2 < x1", lambda: ops.clip_boxes_to_image(
        torch.stack([BOXES, INVERTED.expand(2, 4)]), (20, 20)), ValueError,
     ["boxes", "x2 >= x1", "row 2"], "accepts"),
    ("clip_boxes_to_image size NaN", lambda: ops.clip_boxes_to_image(BOXES, (NAN, 20)),
     ValueError, ["size[0]", "height", "finite"], "accepts: NaN out"),
    ("clip_boxes_to_image size inf", lambda: ops.clip_boxes_to_image(BOXES, (20, INF)),
     ValueError, ["size[1]", "width", "finite"], "accepts"),
    ("clip_boxes_to_image size 'a'", lambda: ops.clip_boxes_to_image(BOXES, ("a", 20)),
     ValueError, ["size[0]", "number"], "TypeError inside torch.clamp"),
    ("clip_boxes_to_image size 'ab'", lambda: ops.clip_boxes_to_image(BOXES, "ab"),
     ValueError, ["size", "(height, width)"], "TypeError inside torch.clamp"),
    ("clip_boxes_to_image size None", lambda: ops.clip_boxes_to_image(BOXES, None),
     ValueError, ["size", "(height, width)"], "TypeError"),
    ("clip_boxes_to_image size negative", lambda: ops.clip_boxes_to_image(BOXES, (-1, 20)),
     ValueError, ["size[0]", ">= 0"], "accepts"),
    ("decode_boxes clip=nan", lambda: ops.decode_boxes(torch.zeros(2, 4), BOXES, clip=NAN),
     ValueError, ["clip", "finite"], "BoxCoder accepts: every box NaN"),
    ("decode_boxes clip=inf", lambda: ops.decode_boxes(torch.zeros(2, 4), BOXES, clip=INF),
     ValueError, ["clip", "finite"], "BoxCoder accepts (exp overflows to inf boxes)"),
    ("decode_boxes clip='4'", lambda: ops.decode_boxes(torch.zeros(2, 4), BOXES, clip="4"),
     ValueError, ["clip", "number"], "TypeError inside torch.clamp"),
    ("roi_pool x2 < x1", lambda: ops.roi_pool(FEATURES, torch.tensor([[0., 6, 0, 2, 4]]), 2),
     ValueError, ["boxes", "x2 >= x1", "RoI 0"], "accepts: pools one cell"),
    ("roi_pool y2 < y1 (list)", lambda: ops.roi_pool(FEATURES, [torch.tensor(
        [[0., 0, 4, 4], [0, 6, 2, 1]])], 2), ValueError, ["boxes", "y2 >= y1", "RoI 1"],
     "accepts: pools one cell"),
    ("roi_pool_bins x2 < x1", lambda: ops.roi_pool_bins(FEATURES, torch.tensor(
        [[0., 6, 0, 2, 4]]), 2), ValueError, ["boxes", "x2 >= x1"], "-"),
    ("box_area int64", lambda: ops.box_area(torch.tensor([[0, 0, 110421, 110425]])), None,
     lambda: torchvision.ops.box_area(torch.tensor([[0, 0, 110421, 110425]])),
     "returns int64 12193238925 (was float32 12193239040)"),
    ("box_area uint8", lambda: ops.box_area(torch.tensor([[0, 0, 3, 4]], dtype=torch.uint8)),
     None, lambda: torchvision.ops.box_area(torch.tensor([[0, 0, 3, 4]], dtype=torch.uint8)),
     "returns int32"),
    ("box_area int32", lambda: ops.box_area(torch.tensor([[0, 0, 3, 4]], dtype=torch.int32)),
     None, lambda: torchvision.ops.box_area(torch.tensor([[0, 0, 3, 4]], dtype=torch.int32)),
     "returns int32"),
    # --- proposal metrics
    ("proposal_recall iou_threshold 1.5", lambda: proposal_recall([BOXES], [BOXES], 1.5),
     ValueError, ["iou_threshold", "[0, 1]", "1.5"], "- (was recall 0.0)"),
    ("proposal_recall iou_threshold NaN", lambda: proposal_recall([BOXES], [BOXES], NAN),
     ValueError, ["iou_threshold", "[0, 1]", "nan"], "- (was recall 0.0)"),
    ("proposal_recall NaN proposal", lambda: proposal_recall([BOXES, NAN_BOX], [BOXES, BOXES]),
     ValueError, ["proposals[1]", "NaN", "row 0"], "- (refused before, without the row)"),
    ("proposal_recall inverted ground truth", lambda: proposal_recall([BOXES], [INVERTED]),
     ValueError, ["gt_boxes[0]", "x2 >= x1"], "- (refused before, without the row)"),
    # --- the synthetic data set, refused when made (not when first indexed)
    ("SyntheticShapes num_images 2.7", lambda: SyntheticShapes("val", num_images=2.7),
     ValueError, ["num_images", "int"], "- (was truncated to 2)"),
    ("SyntheticShapes num_images 'abc'", lambda: SyntheticShapes("val", num_images="abc"),
     ValueError, ["num_images", "int", "'abc'"], "- (was int()'s message, no name)"),
    ("SyntheticShapes num_images NaN", lambda: SyntheticShapes("val", num_images=NAN),
     ValueError, ["num_images", "int", "nan"], "-"),
    ("SyntheticShapes num_images -1", lambda: SyntheticShapes("val", num_images=-1),
     ValueError, ["num_images", ">= 0"], "-"),
    ("SyntheticShapes image_size -5", lambda: SyntheticShapes("val", 2, image_size=-5),
     ValueError, ["image_size", ">= 16"], "- (was accepted, failed when indexed)"),
    ("SyntheticShapes image_size 64.5", lambda: SyntheticShapes("val", 2, image_size=64.5),
     ValueError, ["image_size", "int"], "- (was truncated to 64)"),
    ("SyntheticShapes seed -3", lambda: SyntheticShapes("val", 2, seed=-3),
     ValueError, ["seed", ">= 0"], "- (failed when indexed)"),
    # --- drawing
    ("draw_boxes labels too short", lambda: viz.draw_boxes(None, BOXES, labels=[1]),
     ValueError, ["labels", "1 entries", "boxes has 2"], "- (was IndexError)"),
    ("draw_boxes scores too long", lambda: viz.draw_boxes(None, BOXES, scores=[.5, .4, .3]),
     ValueError, ["scores", "3 entries", "boxes has 2"], "- (scores were ignored)"),
    ("draw_boxes captions too short", lambda: viz.draw_boxes(None, BOXES, captions=["a"]),
     ValueError, ["captions", "boxes has 2"], "- (was IndexError)"),
    ("draw_boxes colours too short", lambda: viz.draw_boxes(None, BOXES, color=["red"]),
     ValueError, ["color", "boxes has 2"], "- (was IndexError)"),
    ("draw_boxes NaN box", lambda: viz.draw_boxes(None, NAN_BOX), ValueError,
     ["boxes", "NaN"], "- (was drawn silently)"),
    ("draw_boxes x2 < x1", lambda: viz.draw_boxes(None, INVERTED), ValueError,
     ["boxes", "x2 >= x1"], "- (was drawn silently)"),
    ("draw_boxes [N, 5]", lambda: viz.draw_boxes(None, torch.zeros(4, 5)), ValueError,
     ["boxes", "[N, 4]"], "- (was reshaped into 5 wrong boxes)"),
    ("draw_boxes NaN score", lambda: viz.draw_boxes(None, BOXES, scores=[0.5, NAN]),
     ValueError, ["scores", "NaN"], "- (captioned 'nan')"),
    ("draw_boxes label beyond class_names", lambda: viz.draw_boxes(
        None, BOXES, labels=[1, 4], class_names=("bg", "a", "b")), ValueError,
     ["labels", "class_names"], "- (was IndexError)"),
    ("draw_masks labels too short", lambda: viz.draw_masks(None, np.zeros((2, 4, 4)), [1]),
     ValueError, ["labels", "masks has 2"], "- (was IndexError)"),
    ("draw_masks NaN", lambda: viz.draw_masks(None, np.full((1, 4, 4), NAN)), ValueError,
     ["masks", "NaN"], "- (drew nothing)"),
    ("draw_masks [H, W]", lambda: viz.draw_masks(None, np.zeros((4, 4))), ValueError,
     ["masks", "[N, H, W]"], "-"),
    ("draw_grid NaN height", lambda: viz.draw_grid(None, NAN, 3), ValueError,
     ["height", "int"], "- (was TypeError from range)"),
    ("draw_grid 2.5 width", lambda: viz.draw_grid(None, 2, 2.5), ValueError,
     ["width", "int"], "- (was TypeError from range)"),
    ("draw_grid negative height", lambda: viz.draw_grid(None, -2, 3), ValueError,
     ["height", ">= 0"], "- (drew stray lines)"),
    ("draw_grid cell 0", lambda: viz.draw_grid(None, 2, 3, cell=0), ValueError,
     ["cell", "> 0"], "-"),
    ("display_instances labels too short", lambda: viz.display_instances(
        IMAGE, target(labels=torch.tensor([1]))), ValueError,
     ["instances['labels']", "instances['boxes'] has 2"], "- (was IndexError)"),
    ("display_instances scores too short", lambda: viz.display_instances(
        IMAGE, prediction(scores=torch.tensor([0.5]))), ValueError,
     ["instances['scores']", "instances['boxes'] has 2"], "- (was IndexError)"),
    ("display_instances masks too short", lambda: viz.display_instances(
        IMAGE, target(masks=torch.zeros(1, 20, 20))), ValueError,
     ["instances['masks']", "one per box"], "- (was IndexError)"),
    ("display_instances NaN box", lambda: viz.display_instances(
        IMAGE, target(boxes=boxes_with([0, NAN, 5, 5]))), ValueError,
     ["instances['boxes']", "NaN"], "- (was drawn silently)"),
    ("display_instances x2 < x1", lambda: viz.display_instances(
        IMAGE, target(boxes=boxes_with([10, 0, 0, 5]))), ValueError,
     ["instances['boxes']", "x2 >= x1"], "- (was drawn silently)"),
    ("display_instances without boxes", lambda: viz.display_instances(
        IMAGE, {"labels": torch.tensor([1])}), ValueError,
     ["instances", "'boxes'"], "- (was KeyError: 'boxes')"),
]


@pytest.mark.parametrize("call, exception, words, peer", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_bad_input(call, exception, words, peer):
    if exception is None:                     # supported as torchvision supports it
        ours, theirs = call(), words()
        assert ours.dtype == theirs.dtype and torch.equal(ours, theirs), (ours, theirs)
        return
    with pytest.raises(exception) as caught:
        call()
    message = str(caught.value)
    missing = [w for w in words if w not in message]
    assert not missing, f"message {message!r} lacks {missing}"


ACCEPTED = [   # boundary cases that stay valid: the checks refuse only what is wrong
    lambda: matching.match_proposals(torch.tensor([[0.0, 1.0]]), 0.7, 0.3),
    lambda: matching.match_proposals(torch.zeros(0, 3), 0.7, 0.3),
    lambda: matching.iou_label(torch.tensor([0.0, 1.0]), 0.7, 0.3),
    lambda: matching.iou_label(np.float32(1.0), 0.7, 0.3),
    lambda: coco(truth=target(labels=np.array([1.0, 2.0]))),            # whole floats
    lambda: coco(prediction(boxes=torch.tensor([[0., 0, 0, 0], [5, 5, 20, 20]]))),  # empty box
    lambda: coco_evaluate([prediction(boxes=torch.zeros(0, 4), labels=torch.zeros(0),
                                      scores=torch.zeros(0))], [target()]),
    lambda: ops.box_convert(torch.tensor([[3., 3, 3, 3]]), "xyxy", "cxcywh"),
    lambda: ops.box_convert(torch.zeros(0, 4), "xywh", "xyxy"),
    lambda: ops.clip_boxes_to_image(BOXES, (torch.tensor(12), 7.5)),
    lambda: ops.clip_boxes_to_image(BOXES.long(), (12, 7)),
    lambda: ops.decode_boxes(torch.zeros(2, 4), BOXES, clip=2),
    lambda: ops.roi_pool(FEATURES, torch.tensor([[0., 3, 3, 3, 3]]), 2),  # zero size: one cell
    lambda: proposal_recall([BOXES], [BOXES], 1),
    lambda: SyntheticShapes("val", num_images=np.int64(3), image_size=16),
    lambda: viz.draw_boxes(None, BOXES, color=(1.0, 0.5, 0.0)),           # one RGB colour
    lambda: viz.draw_boxes(None, [0, 0, 4, 4], captions=["one box"]),     # one box as [4]
    lambda: viz.draw_boxes(None, torch.zeros(0, 4), captions=[]),
    lambda: viz.draw_grid(None, 0, 3),
    lambda: viz.display_instances(IMAGE, prediction(masks=torch.rand(2, 1, 20, 20)),
                                  score_threshold=0.85),
]


@pytest.mark.parametrize("call", ACCEPTED)
def test_still_accepted(call):
    call()


def test_clip_keeps_values_and_dtype():
    """The size check returns ints as ints: integer boxes stay integer, as in torchvision."""
    boxes = torch.tensor([[-3, 2, 30, 9]])
    ours = ops.clip_boxes_to_image(boxes, (8, 20))
    theirs = torchvision.ops.clip_boxes_to_image(boxes, (8, 20))
    assert ours.dtype == theirs.dtype and torch.equal(ours, theirs)
