"""roi_pool against torchvision.ops.roi_pool: values, argmax gradient, every path."""
import pytest
import torch
import torchvision

from lecturelib import ops

from full_size import device, on_device, size  # tests/full_size.py: the GPU check's switch

BACKENDS = ["reference", "cpu", "triton"]


def random_rois(k, n_images, size, seed, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(k, 2, generator=g, dtype=torch.float64) * size * 1.2 - size * 0.1
    wh = torch.rand(k, 2, generator=g, dtype=torch.float64) * size * 0.8
    index = torch.randint(0, n_images, (k, 1), generator=g).double()
    return torch.cat([index, xy, xy + wh], dim=1).to(dtype)


ADVERSARIAL = torch.tensor([
    [0, -30, -30, -10, -10],      # entirely outside (above-left): every bin empty -> 0
    [0, 40, 40, 90, 90],          # entirely outside (below-right)
    [0, 5, 5, 5, 5],              # zero size: becomes one cell
    [1, -100, -100, 500, 500],    # huge, covers everything
    [0, 2.5, 3.5, 10.5, 11.5],    # .5 coordinates: C rounding goes away from zero
    [1, -2.5, -0.5, 6.5, 0.5],    # negative halves
    [0, 7, 2, 7.4, 30],           # thin
], dtype=torch.float32)


def check_against_torchvision(x, rois, output_size, scale, backend):
    x = x.detach().requires_grad_()
    ours = ops.roi_pool(x, rois, output_size, scale, backend=backend)
    theirs = torchvision.ops.roi_pool(x, rois, output_size, scale)
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype
    assert torch.equal(ours, theirs), \
        f"max |ours - theirs| {(ours - theirs).abs().max().item():.3g}, " \
        f"{(ours != theirs).sum().item()} of {ours.numel()} differ"
    g = torch.randn(ours.shape, generator=torch.Generator().manual_seed(0), dtype=x.dtype)
    g = g.to(x.device)
    grad_ours, = torch.autograd.grad(ours, x, g)
    grad_theirs, = torch.autograd.grad(theirs, x, g)
    torch.testing.assert_close(grad_ours, grad_theirs, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("seed, output_size, scale", [(0, (2, 3), 1.0), (1, 3, 0.5),
                                                      (2, (4, 2), 0.25), (3, 1, 0.3)])
def test_roi_pool_random(backend, seed, output_size, scale):
    c, h, w, k = size(backend, (3, 11, 13, 8 if backend == "triton" else 25), (256, 50, 50, 512))
    x = torch.randn(2, c, h, w, generator=torch.Generator().manual_seed(seed))
    x, rois = on_device(backend, x, random_rois(k, 2, w / scale, seed))
    check_against_torchvision(x, rois, output_size, scale, backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_roi_pool_adversarial_rois(backend):
    x = torch.randn(2, 2, 16, 16, generator=torch.Generator().manual_seed(5))
    x, rois = on_device(backend, x, ADVERSARIAL)
    check_against_torchvision(x, rois, (3, 3), 1.0, backend)
    out = ops.roi_pool(x, rois[:2], 3, backend=backend)
    assert (out == 0).all(), "RoIs outside the map have only empty bins, which give 0"


@pytest.mark.parametrize("backend", BACKENDS)
def test_roi_pool_ties_first_maximum_wins(backend):
    x = torch.zeros(1, 1, 4, 4, device=device(backend), requires_grad=True)   # every cell ties
    rois = on_device(backend, torch.tensor([[0, 0, 0, 3, 3.]]))
    out = ops.roi_pool(x, rois, 2, backend=backend)
    grad, = torch.autograd.grad(out.sum(), x)
    tv_out = torchvision.ops.roi_pool(x, rois, 2)
    tv_grad, = torch.autograd.grad(tv_out.sum(), x)
    assert torch.equal(grad, tv_grad)
    assert grad.sum() == 4 and grad[0, 0, 0, 0] == 1   # the top-left cell of each bin


@pytest.mark.parametrize("backend", BACKENDS)
def test_roi_pool_float64_and_list_of_boxes(backend):
    x = torch.randn(2, 2, 9, 9, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    boxes = [torch.tensor([[1, 1, 6, 7.], [0, 0, 8, 8]], dtype=torch.float64),
             torch.tensor([[2.5, 0.5, 5.5, 8.5]], dtype=torch.float64)]
    x, boxes = on_device(backend, x, boxes)
    ours = ops.roi_pool(x, boxes, (2, 2), backend=backend)
    assert torch.equal(ours, torchvision.ops.roi_pool(x, boxes, (2, 2)))


@pytest.mark.parametrize("backend", ["cpu", "triton"])
def test_roi_pool_gradcheck(backend):
    # distinct values (no ties), so the max is differentiable
    x = (torch.randperm(2 * 2 * 6 * 6, generator=torch.Generator().manual_seed(1))
         .double().reshape(2, 2, 6, 6) / 10).requires_grad_()
    rois = torch.tensor([[0, 0, 0, 4, 4], [1, 1, 2, 5, 5], [0, 2, 1, 3, 5]], dtype=torch.float64)
    if backend == "triton":   # the interpreter runs programs one by one: a smaller case
        x, rois = x[:1, :1].detach().requires_grad_(), rois[:1]
    x, rois = on_device(backend, x.detach(), rois)
    x.requires_grad_()
    assert torch.autograd.gradcheck(lambda t: ops.roi_pool(t, rois, 2, backend=backend), (x,),
                                    fast_mode=backend == "triton")


@pytest.mark.parametrize("backend", BACKENDS)
def test_roi_pool_empty_roi_list(backend):
    x = torch.randn(1, 3, 5, 5, device=device(backend), requires_grad=True)
    none = on_device(backend, torch.zeros(0, 5))
    out = ops.roi_pool(x, none, (2, 2), backend=backend)
    assert out.shape == (0, 3, 2, 2)
    assert torch.equal(out, torchvision.ops.roi_pool(x, none, (2, 2)))


def test_roi_pool_cpu_bigger_case():
    x = torch.randn(2, 64, 38, 50, generator=torch.Generator().manual_seed(3))
    rois = random_rois(300, 2, 800, 3)
    check_against_torchvision(x, rois, 7, 1 / 16, "cpu")


@pytest.mark.parametrize("call, message", [
    (lambda x: ops.roi_pool(x[0], torch.zeros(1, 5), 2), r"input must be a feature map \[N, C, H, W\]"),
    (lambda x: ops.roi_pool(x.long(), torch.zeros(1, 5), 2), "input must be a floating-point"),
    (lambda x: ops.roi_pool(x, torch.zeros(1, 4), 2), r"boxes must be Tensor\[K, 5\]"),
    (lambda x: ops.roi_pool(x, [torch.zeros(1, 5)], 2), r"boxes\[0\] must have shape \[L, 4\]"),
    (lambda x: ops.roi_pool(x, torch.tensor([[2, 0, 0, 1, 1.]]), 2), "batch index 2.0"),
    (lambda x: ops.roi_pool(x, torch.tensor([[0.5, 0, 0, 1, 1.]]), 2), "batch index 0.5"),
    (lambda x: ops.roi_pool(x, torch.tensor([[0, 0, float("nan"), 1, 1.]]), 2), "NaN"),
    (lambda x: ops.roi_pool(x, torch.zeros(1, 5), 0), "output_size must be positive"),
    (lambda x: ops.roi_pool(x, torch.zeros(1, 5), (2, -1)), "output_size must be positive"),
    (lambda x: ops.roi_pool(x, torch.zeros(1, 5), 2.5), "output_size must be a positive int"),
    (lambda x: ops.roi_pool(x, torch.zeros(1, 5), 2, spatial_scale=0), "spatial_scale must be"),
    (lambda x: ops.roi_pool(x, torch.zeros(1, 5), 2, spatial_scale=float("inf")), "spatial_scale"),
])
def test_roi_pool_rejects_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call(torch.randn(2, 3, 5, 5))


def test_roi_pool_cpu_inference_path_and_nan_features():
    """Without a gradient the CPU path skips the argmax pass; values stay torchvision's, also
    when the feature map holds NaN (a NaN never wins a bin, as with torchvision's `>`)."""
    x = torch.randn(2, 32, 20, 20, generator=torch.Generator().manual_seed(4))
    x[0, :4, 3:9, 3:9] = float("nan")
    x[1, 5, :, :] = float("nan")
    rois = random_rois(80, 2, 20, 9)
    for backend, k in (("cpu", 80), ("triton", 12)):   # (the reference's torch.max keeps NaN)
        xb, rb = on_device(backend, x, rois[:k])
        with torch.no_grad():
            ours = ops.roi_pool(xb, rb, (3, 3), backend=backend)
        assert torch.equal(ours, torchvision.ops.roi_pool(xb, rb, (3, 3))), backend
    xg = x.clone().requires_grad_()
    check_against_torchvision(xg, rois, (3, 3), 1.0, "cpu")
