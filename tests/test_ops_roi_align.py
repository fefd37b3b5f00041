"""roi_align against torchvision.ops.roi_align: values and input gradients on every path, the
box gradient (ours only) against finite differences, and bad input."""
import pytest
import torch
import torchvision

from lecturelib import ops
from lecturelib.ops.reference import bilinear_sample, roi_align_reference

from full_size import device, on_device, size  # tests/full_size.py: the GPU check's switch

BACKENDS = ["reference", "cpu", "triton"]


def random_rois(k, n_images, size, seed, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(k, 2, generator=g, dtype=torch.float64) * size * 1.3 - size * 0.15
    wh = torch.rand(k, 2, generator=g, dtype=torch.float64) * size * 0.8
    index = torch.randint(0, n_images, (k, 1), generator=g).double()
    return torch.cat([index, xy, xy + wh], dim=1).to(dtype)


ADVERSARIAL = torch.tensor([
    [0, -30, -30, -10, -10],      # entirely outside (above-left): every sample off the map -> 0
    [0, 40, 40, 90, 90],          # entirely outside (below-right)
    [0, 5, 5, 5, 5],              # zero size: 1 cell when not aligned, no sample when aligned
    [1, -100, -100, 500, 500],    # huge, covers everything (and the margins)
    [0, -1.2, -0.7, 3.3, 2.1],    # partly in the one-cell margin: moved onto the edge
    [1, 13.6, 14.2, 16.5, 17.0],  # over the last row / column
    [0, 7, 2, 7.4, 30],           # thin
    [1, 3, 9, 2, 4],              # x2 < x1, y2 < y1: a negative size, as torchvision allows
], dtype=torch.float32)


def check_against_torchvision(x, rois, output_size, scale, sampling_ratio, aligned, backend,
                              exact=True):
    x = x.detach().requires_grad_()
    ours = ops.roi_align(x, rois, output_size, scale, sampling_ratio, aligned, backend=backend)
    theirs = torchvision.ops.roi_align(x, rois, output_size, scale, sampling_ratio, aligned)
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    if exact:   # the same float arithmetic in the same order: the same bits
        assert torch.equal(ours, theirs), \
            f"max |ours - theirs| {(ours - theirs).abs().max().item():.3g}, " \
            f"{(ours != theirs).sum().item()} of {ours.numel()} differ"
    else:
        torch.testing.assert_close(ours, theirs)
    g = torch.randn(ours.shape, generator=torch.Generator().manual_seed(0), dtype=x.dtype)
    g = g.to(x.device)
    grad_ours, = torch.autograd.grad(ours, x, g)
    grad_theirs, = torch.autograd.grad(theirs, x, g)
    torch.testing.assert_close(grad_ours, grad_theirs, rtol=1e-5, atol=1e-5)


def test_detectron2_hand_case():
    """arange(25) as 5 × 5, box [1, 1, 3, 3], 4 × 4 output, adaptive sampling (detectron2's
    test): unaligned row 0 [7.5, 8, 8.5, 9]; aligned — the box's pixels 1..2 are cells 1..2,
    centred — row 0 [4.5, 5, 5.5, 6]."""
    x = torch.arange(25.).reshape(1, 1, 5, 5)
    rois = torch.tensor([[0, 1, 1, 3, 3.]])
    for backend in BACKENDS:
        xb, rb = on_device(backend, x, rois)
        plain = ops.roi_align(xb, rb, 4, 1.0, 0, False, backend=backend)[0, 0]
        aligned = ops.roi_align(xb, rb, 4, 1.0, 0, True, backend=backend)[0, 0]
        assert plain[0].tolist() == [7.5, 8, 8.5, 9], backend
        assert aligned[0].tolist() == [4.5, 5, 5.5, 6], backend


def test_bilinear_sample_by_hand():
    plane = torch.tensor([[[0., 1.], [10., 11.]]])           # 1 channel, 2 × 2
    point = (torch.tensor(0.25), torch.tensor(0.5))
    # weights (0.75·0.5, 0.75·0.5, 0.25·0.5, 0.25·0.5) on 0, 1, 10, 11
    assert bilinear_sample(plane, *point).item() == pytest.approx(0.375 + 2.625)
    assert bilinear_sample(plane, torch.tensor(-0.5), torch.tensor(0.)).item() == 0.0  # margin -> edge
    assert bilinear_sample(plane, torch.tensor(-1.5), torch.tensor(0.)).item() == 0.0  # off: 0
    assert bilinear_sample(plane, torch.tensor(1.7), torch.tensor(1.2)).item() == 11.0  # last cell
    assert bilinear_sample(plane, torch.tensor(float("nan")), torch.tensor(0.)).item() == 0.0


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("seed, output_size, scale, sampling_ratio, aligned", [
    (0, (2, 3), 1.0, -1, False), (1, 3, 0.5, 0, True), (2, (4, 2), 0.25, 2, False),
    (3, 1, 0.3, 3, True), (4, (3, 3), 0.37, -1, True), (5, 2, 1.0, 1, False)])
def test_roi_align_random(backend, seed, output_size, scale, sampling_ratio, aligned):
    c, h, w, k = size(backend, (3, 11, 13, 6 if backend == "triton" else 25), (256, 50, 50, 512))
    x = torch.randn(2, c, h, w, generator=torch.Generator().manual_seed(seed))
    x, rois = on_device(backend, x, random_rois(k, 2, w / scale, seed))
    check_against_torchvision(x, rois, output_size, scale, sampling_ratio, aligned, backend)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("aligned", [False, True])
def test_roi_align_adversarial_rois(backend, aligned):
    x = torch.randn(2, 2, 16, 16, generator=torch.Generator().manual_seed(5))
    # adaptive sampling on the huge RoI is ~10^5 samples a bin: the CPU path only (the loops
    # and the interpreted kernel take 2 × 2 samples there)
    x, rois = on_device(backend, x, ADVERSARIAL)
    check_against_torchvision(x, rois, (2, 2), 1.0, -1 if backend == "cpu" else 2,
                              aligned, backend)
    out = ops.roi_align(x, rois[:2], 3, sampling_ratio=2, aligned=aligned, backend=backend)
    assert (out == 0).all(), "RoIs entirely off the map sample only zeros"


@pytest.mark.parametrize("backend", BACKENDS)
def test_roi_align_float64_and_list_of_boxes(backend):
    x = torch.randn(2, 2, 9, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    boxes = [torch.tensor([[1, 1, 6, 7.], [0, 0, 8, 8]], dtype=torch.float64),
             torch.tensor([[2.5, 0.5, 5.5, 8.5]], dtype=torch.float64)]
    x, boxes = on_device(backend, x, boxes)
    for aligned in (False, True):
        ours = ops.roi_align(x, boxes, (2, 2), 1.0, 2, aligned, backend=backend)
        assert torch.equal(ours, torchvision.ops.roi_align(x, boxes, (2, 2), 1.0, 2, aligned))


@pytest.mark.parametrize("backend", BACKENDS)
def test_roi_align_empty_roi_list(backend):
    x = torch.randn(1, 3, 5, 5, device=device(backend), requires_grad=True)
    out = ops.roi_align(x, on_device(backend, torch.zeros(0, 5)), (2, 2), backend=backend)
    assert out.shape == (0, 3, 2, 2)
    out.sum().backward()
    assert torch.equal(x.grad, torch.zeros_like(x))


@pytest.mark.parametrize("backend", ["cpu", "triton"])
def test_roi_align_gradcheck_input(backend):
    x = torch.randn(2, 2, 6, 7, dtype=torch.float64,
                    generator=torch.Generator().manual_seed(1)).requires_grad_()
    rois = torch.tensor([[0, 0.3, 0.2, 4.1, 4.6], [1, 1.2, 2.1, 5.3, 5.0], [0, 2, 1, 3, 5.5]],
                        dtype=torch.float64)
    if backend == "triton":   # the interpreter runs programs one by one: a smaller case
        rois = rois[:1]
    x, rois = on_device(backend, x.detach(), rois)
    x.requires_grad_()
    assert torch.autograd.gradcheck(
        lambda t: ops.roi_align(t, rois, 2, 0.9, 2, True, backend=backend), (x,),
        fast_mode=backend == "triton")


@pytest.mark.parametrize("aligned, sampling_ratio", [(False, 2), (True, 2), (True, -1)])
def test_roi_align_box_gradient_cpu(aligned, sampling_ratio):
    """torchvision gives no gradient for the boxes; ours does, and it is the derivative:
    finite differences (gradcheck) and autograd through the reference loops agree with it."""
    x = torch.randn(2, 3, 8, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    rois = torch.tensor([[0, 0.3, 0.2, 5.1, 4.6], [1, 1.2, 2.1, 6.3, 7.4], [0, 2.2, 1.1, 3.7, 5.5]],
                        dtype=torch.float64)

    def pooled(boxes, backend):
        full = torch.cat([rois[:, :1], boxes], dim=1)
        return ops.roi_align(x, full, 3, 0.8, sampling_ratio, aligned, backend=backend)

    corners = rois[:, 1:].clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda b: pooled(b, "cpu"), (corners,))
    g = torch.randn(3, 3, 3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    ours, = torch.autograd.grad(pooled(corners, "cpu"), corners, g)
    loops, = torch.autograd.grad(pooled(corners, "reference"), corners, g)
    torch.testing.assert_close(ours, loops)
    assert ours.abs().min() > 0, "every corner moves the output"


def test_roi_pool_box_gradient_is_zero_roi_align_is_not():
    """The lesson's point in one line: RoI pooling's output is a staircase in the box."""
    x = torch.randn(1, 4, 10, 10, generator=torch.Generator().manual_seed(4))
    box = torch.tensor([[2.3, 1.7, 7.6, 8.2]], requires_grad=True)
    align, = torch.autograd.grad(ops.roi_align(x, [box], 2, sampling_ratio=2).sum(), box)
    assert align.abs().sum() > 0.1
    shifted = ops.roi_pool(x, [box.detach() + 0.01], 2)
    assert torch.equal(shifted, ops.roi_pool(x, [box.detach()], 2))


def test_roi_align_cpu_bigger_case():
    x = torch.randn(2, 64, 38, 50, generator=torch.Generator().manual_seed(3))
    rois = random_rois(300, 2, 800, 3)
    for aligned in (False, True):
        check_against_torchvision(x, rois, 7, 1 / 16, -1, aligned, "cpu")
        check_against_torchvision(x, rois, 14, 1 / 16, 2, aligned, "cpu")


def test_roi_align_triton_channel_blocks():
    """More channels than one block: the second program of each bin handles the rest."""
    from lecturelib.ops._roi_common import roi_align_geometry
    from lecturelib.ops._triton.roi_align import roi_align_forward_triton
    x = torch.randn(1, 70, 6, 6, generator=torch.Generator().manual_seed(8))
    x, rois = on_device("triton", x, torch.tensor([[0, 0.5, 1.0, 4.5, 5.5]]))
    out = roi_align_forward_triton(x, roi_align_geometry(rois, 1.0, (2, 2), 2, True), (2, 2),
                                   block_c=32)
    assert torch.equal(out, torchvision.ops.roi_align(x, rois, 2, 1.0, 2, True))


def test_roi_align_nan_and_inf_in_the_features():
    """NaN features propagate as in torchvision (no NaN box reaches a kernel: those raise)."""
    x = torch.randn(1, 2, 8, 8, generator=torch.Generator().manual_seed(6))
    x[0, 0, 2:4, 2:4] = float("nan")
    rois = torch.tensor([[0, 1, 1, 6, 6.], [0, 5, 5, 7, 7]])
    ours = ops.roi_align(x, rois, 2, sampling_ratio=2, backend="cpu")
    theirs = torchvision.ops.roi_align(x, rois, 2, sampling_ratio=2)
    assert torch.equal(ours.isnan(), theirs.isnan())
    assert torch.equal(ours.nan_to_num(), theirs.nan_to_num())


def test_reference_is_the_cpu_path_in_float64():
    x = torch.randn(2, 3, 9, 10, dtype=torch.float64, generator=torch.Generator().manual_seed(9))
    rois = random_rois(12, 2, 10, 9, torch.float64)
    for aligned in (False, True):
        loops = roi_align_reference(x, rois, (3, 2), 1.0, -1, aligned)
        assert torch.equal(loops, ops.roi_align(x, rois, (3, 2), 1.0, -1, aligned, backend="cpu"))


@pytest.mark.parametrize("call, message", [
    (lambda x: ops.roi_align(x[0], torch.zeros(1, 5), 2), r"input must be a feature map \[N, C, H, W\]"),
    (lambda x: ops.roi_align(x.long(), torch.zeros(1, 5), 2), "input must be a floating-point"),
    (lambda x: ops.roi_align(x, torch.zeros(1, 4), 2), r"boxes must be Tensor\[K, 5\]"),
    (lambda x: ops.roi_align(x, [torch.zeros(1, 5)], 2), r"boxes\[0\] must have shape \[L, 4\]"),
    (lambda x: ops.roi_align(x, torch.tensor([[2, 0, 0, 1, 1.]]), 2), "batch index 2.0"),
    (lambda x: ops.roi_align(x, torch.tensor([[-1, 0, 0, 1, 1.]]), 2), "batch index -1.0"),
    (lambda x: ops.roi_align(x, torch.tensor([[0, 0, float("nan"), 1, 1.]]), 2), "NaN"),
    (lambda x: ops.roi_align(x, torch.tensor([[0, 0, 0, float("inf"), 1.]]), 2), "infinite"),
    (lambda x: ops.roi_align(x, torch.zeros(1, 5), 0), "output_size must be positive"),
    (lambda x: ops.roi_align(x, torch.zeros(1, 5), (2, -1)), "output_size must be positive"),
    (lambda x: ops.roi_align(x, torch.zeros(1, 5), 2, spatial_scale=0), "spatial_scale must be"),
    (lambda x: ops.roi_align(x, torch.zeros(1, 5), 2, sampling_ratio=1.5), "sampling_ratio must be an int"),
    (lambda x: ops.roi_align(x, torch.zeros(1, 5), 2, sampling_ratio=True), "sampling_ratio must be an int"),
    (lambda x: ops.roi_align(x, torch.zeros(1, 5), 2, aligned=1), "aligned must be True or False"),
    (lambda x: ops.roi_align(x, torch.zeros(1, 5), 2, backend="gpu"), "backend must be one of"),
])
def test_roi_align_rejects_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call(torch.randn(2, 3, 5, 5))


@pytest.mark.parametrize("op", ["roi_align", "roi_pool"])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_is_computed_in_float32(op, dtype):
    """torchvision's CPU kernels take float16 (not bfloat16); ours compute in float32 and give
    the input's dtype back, gradient included, instead of a numba NotImplementedError."""
    x = torch.randn(1, 3, 9, 9, generator=torch.Generator().manual_seed(10)).to(dtype)
    rois = torch.tensor([[0, 1.2, 0.7, 6.3, 7.9], [0, 3, 2, 8, 5]])
    x.requires_grad_()
    out = getattr(ops, op)(x, rois, 2)
    assert out.dtype == dtype
    expected = getattr(torchvision.ops, op)(x.detach().float(), rois, 2).to(dtype)
    torch.testing.assert_close(out, expected)
    out.sum().backward()
    assert x.grad.dtype == dtype and x.grad.abs().sum() > 0


@pytest.mark.parametrize("backend", ["cpu", "triton"])
@pytest.mark.parametrize("sampling_ratio", [2, -1])
def test_kernels_give_zero_for_a_nan_roi_instead_of_crashing(backend, sampling_ratio):
    """torchvision's CPU kernel crashes on a NaN RoI (its range check lets NaN through to an
    index). The public roi_align rejects NaN first; the kernels behind it must still not crash
    or read out of bounds when given one: every sample of a NaN RoI is off the map, so 0."""
    from lecturelib.ops.backends import implementation
    x = torch.randn(1, 2, 6, 6, generator=torch.Generator().manual_seed(11))
    rois = torch.tensor([[0, float("nan"), 1.0, 4.0, 5.0], [0, 1.0, 1.0, 4.0, 5.0]])
    x, rois = on_device(backend, x, rois)
    kernel = implementation("roi_align", backend, x)
    out = kernel(x, rois, (2, 2), 1.0, sampling_ratio, False)
    assert (out[0] == 0).all() and torch.isfinite(out).all()
    assert torch.equal(out[1:], torchvision.ops.roi_align(x, rois[1:], 2, 1.0, sampling_ratio))
