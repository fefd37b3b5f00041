"""Property-based checks (hypothesis) of every public op against torchvision / torch: for every
path (reference, cpu, triton where the op has a kernel) × dtype × requires_grad, on generated
boxes, RoIs, feature maps and kernels — the values, the dtype, and (with requires_grad) that the
result is never silently detached and that its gradient is torchvision's.

Examples are deterministic (``derandomize=True``) and tiny: the Triton kernels run under the
interpreter at ~12–15 ms a program, so their cases are few and their grids a handful of programs.
Coordinates are multiples of 1/4 in a small range, exact in float16 and bfloat16, so every dtype
sees the same boxes and ties (equal corners, equal maxima, IoU at a threshold) are common.

Where torchvision refuses a dtype on the CPU (nms on half precision, roi_pool / roi_align on
bfloat16) or computes it differently from our documented rule (box_iou upcasts half boxes before
any arithmetic, roi_pool / roi_align compute half precision in float32), the peer is torchvision
on the float32 copy, cast back to the dtype we promise.
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
import torchvision
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torchvision.models.detection._utils import BoxCoder

from lecturelib import ops

from full_size import on_device  # tests/full_size.py: the GPU check's switch

FLOATS = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
HALF = (torch.float16, torch.bfloat16)
# (rtol, atol) per dtype for values computed in a different order (loops vs vectorised)
TOL = {torch.float64: (1e-9, 1e-9), torch.float32: (1e-5, 1e-5),
       torch.float16: (1e-2, 1e-2), torch.bfloat16: (2e-2, 2e-2)}


def examples(backend: str | None) -> int:
    """Few cases on the Triton interpreter, more where a case costs a millisecond. The first
    case hypothesis tries is the simplest (often no box at all)."""
    return 3 if backend == "triton" else 8


def settings_for(backend: str | None):
    return settings(max_examples=examples(backend), derandomize=True, deadline=None,
                    database=None, suppress_health_check=list(HealthCheck))


def quarters(lo: int, hi: int):
    """Multiples of 1/4 in [lo, hi]: exact in every float dtype used here."""
    return st.integers(4 * lo, 4 * hi).map(lambda v: v / 4)


@st.composite
def box_lists(draw, max_n=4, min_size=0.0, n=None):
    """Float64 Tensor[N, 4] of valid boxes (x2 >= x1, y2 >= y1), corners in [-2, 16]; ``n``
    boxes, or 0 to ``max_n``."""
    n = draw(st.integers(0, max_n)) if n is None else n
    rows = []
    for _ in range(n):
        x1, y1 = draw(quarters(-2, 6)), draw(quarters(-2, 6))
        w, h = draw(quarters(0, 10)), draw(quarters(0, 10))
        rows.append([x1, y1, x1 + max(w, min_size), y1 + max(h, min_size)])
    return torch.tensor(rows, dtype=torch.float64).reshape(n, 4)


def weights_like(t: torch.Tensor) -> torch.Tensor:
    """A fixed, uneven upstream gradient: a wrong permutation or a lost term shows."""
    return (torch.arange(t.numel(), dtype=torch.float64) % 7 - 3).reshape(t.shape).to(t)


def check(ours_fn, theirs_fn, leaves, requires_grad, dtype, rtol=0.0, atol=0.0,
          grad_tol=None, expect_grad=None):
    """Run both on the same leaves; compare values and dtype; with ``requires_grad`` the result
    must carry a gradient (``expect_grad``: of these leaves) equal to torchvision's."""
    leaves = [t.detach().requires_grad_(requires_grad) for t in leaves]
    ours, theirs = ours_fn(*leaves), theirs_fn(*leaves)
    assert ours.dtype == dtype, f"dtype {ours.dtype}, expected {dtype}"
    assert ours.shape == theirs.shape
    torch.testing.assert_close(ours.detach().cpu().double(), theirs.detach().cpu().double(),
                               rtol=rtol, atol=atol, equal_nan=False)
    if not requires_grad:
        assert not ours.requires_grad
        return leaves, None
    assert ours.requires_grad and ours.grad_fn is not None, "result silently detached"
    wanted = [leaves[i] for i in (expect_grad if expect_grad is not None else range(len(leaves)))]
    g = weights_like(ours)
    grads = torch.autograd.grad(ours, wanted, g, allow_unused=True)
    peers = torch.autograd.grad(theirs, wanted, g.to(theirs), allow_unused=True)
    rtol_g, atol_g = grad_tol or (rtol, atol)
    for mine, peer in zip(grads, peers):
        assert mine is not None, "no gradient where torchvision has one"
        torch.testing.assert_close(mine.cpu().double(), peer.cpu().double(),
                                   rtol=rtol_g, atol=atol_g)
    return leaves, grads


def cast(backend, dtype, *tensors):
    moved = on_device(backend, *[t.to(dtype) for t in tensors])
    return moved if isinstance(moved, tuple) else (moved,)


# ---------------------------------------------------------------------------------------------
# box_iou, nms, batched_nms
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("requires_grad", [False, True])
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("backend", ["reference", "cpu", "triton"])
def test_box_iou(backend, dtype, requires_grad):
    @settings_for(backend)
    @given(a=box_lists(min_size=0.25 if requires_grad else 0.0),
           b=box_lists(min_size=0.25 if requires_grad else 0.0))
    def run(a, b):
        a, b = cast(backend, dtype, a, b)
        up = torch.float64 if dtype == torch.float64 else torch.float32
        # torchvision on the upcast boxes; its 0 / 0 = NaN is our documented 0
        check(lambda p, q: ops.box_iou(p, q, backend=backend),
              lambda p, q: torchvision.ops.box_iou(p.to(up), q.to(up)).nan_to_num(0.0),
              [a, b], requires_grad, up, *TOL[up])
    run()


def test_box_iou_mixed_precision_promotes():
    """float32 × float64 -> float64 on every path, as torch promotes (and values agree)."""
    @settings_for("triton")
    @given(a=box_lists(), b=box_lists())
    def run(a, b):
        for backend in ("reference", "cpu", "triton"):
            p, q = on_device(backend, a.float(), b)
            out = ops.box_iou(p, q, backend=backend)
            assert out.dtype == torch.float64
            torch.testing.assert_close(out.cpu(), torchvision.ops.box_iou(
                a.float().double(), b).nan_to_num(0.0), rtol=1e-9, atol=1e-9)
    run()


@st.composite
def nms_cases(draw):
    boxes = draw(box_lists(max_n=6))
    n = len(boxes)
    # distinct scores, exact in half precision: a permutation of k / 8
    order = draw(st.permutations(range(n)))
    scores = torch.tensor([k / 8 for k in order], dtype=torch.float64)
    classes = torch.tensor(draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)),
                           dtype=torch.int64)
    threshold = draw(st.sampled_from([0.0, 0.25, 0.5, 0.7, 1.0]))
    return boxes, scores, classes, threshold


@pytest.mark.parametrize("requires_grad", [False, True])
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("backend", ["reference", "cpu", "triton"])
@pytest.mark.parametrize("batched", [False, True], ids=["nms", "batched_nms"])
def test_nms(batched, backend, dtype, requires_grad):
    """Indices (int64, no gradient) equal torchvision's; half precision is computed in float32
    (torchvision refuses it on the CPU), so its peer is torchvision on the float32 copy."""
    @settings_for(backend)
    @given(case=nms_cases())
    def run(case):
        boxes, scores, classes, threshold = case
        boxes, scores = cast(backend, dtype, boxes, scores)
        boxes.requires_grad_(requires_grad)
        scores.requires_grad_(requires_grad)
        classes = on_device(backend, classes)
        up = torch.float32 if dtype in HALF else dtype
        b, s = boxes.detach().cpu().to(up), scores.detach().cpu().to(up)
        if batched:
            ours = ops.batched_nms(boxes, scores, classes, threshold, backend=backend)
            theirs = torchvision.ops.batched_nms(b, s, classes.cpu(), threshold)
        else:
            ours = ops.nms(boxes, scores, threshold, backend=backend)
            theirs = torchvision.ops.nms(b, s, threshold)
        assert ours.dtype == torch.int64 and not ours.requires_grad
        assert torch.equal(ours.cpu(), theirs)
    run()


# ---------------------------------------------------------------------------------------------
# roi_pool, roi_align
# ---------------------------------------------------------------------------------------------
@st.composite
def roi_cases(draw, aligned_options=(False,)):
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 6)), draw(st.integers(1, 6))
    # small integers / 2: exact in every dtype, and equal maxima (ties) are frequent
    values = draw(st.lists(st.integers(-4, 4), min_size=n * c * h * w, max_size=n * c * h * w))
    x = torch.tensor(values, dtype=torch.float64).reshape(n, c, h, w) / 2
    boxes = draw(box_lists(max_n=2))
    index = torch.tensor(draw(st.lists(st.integers(0, n - 1), min_size=len(boxes),
                                       max_size=len(boxes))), dtype=torch.float64)
    rois = torch.cat([index[:, None], boxes], dim=1)
    output_size = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    scale = draw(st.sampled_from([1.0, 0.5, 0.25]))
    sampling_ratio = draw(st.sampled_from([-1, 0, 1, 2]))
    aligned = draw(st.sampled_from(aligned_options))
    return x, rois, output_size, scale, sampling_ratio, aligned


@pytest.mark.parametrize("requires_grad", [False, True])
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("backend", ["reference", "cpu", "triton"])
def test_roi_pool(backend, dtype, requires_grad):
    """Values, dtype and the input's gradient (to the first maximum of each bin) equal
    torchvision's; the boxes get no gradient on any path (nor in torchvision)."""
    @settings_for(backend)
    @given(case=roi_cases())
    def run(case):
        x, rois, output_size, scale, _, _ = case
        x, rois = cast(backend, dtype, x, rois)
        up = torch.float32 if dtype == torch.bfloat16 else dtype   # torchvision: no bf16 here

        def theirs(x, rois):
            return torchvision.ops.roi_pool(x.to(up), rois.to(up), output_size,
                                            scale).to(dtype)
        check(lambda x, rois: ops.roi_pool(x, rois, output_size, scale, backend=backend),
              theirs, [x, rois], requires_grad, dtype, expect_grad=[0])
        if requires_grad:   # the boxes: no gradient, as torchvision
            r = rois.detach().requires_grad_()
            ops.roi_pool(x.detach().requires_grad_(), r, output_size, scale,
                         backend=backend).sum().backward()
            assert r.grad is None
    run()


@pytest.mark.parametrize("requires_grad", [False, True])
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("backend", ["reference", "cpu", "triton"])
def test_roi_align(backend, dtype, requires_grad):
    """Values, dtype and the input's gradient equal torchvision's (half precision: ours is
    computed in float32, so its peer is torchvision on the float32 copy). The boxes' gradient,
    which torchvision does not give, agrees between our paths."""
    @settings_for(backend)
    @given(case=roi_cases(aligned_options=(False, True)))
    def run(case):
        x, rois, output_size, scale, sampling_ratio, aligned = case
        x, rois = cast(backend, dtype, x, rois)
        up = torch.float32 if dtype in HALF else dtype
        args = (output_size, scale, sampling_ratio, aligned)

        def theirs(x, rois):
            return torchvision.ops.roi_align(x.to(up), rois.to(up), *args).to(dtype)
        tol = TOL[torch.float32] if dtype in HALF else TOL[dtype]
        check(lambda x, rois: ops.roi_align(x, rois, *args, backend=backend), theirs,
              [x, rois], requires_grad, dtype, *tol, expect_grad=[0])
        if requires_grad and dtype in (torch.float32, torch.float64) and len(rois):
            other = "cpu" if backend == "reference" else "reference"
            grads = []
            for path in (backend, other):
                r = on_device(path, rois).detach().requires_grad_()
                out = ops.roi_align(on_device(path, x).detach(), r, *args, backend=path)
                grads.append(torch.autograd.grad(out, r, weights_like(out).to(out))[0].cpu())
            assert grads[0] is not None
            torch.testing.assert_close(grads[0], grads[1], rtol=1e-4,
                                       atol=1e-4 if dtype == torch.float32 else 1e-9)
    run()


def test_rois_beyond_the_integer_range_are_refused():
    """[0, 0, 0, 1e30, 1e30]: torchvision's int32 corners overflow (its answer is undefined);
    every path refuses it in the public entry, and ±2^30 cells is still accepted."""
    x = torch.rand(1, 2, 5, 5)
    for backend in ("reference", "cpu", "triton"):
        for far in (1e30, 3e9, -2.0 ** 31):
            rois = torch.tensor([[0, 0, 0, far, far]]) if far > 0 else \
                torch.tensor([[0, far, far, 1, 1]])
            for op in (ops.roi_pool, ops.roi_align):
                with pytest.raises(ValueError, match="2\\^30"):
                    op(x, rois, 2, backend=backend)
        edge = torch.tensor([[0, 0, 0, 2.0 ** 30, 2.0 ** 30]])
        assert torch.equal(ops.roi_pool(x, edge, 2, backend=backend),
                           torchvision.ops.roi_pool(x, edge, 2))
        with pytest.raises(ValueError, match="2\\^30"):   # the limit is on the map: × scale
            ops.roi_align(x, edge, 2, spatial_scale=2.0, sampling_ratio=1, backend=backend)


# ---------------------------------------------------------------------------------------------
# conv2d, conv_transpose2d
# ---------------------------------------------------------------------------------------------
@st.composite
def conv_cases(draw, transposed):
    groups = draw(st.integers(1, 2))
    c, o = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    if transposed:   # any input size; padding may crop at most what the stamps make
        h, w = draw(st.integers(1, 4)), draw(st.integers(1, 4))
        padding = tuple(draw(st.integers(0, min(1, ((n - 1) * s + d * (k - 1)) // 2)))
                        for n, s, d, k in zip((h, w), stride, dilation, (kh, kw)))
    else:            # the (dilated) kernel must fit the padded input
        padding = (draw(st.integers(0, 1)), draw(st.integers(0, 1)))
        h = draw(st.integers(max(1, dilation[0] * (kh - 1) + 1 - 2 * padding[0]), 5))
        w = draw(st.integers(max(1, dilation[1] * (kw - 1) + 1 - 2 * padding[1]), 5))
    x = torch.tensor(draw(st.lists(st.integers(-4, 4), min_size=c * h * w,
                                   max_size=c * h * w)), dtype=torch.float64).reshape(1, c, h, w)
    shape = (c, o // groups, kh, kw) if transposed else (o, c // groups, kh, kw)
    n_w = math.prod(shape)
    weight = torch.tensor(draw(st.lists(st.integers(-4, 4), min_size=n_w, max_size=n_w)),
                          dtype=torch.float64).reshape(shape) / 4
    bias = draw(st.one_of(st.none(), st.just(torch.arange(o, dtype=torch.float64) / 4 - 0.5)))
    extra = {}
    if transposed:   # output_padding < max(stride, dilation)
        extra["output_padding"] = tuple(draw(st.integers(0, max(s, d) - 1))
                                        for s, d in zip(stride, dilation))
    return x, weight, bias, dict(stride=stride, padding=padding, dilation=dilation,
                                 groups=groups, **extra)


@pytest.mark.parametrize("requires_grad", [False, True])
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("backend", ["reference", "cpu", "triton"])
@pytest.mark.parametrize("transposed", [False, True], ids=["conv2d", "conv_transpose2d"])
def test_conv(transposed, backend, dtype, requires_grad):
    """Values, dtype and the gradients of input, weight and bias equal torch's."""
    ours_op = ops.conv_transpose2d if transposed else ops.conv2d
    torch_op = F.conv_transpose2d if transposed else F.conv2d

    @settings_for(backend)
    @given(case=conv_cases(transposed))
    def run(case):
        x, weight, bias, kwargs = case
        leaves = list(cast(backend, dtype, x, weight, *([bias] if bias is not None else [])))
        # half precision: torch's CPU kernels accumulate in float32, ours in the dtype
        tol = (5e-2, 5e-2) if dtype in HALF else TOL[dtype]
        check(lambda *t: ours_op(*t[:2], t[2] if len(t) > 2 else None, backend=backend,
                                 **kwargs),
              lambda *t: torch_op(*t[:2], t[2] if len(t) > 2 else None, **kwargs),
              leaves, requires_grad, dtype, *tol)
    run()


# ---------------------------------------------------------------------------------------------
# the box coder
# ---------------------------------------------------------------------------------------------
@st.composite
def coder_cases(draw):
    proposals = draw(box_lists(max_n=4, min_size=0.5))
    targets = draw(box_lists(n=len(proposals), min_size=0.5))
    weights = draw(st.sampled_from([(1.0, 1.0, 1.0, 1.0), (10.0, 10.0, 5.0, 5.0)]))
    k = draw(st.integers(1, 2))
    deltas = torch.tensor(draw(st.lists(quarters(-6, 6), min_size=4 * k * len(proposals),
                                        max_size=4 * k * len(proposals))),
                          dtype=torch.float64).reshape(len(proposals), 4 * k)
    return targets, proposals, weights, deltas


@pytest.mark.parametrize("requires_grad", [False, True])
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("backend", ["reference", "cpu"])
@pytest.mark.parametrize("direction", ["encode", "decode"])
def test_box_coder(direction, backend, dtype, requires_grad):
    """encode_boxes / decode_boxes against torchvision's BoxCoder (values, dtype, gradients of
    both arguments). The reference loops compute in Python floats: equal up to rounding."""
    @settings_for(backend)
    @given(case=coder_cases())
    def run(case):
        targets, proposals, weights, deltas = case
        targets, proposals, deltas = (t.to(dtype) for t in (targets, proposals, deltas))
        coder = BoxCoder(weights)
        tol = TOL[dtype] if dtype != torch.float32 else (1e-5, 1e-4)
        if direction == "encode":
            check(lambda t, p: ops.encode_boxes(t, p, weights, backend=backend),
                  lambda t, p: coder.encode_single(t, p), [targets, proposals],
                  requires_grad, dtype, *tol)
        else:
            check(lambda d, b: ops.decode_boxes(d, b, weights, backend=backend),
                  lambda d, b: coder.decode_single(d, b), [deltas, proposals],
                  requires_grad, dtype, *tol)
    run()


# ---------------------------------------------------------------------------------------------
# the one-implementation box ops
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("requires_grad", [False, True])
@pytest.mark.parametrize("dtype", FLOATS + [torch.int64])
def test_box_area(dtype, requires_grad):
    if requires_grad and not dtype.is_floating_point:
        pytest.skip("integer tensors cannot require a gradient")

    @settings_for(None)
    @given(boxes=box_lists())
    def run(boxes):
        boxes = (boxes * 4).to(dtype)   # integers too: quarters × 4
        expected = torchvision.ops.box_area(boxes).dtype
        check(ops.box_area, torchvision.ops.box_area, [boxes], requires_grad, expected)
    run()


@pytest.mark.parametrize("requires_grad", [False, True])
@pytest.mark.parametrize("dtype", FLOATS)
def test_box_convert(dtype, requires_grad):
    @settings_for(None)
    @given(boxes=box_lists(), fmts=st.tuples(*[st.sampled_from(["xyxy", "xywh", "cxcywh"])] * 2))
    def run(boxes, fmts):
        in_fmt, out_fmt = fmts
        boxes = torchvision.ops.box_convert(boxes, "xyxy", in_fmt).to(dtype)
        check(lambda b: ops.box_convert(b, in_fmt, out_fmt),
              lambda b: torchvision.ops.box_convert(b, in_fmt, out_fmt),
              [boxes], requires_grad, dtype)
    run()


@pytest.mark.parametrize("requires_grad", [False, True])
@pytest.mark.parametrize("dtype", FLOATS)
def test_clip_boxes_to_image(dtype, requires_grad):
    @settings_for(None)
    @given(boxes=box_lists(), size=st.tuples(st.integers(0, 12), st.integers(0, 12)))
    def run(boxes, size):
        check(lambda b: ops.clip_boxes_to_image(b, size),
              lambda b: torchvision.ops.clip_boxes_to_image(b, size),
              [boxes.to(dtype)], requires_grad, dtype)
    run()


@pytest.mark.parametrize("requires_grad", [False, True])
@pytest.mark.parametrize("dtype", FLOATS)
def test_remove_small_boxes(dtype, requires_grad):
    @settings_for(None)
    @given(boxes=box_lists(), min_size=quarters(0, 6))
    def run(boxes, min_size):
        boxes = boxes.to(dtype).requires_grad_(requires_grad)
        ours = ops.remove_small_boxes(boxes, min_size)
        assert ours.dtype == torch.int64 and not ours.requires_grad
        assert torch.equal(ours, torchvision.ops.remove_small_boxes(boxes, min_size))
    run()


@pytest.mark.parametrize("backend", ["reference", "cpu", "triton"])
def test_roi_pool_gradient_when_every_bin_is_empty(backend):
    """An RoI entirely off the map (every bin empty) and no RoI at all: output 0 and a zero
    gradient on every path, as torchvision (the reference loops once returned a detached 0)."""
    x = on_device(backend, torch.rand(1, 2, 4, 4, dtype=torch.float64)).requires_grad_()
    for rois in (torch.tensor([[0, 20, 20, 30, 30.]], dtype=torch.float64),
                 torch.zeros(0, 5, dtype=torch.float64)):
        rois = on_device(backend, rois)
        ours = ops.roi_pool(x, rois, 2, backend=backend)
        theirs = torchvision.ops.roi_pool(x.detach().cpu().requires_grad_(), rois.cpu(), 2)
        assert torch.equal(ours.detach().cpu(), theirs.detach()) and ours.grad_fn is not None
        grad, = torch.autograd.grad(ours.sum(), x)
        assert torch.equal(grad.cpu(), torch.zeros(1, 2, 4, 4, dtype=torch.float64))
