"""Bad input gets a ValueError that names the argument — never a crash, a hang or a NaN."""
import pytest
import torch

from lecturelib import ops

GOOD = torch.tensor([[0, 0, 10, 10], [5, 5, 15, 15.]])
SCORES = torch.tensor([0.9, 0.8])
NAN = torch.tensor([[0, 0, float("nan"), 10.]])
INF = torch.tensor([[0, 0, float("inf"), 10.]])
INVERTED = torch.tensor([[10, 0, 0, 10.]])


@pytest.mark.parametrize("backend", ["reference", "cpu", "triton"])
@pytest.mark.parametrize("bad, message", [
    (torch.zeros(3, 5), r"boxes1 must have shape \[N, 4\]"),
    (torch.zeros(4), r"boxes1 must have shape \[N, 4\]"),
    (NAN, "boxes1 contains NaN or infinite"),
    (INF, "boxes1 contains NaN or infinite"),
    (INVERTED, "boxes1 must have x2 >= x1"),
    ([[0, 0, 1, 1]], "boxes1 must be a torch.Tensor"),
])
def test_box_iou_rejects(backend, bad, message):
    with pytest.raises(ValueError, match=message):
        ops.box_iou(bad, GOOD, backend=backend)


@pytest.mark.parametrize("call, message", [
    (lambda: ops.box_iou(GOOD, INVERTED), "boxes2 must have x2 >= x1"),
    (lambda: ops.box_iou(GOOD, GOOD, backend="gpu"), "backend must be one of"),
    (lambda: ops.nms(GOOD, SCORES[:1], 0.5), "scores has 1 entries but boxes has 2"),
    (lambda: ops.nms(GOOD.long(), SCORES, 0.5), "boxes must be a floating-point tensor"),
    (lambda: ops.nms(GOOD, torch.tensor([1, 2]), 0.5), "scores must be a floating-point"),
    (lambda: ops.nms(GOOD, torch.tensor([0.5, float("nan")]), 0.5), "scores contains NaN"),
    (lambda: ops.nms(NAN, SCORES[:1], 0.5), "boxes contains NaN"),
    (lambda: ops.nms(INVERTED, SCORES[:1], 0.5), "boxes must have x2 >= x1"),
    (lambda: ops.nms(GOOD, SCORES, 1.5), r"iou_threshold must be in \[0, 1\]"),
    (lambda: ops.nms(GOOD, SCORES, -0.1), r"iou_threshold must be in \[0, 1\]"),
    (lambda: ops.nms(GOOD, SCORES, float("nan")), r"iou_threshold must be in \[0, 1\]"),
    (lambda: ops.nms(GOOD, SCORES, "0.5"), "iou_threshold must be a number"),
    (lambda: ops.nms(GOOD, SCORES.reshape(2, 1), 0.5), r"scores must have shape \[N\]"),
    (lambda: ops.batched_nms(GOOD, SCORES, torch.tensor([0]), 0.5), "idxs has 1 entries"),
    (lambda: ops.batched_nms(GOOD, SCORES, torch.tensor([0.0, 1.0]), 0.5), "idxs must be an integer"),
    (lambda: ops.encode_boxes(GOOD, GOOD[:1]), "reference_boxes has 2 boxes but proposals has 1"),
    (lambda: ops.encode_boxes(GOOD, torch.tensor([[0, 0, 0, 1.], [0, 0, 1, 1]])),
     "proposals must have positive width and height"),
    (lambda: ops.encode_boxes(GOOD, GOOD, weights=(1, 1, 0, 1)), "weights must be 4 positive"),
    (lambda: ops.decode_boxes(torch.zeros(2, 5), GOOD), r"deltas must have shape \[N, 4k\]"),
    (lambda: ops.decode_boxes(torch.full((2, 4), float("inf")), GOOD), "deltas contains NaN"),
    (lambda: ops.decode_boxes(torch.zeros(2, 4, dtype=torch.int64), GOOD), "deltas must be a floating"),
    (lambda: ops.decode_boxes(torch.zeros(3, 4), GOOD), "deltas has 3 rows but boxes has 2"),
    (lambda: ops.box_convert(GOOD, "xyxy", "yxyx"), "out_fmt must be one of"),
    (lambda: ops.clip_boxes_to_image(GOOD, (10,)), r"size must be \(height, width\)"),
    (lambda: ops.remove_small_boxes(GOOD, -1), "min_size must be a non-negative"),
])
def test_ops_reject_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()
