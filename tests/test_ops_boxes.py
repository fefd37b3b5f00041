"""box_iou, box_area, box_convert, clip/remove-small and the box coder against torchvision,
on every path (plain loops, CPU, Triton under the interpreter)."""
import math

import pytest
import torch
import torchvision
from torchvision.models.detection._utils import BoxCoder

from lecturelib import ops
from lecturelib.ops.reference import decode_boxes_reference, encode_boxes_reference

from full_size import on_device, size  # tests/full_size.py: the GPU check's switch

BACKENDS = ["reference", "cpu", "triton"]


def random_boxes(n, seed, scale=100.0, dtype=torch.float32, min_size=0.0):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g, dtype=torch.float64) * scale
    wh = torch.rand(n, 2, generator=g, dtype=torch.float64) * scale / 2 + min_size
    return torch.cat([xy, xy + wh], dim=1).to(dtype)


def tv_iou(a, b):
    """torchvision's IoU with its 0/0 = NaN replaced by our documented 0."""
    return torchvision.ops.box_iou(a, b).nan_to_num(nan=0.0)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("seed", range(4))
def test_box_iou_random_equals_torchvision(backend, seed):
    a = random_boxes(size(backend, 23 + seed, 3000 + seed), seed)
    b = random_boxes(size(backend, 41, 2000), 100 + seed)
    a, b = on_device(backend, a, b)
    ours, theirs = ops.box_iou(a, b, backend=backend), tv_iou(a, b)
    assert ours.shape == (len(a), len(b)) and ours.dtype == theirs.dtype
    if backend == "reference":  # computed in Python floats: equal up to float32 rounding
        torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-7)
    else:
        assert torch.equal(ours, theirs), \
            f"max |ours - theirs| {(ours - theirs).abs().max().item():.3g}, " \
            f"{(ours != theirs).sum().item()} of {ours.numel()} differ"


@pytest.mark.parametrize("backend", BACKENDS)
def test_box_iou_adversarial(backend):
    boxes = torch.tensor([
        [0, 0, 10, 10], [0, 0, 10, 10],      # identical: IoU 1
        [10, 0, 20, 10],                     # touching edge: IoU 0
        [5, 5, 5, 5], [5, 5, 5, 5],          # zero area, same point: 0 (torchvision: NaN)
        [0, 0, 10, 5],                       # half of the first: IoU exactly 0.5
        [-50, -50, 1e4, 1e4],                # huge, negative corner
    ], dtype=torch.float32)
    boxes = on_device(backend, boxes)
    ours = ops.box_iou(boxes, boxes, backend=backend)
    assert not ours.isnan().any()
    torch.testing.assert_close(ours, tv_iou(boxes, boxes), rtol=1e-6, atol=0)
    assert ours[0, 1] == 1 and ours[0, 2] == 0 and ours[3, 4] == 0 and ours[0, 5] == 0.5


@pytest.mark.parametrize("backend", BACKENDS)
def test_box_iou_empty_and_one(backend):
    one, empty = on_device(backend, random_boxes(1, 0), torch.zeros(0, 4))
    assert ops.box_iou(empty, one, backend=backend).shape == (0, 1)
    assert ops.box_iou(one, empty, backend=backend).shape == (1, 0)
    assert ops.box_iou(one, one, backend=backend).item() == pytest.approx(1.0)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64, torch.int64])
def test_box_iou_dtypes(backend, dtype):
    """Output dtype as torchvision's (float32 for half/int, float64 stays). Half boxes are upcast
    *before* any arithmetic, so the values are those of torchvision on float32 boxes (torchvision
    itself subtracts the corners in half precision first, off by up to ~1e-3)."""
    a, b = on_device(backend, random_boxes(9, 1).to(dtype), random_boxes(7, 2).to(dtype))
    ours = ops.box_iou(a, b, backend=backend)
    assert ours.dtype == torchvision.ops.box_iou(a, b).dtype
    up = torch.float64 if dtype == torch.float64 else torch.float32
    torch.testing.assert_close(ours, tv_iou(a.to(up), b.to(up)), rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(ours, tv_iou(a, b), rtol=0, atol=2e-3)


def test_box_iou_gradient_equals_torchvision():
    a = random_boxes(6, 3, dtype=torch.float64).requires_grad_()
    b = random_boxes(5, 4, dtype=torch.float64).requires_grad_()
    w = torch.randn(6, 5, dtype=torch.float64)
    ga = torch.autograd.grad((ops.box_iou(a, b) * w).sum(), (a, b))
    gt = torch.autograd.grad((torchvision.ops.box_iou(a, b) * w).sum(), (a, b))
    for x, y in zip(ga, gt):
        torch.testing.assert_close(x, y)
    assert torch.autograd.gradcheck(lambda p, q: ops.box_iou(p, q), (a, b))


def test_box_area_and_convert():
    boxes = random_boxes(20, 5)
    assert torch.equal(ops.box_area(boxes), torchvision.ops.box_area(boxes))
    for fmt_in in ("xyxy", "xywh", "cxcywh"):
        for fmt_out in ("xyxy", "xywh", "cxcywh"):
            x = torchvision.ops.box_convert(boxes, "xyxy", fmt_in)
            torch.testing.assert_close(ops.box_convert(x, fmt_in, fmt_out),
                                       torchvision.ops.box_convert(x, fmt_in, fmt_out))


def test_clip_and_remove_small_boxes():
    boxes = random_boxes(30, 6, scale=200) - 50
    boxes = torch.cat([boxes[:, :2], torch.maximum(boxes[:, 2:], boxes[:, :2])], 1)
    assert torch.equal(ops.clip_boxes_to_image(boxes, (90, 120)),
                       torchvision.ops.clip_boxes_to_image(boxes, (90, 120)))
    batched = boxes.reshape(3, 10, 4)
    assert torch.equal(ops.clip_boxes_to_image(batched, (90, 120)),
                       torchvision.ops.clip_boxes_to_image(batched, (90, 120)))
    for min_size in (0.0, 10.0, 40.0, 1e9):
        assert torch.equal(ops.remove_small_boxes(boxes, min_size),
                           torchvision.ops.remove_small_boxes(boxes, min_size))


@pytest.mark.parametrize("weights", [(1.0, 1.0, 1.0, 1.0), (10.0, 10.0, 5.0, 5.0)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_box_coder_equals_torchvision(weights, dtype):
    proposals = random_boxes(50, 7, dtype=dtype, min_size=1.0)
    targets = random_boxes(50, 8, dtype=dtype, min_size=1.0)
    coder = BoxCoder(weights)
    deltas = ops.encode_boxes(targets, proposals, weights)
    assert torch.equal(deltas, coder.encode_single(targets, proposals))
    torch.testing.assert_close(encode_boxes_reference(targets, proposals, weights), deltas)
    # class-specific deltas, [N, 4K], as the box head predicts them; some huge dw/dh to clamp
    rel = torch.randn(50, 12, generator=torch.Generator().manual_seed(9), dtype=dtype) * 3
    rel[:5, 2] = 50.0
    decoded = ops.decode_boxes(rel, proposals, weights)
    assert torch.equal(decoded, coder.decode_single(rel, proposals))
    torch.testing.assert_close(decode_boxes_reference(rel, proposals, weights), decoded)
    assert torch.isfinite(decoded).all()
    # the round trip returns the targets
    torch.testing.assert_close(ops.decode_boxes(deltas, proposals, weights), targets,
                               rtol=1e-5, atol=1e-4)


def test_decode_clamp_value_is_torchvisions():
    assert ops.box_coder.BBOX_XFORM_CLIP == BoxCoder((1, 1, 1, 1)).bbox_xform_clip
    assert ops.box_coder.BBOX_XFORM_CLIP == pytest.approx(math.log(1000 / 16))
