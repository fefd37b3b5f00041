"""Every convolution path against torch.nn.functional, and the adjoint claim.

The Triton path runs on CPU tensors under Triton's interpreter (set in conftest.py), so its
configurations are few and tiny; on a GPU the same tests run it for real.
"""
import random

import pytest
import torch
import torch.nn.functional as F

from lecturelib.conv_arithmetic import conv_transpose_output_size
from lecturelib.ops.conv import (conv2d, conv2d_im2col, conv2d_reference, conv_transpose2d,
                                 conv_transpose2d_scatter, conv_transpose2d_zero_insertion,
                                 im2col)

from full_size import TRITON_DEVICE as DEVICE, size  # tests/full_size.py: the GPU check's switch


pytestmark = pytest.mark.usefixtures("one_thread")


def random_config(rng: random.Random, transposed: bool = False) -> dict:
    """A random valid configuration (height and width set independently)."""
    while True:
        groups = rng.choice([1, 1, 2, 3])
        cfg = dict(N=rng.choice([1, 2]), C=groups * rng.randint(1, 3),
                   O=groups * rng.randint(1, 3), groups=groups,
                   H=rng.randint(3, 8), W=rng.randint(3, 8),
                   k=(rng.randint(1, 4), rng.randint(1, 4)),
                   stride=(rng.randint(1, 3), rng.randint(1, 3)),
                   padding=(rng.randint(0, 2), rng.randint(0, 2)),
                   dilation=(rng.randint(1, 3), rng.randint(1, 3)),
                   bias=rng.random() < 0.7)
        if transposed:
            cfg["output_padding"] = tuple(rng.randint(0, max(s, d) - 1)
                                          for s, d in zip(cfg["stride"], cfg["dilation"]))
        try:
            tensors(cfg, torch.float64)
            return cfg
        except RuntimeError:   # torch refuses (e.g. output smaller than one pixel): draw again
            continue


def tensors(cfg: dict, dtype, device="cpu", seed=0):
    """input, weight, bias and torch's result for ``cfg``."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(cfg["N"], cfg["C"], cfg["H"], cfg["W"], generator=g, dtype=dtype)
    if "output_padding" in cfg:
        w = torch.randn(cfg["C"], cfg["O"] // cfg["groups"], *cfg["k"], generator=g, dtype=dtype)
    else:
        w = torch.randn(cfg["O"], cfg["C"] // cfg["groups"], *cfg["k"], generator=g, dtype=dtype)
    b = torch.randn(cfg["O"], generator=g, dtype=dtype) if cfg["bias"] else None
    x, w = x.to(device), w.to(device)
    b = b.to(device) if b is not None else None
    if "output_padding" in cfg:
        ref = F.conv_transpose2d(x, w, b, cfg["stride"], cfg["padding"], cfg["output_padding"],
                                 cfg["groups"], cfg["dilation"])
    else:
        ref = F.conv2d(x, w, b, cfg["stride"], cfg["padding"], cfg["dilation"], cfg["groups"])
    return x, w, b, ref


def _name(cfg: dict) -> str:
    """Short test id, e.g. ``N2C3O6g3_7x6_k4x3_s2x2_p2x0_d3x1_op0x1_b``."""
    pair = lambda t: f"{t[0]}x{t[1]}"  # noqa: E731
    name = (f"N{cfg['N']}C{cfg['C']}O{cfg['O']}g{cfg['groups']}_{cfg['H']}x{cfg['W']}"
            f"_k{pair(cfg['k'])}_s{pair(cfg['stride'])}_p{pair(cfg['padding'])}"
            f"_d{pair(cfg['dilation'])}")
    if "output_padding" in cfg:
        name += f"_op{pair(cfg['output_padding'])}"
    return name + ("_b" if cfg["bias"] else "")


def conv_kwargs(cfg):
    return dict(stride=cfg["stride"], padding=cfg["padding"], dilation=cfg["dilation"],
                groups=cfg["groups"])


def convt_kwargs(cfg):
    return dict(conv_kwargs(cfg), output_padding=cfg["output_padding"])


CONV_CONFIGS = [random_config(random.Random(seed)) for seed in range(40)]
CONVT_CONFIGS = [random_config(random.Random(seed), transposed=True) for seed in range(40)]


def test_random_configs_cover_groups_dilation_and_stride():
    assert {c["groups"] for c in CONV_CONFIGS} == {1, 2, 3}
    assert any(max(c["dilation"]) > 1 and max(c["stride"]) > 1 for c in CONV_CONFIGS)
    assert any(op > s for c in CONVT_CONFIGS for op, s in zip(c["output_padding"], c["stride"]))


# --- forward convolution -------------------------------------------------------------------
@pytest.mark.parametrize("cfg", CONV_CONFIGS, ids=_name)
def test_conv2d_reference_and_im2col_equal_torch(cfg):
    x, w, b, ref = tensors(cfg, torch.float64)
    for fn in (conv2d_reference, conv2d_im2col):
        out = fn(x, w, b, **conv_kwargs(cfg))
        torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-10, msg=fn.__name__)


@pytest.mark.parametrize("cfg", CONV_CONFIGS[:size("triton", 12, None)], ids=_name)
def test_conv2d_triton_equals_torch(cfg):
    x, w, b, ref = tensors(cfg, torch.float32, DEVICE)
    out = conv2d(x, w, b, **conv_kwargs(cfg), backend="triton")
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


def test_conv2d_triton_several_tiles_in_every_direction():
    # more output pixels than BLOCK_M, more channels than BLOCK_N, a reduction longer than BLOCK_K
    cfg = dict(N=2, C=16, O=80, groups=1, H=17, W=17, k=(3, 3), stride=(1, 1), padding=(1, 1),
               dilation=(1, 1), bias=True)
    cfg.update(size("triton", {}, dict(N=8, C=64, O=96, H=56, W=57)))   # a ResNet stage
    x, w, b, ref = tensors(cfg, torch.float32, DEVICE)
    out = conv2d(x, w, b, **conv_kwargs(cfg), backend="triton")
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


def test_conv2d_triton_float64_and_float16():
    cfg = CONV_CONFIGS[1]
    x, w, b, ref = tensors(cfg, torch.float64, DEVICE)
    torch.testing.assert_close(conv2d(x, w, b, **conv_kwargs(cfg), backend="triton"), ref,
                               rtol=1e-12, atol=1e-12)
    x, w, b, ref = tensors(cfg, torch.float16, DEVICE) if DEVICE == "cuda" else \
        [t.half() if t is not None else None for t in tensors(cfg, torch.float32)]
    out = conv2d(x, w, b, **conv_kwargs(cfg), backend="triton")
    assert out.dtype == torch.float16
    torch.testing.assert_close(out.float(), ref.float(), rtol=2e-2, atol=2e-2)


def test_conv2d_triton_gradients_equal_torch():
    cfg = dict(CONV_CONFIGS[2], bias=True)
    x, w, b, _ = tensors(cfg, torch.float64, DEVICE)
    ours = [t.clone().requires_grad_() for t in (x, w, b)]
    theirs = [t.clone().requires_grad_() for t in (x, w, b)]
    y_ours = conv2d(*ours, **conv_kwargs(cfg), backend="triton")
    y_ref = F.conv2d(*theirs, cfg["stride"], cfg["padding"], cfg["dilation"], cfg["groups"])
    g = torch.randn_like(y_ref)
    y_ours.backward(g)
    y_ref.backward(g)
    for a, r in zip(ours, theirs):
        torch.testing.assert_close(a.grad, r.grad, rtol=1e-10, atol=1e-10)


def test_im2col_equals_unfold():
    x = torch.randn(2, 3, 7, 6, dtype=torch.float64)
    for k, s, p, d in [((3, 3), 1, 0, 1), ((2, 3), (2, 1), (1, 2), (1, 2)), (1, 3, 0, 1)]:
        torch.testing.assert_close(im2col(x, k, s, p, d), F.unfold(x, k, d, p, s))


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("backend", ["reference", "cpu", "auto"])
def test_public_conv2d_unbatched_and_string_padding(backend):
    torch.manual_seed(0)
    x = torch.randn(4, 7, 6, dtype=torch.float64)
    for k, d in [((3, 3), 1), ((4, 2), (1, 3)), ((2, 2), 2)]:
        w = torch.randn(6, 2, *k, dtype=torch.float64)
        for padding in ("same", "valid", 1):
            ours = conv2d(x, w, None, 1, padding, d, 2, backend=backend)
            torch.testing.assert_close(ours, F.conv2d(x, w, None, 1, padding, d, 2))


# --- transposed convolution -----------------------------------------------------------------
@pytest.mark.parametrize("cfg", CONVT_CONFIGS, ids=_name)
def test_conv_transpose2d_two_ways_equal_torch(cfg):
    x, w, b, ref = tensors(cfg, torch.float64)
    for fn in (conv_transpose2d_scatter, conv_transpose2d_zero_insertion):
        out = fn(x, w, b, **convt_kwargs(cfg))
        torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-10, msg=fn.__name__)


@pytest.mark.parametrize("cfg", CONVT_CONFIGS[:size("triton", 6, None)], ids=_name)
def test_conv_transpose2d_triton_equals_torch(cfg):
    x, w, b, ref = tensors(cfg, torch.float32, DEVICE)
    out = conv_transpose2d(x, w, b, **convt_kwargs(cfg), backend="triton")
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


def test_public_conv_transpose2d_unbatched_and_backends():
    cfg = CONVT_CONFIGS[5]
    x, w, b, ref = tensors(cfg, torch.float64)
    for backend in ("reference", "cpu", None):
        out = conv_transpose2d(x[0], w, b, **convt_kwargs(cfg), backend=backend)
        torch.testing.assert_close(out, ref[0])


# --- the adjoint: a transposed convolution is the gradient of a convolution ------------------
def _adjoint_output_padding(cfg):
    """output_padding that makes conv_transpose2d return exactly the forward input's size."""
    x, w, _, y = tensors(dict(cfg, bias=False), torch.float64)
    return tuple(x.shape[2 + i] - conv_transpose_output_size(
        y.shape[2 + i], w.shape[2 + i], cfg["stride"][i], cfg["padding"][i], cfg["dilation"][i])
        for i in (0, 1))


@pytest.mark.parametrize("cfg", CONV_CONFIGS[:15], ids=_name)
def test_transposed_conv_is_the_gradient_of_conv(cfg):
    x, w, _, _ = tensors(dict(cfg, bias=False), torch.float64)
    x.requires_grad_()
    y = F.conv2d(x, w, None, cfg["stride"], cfg["padding"], cfg["dilation"], cfg["groups"])
    g = torch.randn_like(y)
    (grad_x,) = torch.autograd.grad(y, x, g)
    op = _adjoint_output_padding(cfg)
    for backend in ("reference", "cpu"):
        ours = conv_transpose2d(g, w, None, cfg["stride"], cfg["padding"], op, cfg["groups"],
                                cfg["dilation"], backend=backend)
        torch.testing.assert_close(ours, grad_x, rtol=1e-10, atol=1e-10)
        # the defining identity of an adjoint: <conv(x), g> == <x, conv^T(g)>
        lhs = (conv2d(x.detach(), w, None, cfg["stride"], cfg["padding"], cfg["dilation"],
                      cfg["groups"], backend=backend) * g).sum()
        rhs = (x.detach() * ours).sum()
        assert abs(lhs - rhs) < 1e-9 * max(1.0, abs(lhs))


def test_gradcheck_conv_paths_float64():
    torch.manual_seed(0)
    kw = dict(stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2)
    x = torch.randn(1, 4, 5, 6, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 2, 2, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda *t: conv2d_im2col(*t, **kw), (x, w, b))
    wt = torch.randn(4, 1, 3, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda *t: conv_transpose2d_zero_insertion(*t, output_padding=(1, 1), **kw), (x, wt, b))
    x_small = x[:, :, :3, :3].detach().clone().requires_grad_()
    assert torch.autograd.gradcheck(
        lambda *t: conv_transpose2d_scatter(*t, output_padding=(1, 1), **kw), (x_small, wt, b))


def test_gradcheck_transposed_conv_gradient_is_conv():
    """The adjoint claim the other way: the input-gradient of conv_transpose2d is conv2d."""
    torch.manual_seed(1)
    g = torch.randn(1, 2, 3, 4, dtype=torch.float64, requires_grad=True)
    w = torch.randn(2, 3, 3, 3, dtype=torch.float64)
    y = conv_transpose2d(g, w, None, 2, 1, 1, 1, 1, backend="cpu")
    u = torch.randn_like(y)
    (grad_g,) = torch.autograd.grad(y, g, u)
    torch.testing.assert_close(grad_g, conv2d(u, w, None, 2, 1, 1, 1, backend="cpu"))


# --- bad input says what is wrong -----------------------------------------------------------
X = torch.zeros(1, 4, 6, 6)
W = torch.zeros(8, 2, 3, 3)


@pytest.mark.parametrize("call, word", [
    (lambda: conv2d(X, W), "channels"),                                  # groups=1 needs C=2
    (lambda: conv2d(X, torch.zeros(6, 1, 3, 3), groups=4), "divisible by groups"),
    (lambda: conv2d(X, W, groups=0), "groups"),
    (lambda: conv2d(X[0, 0], W, groups=2), "input must be"),
    (lambda: conv2d(X, W[0], groups=2), "weight must be 4-D"),
    (lambda: conv2d(X, W, stride=0, groups=2), "stride"),
    (lambda: conv2d(X, W, stride=(1, 2, 3), groups=2), "stride"),
    (lambda: conv2d(X, W, padding=-1, groups=2), "padding"),
    (lambda: conv2d(X, W, padding="full", groups=2), "padding"),
    (lambda: conv2d(X, W, padding="same", stride=2, groups=2), "stride"),
    (lambda: conv2d(X, W, dilation=0, groups=2), "dilation"),
    (lambda: conv2d(X, W, torch.zeros(3), groups=2), "bias"),
    (lambda: conv2d(X, W, dilation=4, groups=2), "input height"),
    (lambda: conv2d(X, W.double(), groups=2), "weight"),
    (lambda: conv2d(X.long(), W.long(), groups=2), "floating-point"),
    (lambda: conv2d(X, W, groups=2, backend="gpu"), "backend"),
    (lambda: conv_transpose2d(X, W), "weight.shape\\[0\\]"),
    (lambda: conv_transpose2d(X, torch.zeros(4, 2, 3, 3), stride=2, output_padding=2),
     "output_padding"),
    (lambda: conv_transpose2d(X, torch.zeros(4, 2, 3, 3), groups=3), "groups"),
    (lambda: conv_transpose2d(X, torch.zeros(4, 2, 3, 3), padding=9), "input height"),
    (lambda: conv2d_reference(X[None], W, groups=2), "input must be 4-D"),
])
def test_bad_arguments_raise_value_error_naming_them(call, word):
    with pytest.raises(ValueError, match=word):
        call()
