"""conv_arithmetic against the shapes PyTorch actually produces, on a whole grid of configurations.

For every configuration torch either returns a tensor (then our size must equal its size) or
refuses (then we must raise ValueError). Height and width use different settings in one call,
so each torch call checks two configurations.
"""
import itertools

import pytest
import torch
import torch.nn.functional as F

from lecturelib.conv_arithmetic import (Layer, conv_output_size, conv_parameter_count,
                                        conv_transpose_output_size, effective_kernel_size,
                                        pool_output_size, receptive_field, stack_output_size)

pytestmark = pytest.mark.usefixtures("one_thread")


SIZES = range(1, 8)        # input size i
KERNELS = range(1, 5)      # kernel size k
STRIDES = range(1, 4)      # stride s
PADDINGS = range(0, 4)     # padding p
DILATIONS = range(1, 4)    # dilation d


def _torch_size(fn):
    """Output (height, width) of ``fn()``, or None when torch refuses the configuration.

    An empty output counts as refused: ``conv_transpose2d`` returns a 0-pixel tensor when the
    padding crops everything to exactly 0 (and raises below 0); we raise for both.
    """
    try:
        shape = fn().shape[-2:]
    except RuntimeError:
        return None
    return None if min(shape) == 0 else shape


def _ours(fn, *args, **kw):
    try:
        return fn(*args, **kw)
    except ValueError:
        return None


def _check(torch_shape, ours, cfg, counts):
    """Same size as torch on both axes, or both refuse."""
    if torch_shape is None:
        assert ours is None, f"torch refuses {cfg} but we return {ours}"
        counts["refused"] += 1
    else:
        assert (ours, ours) == tuple(torch_shape), f"{cfg}: torch {tuple(torch_shape)}, ours {ours}"
        counts["checked"] += 1


def test_conv_output_size_whole_grid():
    counts = {"checked": 0, "refused": 0}
    for i, k, s, p, d in itertools.product(SIZES, KERNELS, STRIDES, PADDINGS, DILATIONS):
        x, w = torch.zeros(1, 1, i, i), torch.zeros(1, 1, k, k)
        got = _torch_size(lambda: F.conv2d(x, w, stride=s, padding=p, dilation=d))
        _check(got, _ours(conv_output_size, i, k, s, p, d), (i, k, s, p, d), counts)
    assert counts["checked"] > 500 and counts["refused"] > 100, counts  # both kinds occur


def test_conv_transpose_output_size_whole_grid_including_dilation():
    counts = {"checked": 0, "refused": 0}
    for i, k, s, p, d, op in itertools.product(SIZES, KERNELS, STRIDES, PADDINGS, DILATIONS,
                                               range(0, 4)):
        x, w = torch.zeros(1, 1, i, i), torch.zeros(1, 1, k, k)
        got = _torch_size(lambda: F.conv_transpose2d(x, w, stride=s, padding=p,
                                                     output_padding=op, dilation=d))
        ours = _ours(conv_transpose_output_size, i, k, s, p, d, op)
        _check(got, ours, (i, k, s, p, d, op), counts)
    # output_padding in [stride, dilation) occurs (the dilated case) and is accepted
    assert conv_transpose_output_size(3, 3, s=1, d=3, output_padding=2) == 11
    assert counts["checked"] > 1500 and counts["refused"] > 1000, counts


@pytest.mark.parametrize("ceil_mode", [False, True])
def test_max_pool_output_size_whole_grid(ceil_mode):
    counts = {"checked": 0, "refused": 0}
    for i, k, s, p, d in itertools.product(SIZES, KERNELS, STRIDES, PADDINGS, DILATIONS):
        x = torch.zeros(1, 1, i, i)
        got = _torch_size(lambda: F.max_pool2d(x, k, s, p, d, ceil_mode=ceil_mode))
        _check(got, _ours(pool_output_size, i, k, s, p, d, ceil_mode), (i, k, s, p, d), counts)
    assert counts["checked"] > 300 and counts["refused"] > 100, counts


@pytest.mark.parametrize("ceil_mode", [False, True])
def test_avg_pool_output_size_whole_grid(ceil_mode):
    counts = {"checked": 0, "refused": 0}
    for i, k, s, p in itertools.product(SIZES, KERNELS, STRIDES, PADDINGS):
        x = torch.zeros(1, 1, i, i)
        got = _torch_size(lambda: F.avg_pool2d(x, k, s, p, ceil_mode=ceil_mode))
        _check(got, _ours(pool_output_size, i, k, s, p, 1, ceil_mode), (i, k, s, p), counts)
    assert counts["checked"] > 100, counts


def test_height_and_width_are_independent():
    x, w = torch.zeros(1, 1, 9, 5), torch.zeros(1, 1, 3, 2)
    y = F.conv2d(x, w, stride=(2, 1), padding=(1, 0), dilation=(1, 3))
    assert tuple(y.shape[-2:]) == (conv_output_size(9, 3, 2, 1, 1), conv_output_size(5, 2, 1, 0, 3))


def test_pool_stride_defaults_to_kernel():
    assert pool_output_size(8, 2) == 4 == F.max_pool2d(torch.zeros(1, 1, 8, 8), 2).shape[-1]


def test_effective_kernel_size():
    assert [effective_kernel_size(3, d) for d in (1, 2, 3, 4)] == [3, 5, 7, 9]
    assert effective_kernel_size(1, 7) == 1


@pytest.mark.parametrize("call, word", [
    (lambda: conv_output_size(3, 5), "smaller than the effective kernel"),
    (lambda: conv_output_size(5, 3, s=0), "stride"),
    (lambda: conv_output_size(0, 3), "input size"),
    (lambda: conv_output_size(5, 0), "kernel size"),
    (lambda: conv_output_size(5, 3, p=-1), "padding"),
    (lambda: conv_output_size(5, 3, d=0), "dilation"),
    (lambda: conv_transpose_output_size(4, 3, s=2, output_padding=2), "output_padding"),
    (lambda: conv_transpose_output_size(1, 1, p=1), "< 1"),
    (lambda: pool_output_size(5, 2, p=2), "half the kernel"),
])
def test_impossible_configurations_say_why(call, word):
    with pytest.raises(ValueError, match=word):
        call()


def test_output_padding_below_dilation_is_allowed_like_torch():
    # stride 1, dilation 2: output_padding 1 is legal (the case the classic guide omits)
    o = conv_transpose_output_size(5, 3, s=1, d=2, output_padding=1)
    got = F.conv_transpose2d(torch.zeros(1, 1, 5, 5), torch.zeros(1, 1, 3, 3), dilation=2,
                             output_padding=1).shape[-1]
    assert o == got == 10


def test_transposed_size_inverts_forward_size():
    # every input size of a forward conv is recovered by one output_padding < s
    for i, k, s, p, d in itertools.product(range(3, 12), (1, 2, 3), (1, 2, 3), (0, 1), (1, 2)):
        try:
            o = conv_output_size(i, k, s, p, d)
        except ValueError:
            continue
        back = {conv_transpose_output_size(o, k, s, p, d, op) for op in range(s)}
        assert i in back


def _torch_receptive_field(layers, size=64):
    """Measure the receptive field of the centre output pixel with autograd (all-ones nets)."""
    x = torch.zeros(1, 1, size, size, requires_grad=True)
    y = x
    for k, s, p, d in layers:
        y = F.conv2d(y, torch.ones(1, 1, k, k), stride=s, padding=p, dilation=d)
    c = y.shape[-1] // 2
    y[0, 0, c, c].backward()
    rows = (x.grad[0, 0].abs().sum(1) > 0).nonzero()
    return int(rows.max() - rows.min() + 1)


@pytest.mark.parametrize("layers", [
    [(3, 1, 0, 1)] * 4,
    [(3, 1, 0, 1), (3, 1, 0, 2), (3, 1, 0, 4)],
    [(3, 2, 1, 1), (3, 2, 1, 1), (3, 1, 1, 1)],
    [(7, 2, 3, 1), (3, 2, 1, 1), (3, 1, 1, 2)],
])
def test_receptive_field_matches_autograd(layers):
    fields = receptive_field(layers)
    assert fields[-1].size == _torch_receptive_field(layers)
    jump = 1
    for f, (k, s, p, d) in zip(fields, layers):
        jump *= s
        assert f.jump == jump


def test_dilated_stack_grows_exponentially_at_equal_cost():
    plain = receptive_field([Layer(3)] * 5)
    dilated = receptive_field([Layer(3, d=2 ** n) for n in range(5)])
    assert [f.size for f in plain] == [3, 5, 7, 9, 11]             # linear: 2L + 1
    assert [f.size for f in dilated] == [3, 7, 15, 31, 63]         # exponential: 2^(L+1) - 1


def test_receptive_field_start_is_centre_of_first_window():
    # 3x3, padding 1: the first output pixel is centred on the first input pixel
    assert receptive_field([Layer(3, 1, 1)])[0].start == 0.5
    assert receptive_field([Layer(2, 2, 0)])[0].start == 1.0


def test_stack_output_size_and_error_names_layer():
    assert stack_output_size(224, [Layer(7, 2, 3), Layer(3, 2, 1), Layer(3, 1, 1)]) == 56
    assert stack_output_size(7, [Layer(4, 2, 1, transposed=True)]) == 14
    with pytest.raises(ValueError, match="layer 1"):
        stack_output_size(8, [Layer(3), Layer(9)])


@pytest.mark.parametrize("i, o, k, g, bias", [(3, 64, 3, 1, True), (64, 128, (3, 1), 1, False),
                                              (32, 32, 3, 32, True), (16, 8, 5, 4, True)])
def test_parameter_count_matches_nn_conv2d(i, o, k, g, bias):
    layer = torch.nn.Conv2d(i, o, k, groups=g, bias=bias, dilation=2)
    assert conv_parameter_count(i, o, k, g, bias) == sum(t.numel() for t in layer.parameters())


def test_parameter_count_rejects_bad_groups():
    with pytest.raises(ValueError, match="groups"):
        conv_parameter_count(6, 4, 3, groups=4)
