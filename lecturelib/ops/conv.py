"""Convolution three ways and transposed convolution two ways, all equal to PyTorch's.

Forward convolution, ``input [N, C, H, W]``, ``weight [O, C/groups, KH, KW]``, ``bias [O]``
-> ``[N, O, OH, OW]`` (sizes from :mod:`lecturelib.conv_arithmetic`):

1. :func:`conv2d_reference` -- plain loops over output pixels: each output value is the sum of
   the kernel times the (dilated) patch under it. The version to read.
2. :func:`conv2d_im2col` -- copy every patch into a column (:func:`im2col`), then one matrix
   product with the weights. The CPU path.
3. the Triton kernel (:mod:`lecturelib.ops._triton.conv`) -- the same matrix product without
   building the column matrix. The GPU path.

Transposed convolution, ``input [N, C, H, W]``, ``weight [C, O/groups, KH, KW]`` (note: the
*input* channels come first, as in ``nn.ConvTranspose2d``) -> ``[N, O, OH, OW]``:

1. :func:`conv_transpose2d_scatter` -- every input pixel stamps a copy of the kernel, scaled by
   its value, onto the output at ``stride`` spacing; overlapping stamps add up. The reading version.
2. :func:`conv_transpose2d_zero_insertion` -- insert ``stride - 1`` zeros between input pixels,
   pad, and run an ordinary stride-1 convolution with the flipped kernel. The CPU path (and, with
   the Triton convolution underneath, the GPU path).

Both are the *adjoint* of the forward convolution: the gradient of ``conv2d`` with respect to
its input is ``conv_transpose2d`` of the output gradient with the same weight. That is why a
transposed convolution undoes the *shape* change of a convolution -- and not its values: it is
not a deconvolution (an inverse).

:func:`conv2d` and :func:`conv_transpose2d` take torch's arguments in torch's order, check them
(``ValueError`` naming the argument), and pick the path with ``backend=`` (see
:mod:`lecturelib.ops.backends`).
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F

from lecturelib.ops.backends import implementation
from lecturelib.conv_arithmetic import conv_output_size, conv_transpose_output_size

__all__ = [
    "conv2d", "conv_transpose2d",
    "conv2d_reference", "conv2d_im2col", "im2col",
    "conv_transpose2d_scatter", "conv_transpose2d_zero_insertion",
]


# ---------------------------------------------------------------------------------------------
# argument checking
# ---------------------------------------------------------------------------------------------
class ConvArgs(NamedTuple):
    """Checked arguments: every spatial setting as an ``(height, width)`` pair."""
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]
    output_padding: tuple[int, int]
    groups: int
    out_size: tuple[int, int]


def _pair(name: str, value, minimum: int) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in pair):
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    if min(pair) < minimum:
        kind = "positive" if minimum == 1 else "non-negative"
        raise ValueError(f"{name} must be {kind}, got {value!r}")
    return pair


def _check_args(input, weight, bias, stride, padding, dilation, groups,
                transposed=False, output_padding=0) -> ConvArgs:
    """Check shapes, dtypes and settings; compute the output size. ``input`` must be 4-D."""
    for name, t in (("input", input), ("weight", weight)):
        if not isinstance(t, torch.Tensor):
            raise ValueError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.ndim != 4:
            raise ValueError(f"{name} must be 4-D, got shape {tuple(t.shape)}")
        if not t.is_floating_point():
            raise ValueError(f"{name} must be a floating-point tensor, got {t.dtype}")
    if weight.dtype != input.dtype or weight.device != input.device:
        raise ValueError(f"weight ({weight.dtype}, {weight.device}) must match input "
                         f"({input.dtype}, {input.device})")
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ValueError(f"groups must be a positive int, got {groups!r}")
    C = input.shape[1]
    if transposed:  # weight [C, O/groups, KH, KW]
        if weight.shape[0] != C:
            raise ValueError(f"weight.shape[0] ({weight.shape[0]}) must equal the input "
                             f"channels ({C}) for a transposed convolution")
        if C % groups:
            raise ValueError(f"input channels ({C}) must be divisible by groups ({groups})")
        out_channels = weight.shape[1] * groups
    else:  # weight [O, C/groups, KH, KW]
        if weight.shape[1] * groups != C:
            raise ValueError(f"input has {C} channels but weight expects weight.shape[1] x "
                             f"groups = {weight.shape[1]} x {groups} = {weight.shape[1] * groups}")
        if weight.shape[0] % groups:
            raise ValueError(f"out channels weight.shape[0] ({weight.shape[0]}) must be "
                             f"divisible by groups ({groups})")
        out_channels = weight.shape[0]
    if bias is not None:
        if not isinstance(bias, torch.Tensor) or tuple(bias.shape) != (out_channels,):
            shape = tuple(bias.shape) if isinstance(bias, torch.Tensor) else type(bias).__name__
            raise ValueError(f"bias must have shape ({out_channels},), got {shape}")
        if bias.dtype != input.dtype or bias.device != input.device:
            raise ValueError("bias must have the same dtype and device as input")
    stride = _pair("stride", stride, 1)
    padding = _pair("padding", padding, 0)
    dilation = _pair("dilation", dilation, 1)
    output_padding = _pair("output_padding", output_padding, 0)
    if not transposed and output_padding != (0, 0):
        raise ValueError("output_padding only exists for transposed convolutions")
    kernel = weight.shape[2:]
    out = []
    for axis in (0, 1):
        size = input.shape[2 + axis]
        try:
            if transposed:
                out.append(conv_transpose_output_size(size, kernel[axis], stride[axis],
                                                      padding[axis], dilation[axis],
                                                      output_padding[axis]))
            else:
                out.append(conv_output_size(size, kernel[axis], stride[axis], padding[axis],
                                            dilation[axis]))
        except ValueError as err:
            raise ValueError(f"input {'height' if axis == 0 else 'width'} {size}: {err}") from None
    return ConvArgs(stride, padding, dilation, output_padding, groups, (out[0], out[1]))


# ---------------------------------------------------------------------------------------------
# forward convolution
# ---------------------------------------------------------------------------------------------
def conv2d_reference(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Convolution as the lecture draws it: slide the kernel, multiply, add. Plain loops.

    ``input [N, C, H, W]``, ``weight [O, C/groups, KH, KW]``, ``bias [O]`` or None ->
    ``[N, O, OH, OW]``. (Like every deep-learning "convolution" this is a cross-correlation:
    the kernel is not flipped.) Slow -- for reading and for small checks.
    """
    a = _check_args(input, weight, bias, stride, padding, dilation, groups)
    (sy, sx), (py, px), (dy, dx) = a.stride, a.padding, a.dilation
    N = input.shape[0]
    O, c_per_group, KH, KW = weight.shape
    OH, OW = a.out_size
    o_per_group = O // groups

    padded = F.pad(input, (px, px, py, py))          # zeros around the image
    out = input.new_zeros((N, O, OH, OW))
    for n in range(N):
        for o in range(O):
            g = o // o_per_group                      # which block of input channels it reads
            channels = slice(g * c_per_group, (g + 1) * c_per_group)
            for oy in range(OH):
                for ox in range(OW):
                    top, left = oy * sy, ox * sx      # where the kernel sits in the padded input
                    patch = padded[n, channels,
                                   top: top + dy * (KH - 1) + 1: dy,     # every dy-th row
                                   left: left + dx * (KW - 1) + 1: dx]   # every dx-th column
                    out[n, o, oy, ox] = (patch * weight[o]).sum()
    if bias is not None:
        out = out + bias.view(1, O, 1, 1)
    return out


def im2col(input, kernel_size, stride=1, padding=0, dilation=1):
    """Copy each receptive-field patch into a column: ``[N, C, H, W] -> [N, C*KH*KW, OH*OW]``.

    Row ``(c, ky, kx)`` of the result holds, for every output pixel, the input value under tap
    ``(ky, kx)`` of channel ``c``. Same result and order as ``torch.nn.functional.unfold``.
    Built with one strided slice per kernel tap (``KH*KW`` copies, no Python loop over pixels).
    """
    KH, KW = _pair("kernel_size", kernel_size, 1)
    (sy, sx), (py, px), (dy, dx) = (_pair("stride", stride, 1), _pair("padding", padding, 0),
                                    _pair("dilation", dilation, 1))
    N, C, H, W = input.shape
    OH = conv_output_size(H, KH, sy, py, dy)
    OW = conv_output_size(W, KW, sx, px, dx)
    padded = F.pad(input, (px, px, py, py))
    taps = []
    for ky in range(KH):
        for kx in range(KW):
            # the value under tap (ky, kx) for every output pixel: a strided view of the image
            taps.append(padded[:, :, ky * dy: ky * dy + sy * (OH - 1) + 1: sy,
                                     kx * dx: kx * dx + sx * (OW - 1) + 1: sx])
    cols = torch.stack(taps, dim=2)                   # [N, C, KH*KW, OH, OW]
    return cols.reshape(N, C * KH * KW, OH * OW)


def conv2d_im2col(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """Convolution as one matrix product: ``weight [O, C*K] @ im2col(input) [C*K, OH*OW]``.

    Shapes as :func:`conv2d_reference`. With groups, the ``C*K`` rows split into ``groups``
    blocks and each block of output channels multiplies only its own rows (a batched matmul).
    """
    a = _check_args(input, weight, bias, stride, padding, dilation, groups)
    N = input.shape[0]
    O, c_per_group, KH, KW = weight.shape
    OH, OW = a.out_size
    cols = im2col(input, (KH, KW), a.stride, a.padding, a.dilation)    # [N, C*K, L]
    cols = cols.view(N, groups, c_per_group * KH * KW, OH * OW)          # [N, G, C/G*K, L]
    w = weight.reshape(groups, O // groups, c_per_group * KH * KW)      # [G, O/G, C/G*K]
    out = torch.matmul(w, cols)                                          # [N, G, O/G, L]
    out = out.reshape(N, O, OH, OW)
    if bias is not None:
        out = out + bias.view(1, O, 1, 1)
    return out


# ---------------------------------------------------------------------------------------------
# transposed convolution
# ---------------------------------------------------------------------------------------------
def conv_transpose2d_scatter(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                             groups=1, dilation=1):
    """Transposed convolution by stamping: each input pixel adds ``value x kernel`` to the output.

    ``input [N, C, H, W]``, ``weight [C, O/groups, KH, KW]``, ``bias [O]`` -> ``[N, O, OH, OW]``.
    Input pixel ``(iy, ix)`` lands at ``(iy*sy, ix*sx)`` of a large canvas; its stamp covers the
    dilated footprint of the kernel there. Where stamps overlap, they add. Finally ``padding``
    *crops* the canvas on every side (the opposite of the forward padding) and
    ``output_padding`` keeps extra rows/columns at the bottom/right. Loops over input pixels.
    """
    a = _check_args(input, weight, bias, stride, padding, dilation, groups,
                    transposed=True, output_padding=output_padding)
    (sy, sx), (py, px), (dy, dx) = a.stride, a.padding, a.dilation
    N, C, H, W = input.shape
    _, o_per_group, KH, KW = weight.shape
    O, OH, OW = o_per_group * groups, *a.out_size
    c_per_group = C // groups

    # canvas = the output before cropping `padding` on each side
    canvas = input.new_zeros((N, O, OH + 2 * py, OW + 2 * px))
    w = weight.reshape(groups, c_per_group, o_per_group, KH, KW)
    for iy in range(H):
        for ix in range(W):
            v = input[:, :, iy, ix].reshape(N, groups, c_per_group)       # [N, G, C/G]
            stamp = torch.einsum("ngc,gcokl->ngokl", v, w).reshape(N, O, KH, KW)
            canvas[:, :, iy * sy: iy * sy + dy * (KH - 1) + 1: dy,
                         ix * sx: ix * sx + dx * (KW - 1) + 1: dx] += stamp
    out = canvas[:, :, py: py + OH, px: px + OW]
    if bias is not None:
        out = out + bias.view(1, O, 1, 1)
    return out


def _zero_insert_and_flip(input, weight, a: ConvArgs):
    """The two preparations of the zero-insertion method (see the function below)."""
    (sy, sx), (py, px), (dy, dx) = a.stride, a.padding, a.dilation
    oph, opw = a.output_padding
    N, C, H, W = input.shape
    _, o_per_group, KH, KW = weight.shape
    groups = a.groups

    # 1. stretch: stride-1 zeros between neighbouring input pixels
    stretched = input.new_zeros((N, C, (H - 1) * sy + 1, (W - 1) * sx + 1))
    stretched[:, :, ::sy, ::sx] = input
    # 2. pad by (effective kernel - 1 - padding); negative means crop. output_padding: one side.
    qy, qx = dy * (KH - 1) - py, dx * (KW - 1) - px
    stretched = F.pad(stretched, (qx, qx + opw, qy, qy + oph))
    # 3. the kernel flipped in space, with in/out channels swapped inside each group
    w = weight.reshape(groups, C // groups, o_per_group, KH, KW).transpose(1, 2)
    w = w.reshape(groups * o_per_group, C // groups, KH, KW).flip(-2, -1)
    return stretched, w


def conv_transpose2d_zero_insertion(input, weight, bias=None, stride=1, padding=0,
                                    output_padding=0, groups=1, dilation=1, *, conv=None):
    """Transposed convolution as an ordinary convolution on a stretched, padded input.

    Shapes as :func:`conv_transpose2d_scatter`. Steps:

    1. insert ``stride - 1`` zeros between input pixels (``H -> (H-1)*s + 1``);
    2. pad every side by ``d*(k-1) - padding`` (crop if negative) and the bottom/right by
       ``output_padding`` more;
    3. convolve with stride 1, the same dilation and groups, and the kernel flipped in space
       with its two channel axes swapped.

    ``conv`` is the stride-1 convolution used in step 3 (default :func:`conv2d_im2col`).
    The inserted zeros are wasted multiplications -- the price of the simple picture.
    """
    a = _check_args(input, weight, bias, stride, padding, dilation, groups,
                    transposed=True, output_padding=output_padding)
    stretched, w = _zero_insert_and_flip(input, weight, a)
    conv = conv2d_im2col if conv is None else conv
    return conv(stretched, w, bias, stride=1, padding=0, dilation=a.dilation, groups=groups)


# ---------------------------------------------------------------------------------------------
# the Triton path, with a backward made of the formulas above
# ---------------------------------------------------------------------------------------------
class _TritonConv2d(torch.autograd.Function):
    """Forward: the Triton kernel. Backward: the adjoint (a transposed convolution) for the
    input, ``grad_out @ im2col(input)^T`` for the weight, a sum for the bias."""

    @staticmethod
    def forward(ctx, input, weight, bias, a: ConvArgs):
        from lecturelib.ops._triton.conv import conv2d_triton
        ctx.save_for_backward(input, weight)
        ctx.args, ctx.has_bias = a, bias is not None
        return conv2d_triton(input, weight, bias, a.stride, a.padding, a.dilation, a.groups,
                             a.out_size)

    @staticmethod
    def backward(ctx, grad_out):
        input, weight = ctx.saved_tensors
        a = ctx.args
        grad_input = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            # rows/columns the forward dropped (floor in the size formula) come back as
            # output_padding, so the gradient has exactly the input's size
            op = tuple(input.shape[2 + i] - conv_transpose_output_size(
                grad_out.shape[2 + i], weight.shape[2 + i], a.stride[i], a.padding[i],
                a.dilation[i]) for i in (0, 1))
            grad_input = conv_transpose2d(grad_out, weight, None, a.stride, a.padding, op,
                                          a.groups, a.dilation, backend="triton")
        if ctx.needs_input_grad[1]:
            N, O, OH, OW = grad_out.shape
            G = a.groups
            cols = im2col(input, weight.shape[2:], a.stride, a.padding, a.dilation)
            cols = cols.view(N, G, -1, OH * OW)                          # [N, G, C/G*K, L]
            g = grad_out.reshape(N, G, O // G, OH * OW)                  # [N, G, O/G, L]
            grad_weight = torch.einsum("ngol,ngkl->gok", g, cols).reshape(weight.shape)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_bias = grad_out.sum(dim=(0, 2, 3))
        return grad_input, grad_weight, grad_bias, None


def conv2d_triton(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    a = _check_args(input, weight, bias, stride, padding, dilation, groups)
    if input.dtype not in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
        raise ValueError(f"the Triton path supports float16/bfloat16/float32/float64 inputs, "
                         f"got {input.dtype}")
    return _TritonConv2d.apply(input, weight, bias, a)


# ---------------------------------------------------------------------------------------------
# public entry points (torch's signatures)
# ---------------------------------------------------------------------------------------------
def conv_transpose2d_triton(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                            groups=1, dilation=1):
    """Zero insertion + the Triton convolution kernel: the transposed convolution on a GPU."""
    return conv_transpose2d_zero_insertion(input, weight, bias, stride, padding, output_padding,
                                           groups, dilation, conv=conv2d_triton)


def _same_padding(input, weight, stride, dilation):
    """Padding for ``padding='same'``: returns (padded input, per-side padding)."""
    if _pair("stride", stride, 1) != (1, 1):
        raise ValueError("padding='same' needs stride 1 (as in torch)")
    dilation = _pair("dilation", dilation, 1)
    pads, extra = [], []
    for axis in (0, 1):
        total = dilation[axis] * (weight.shape[2 + axis] - 1)
        pads.append(total // 2)
        extra.append(total - 2 * (total // 2))   # torch puts an odd pixel at the bottom/right
    if any(extra):
        input = F.pad(input, (0, extra[1], 0, extra[0]))
    return input, tuple(pads)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *,
           backend=None):
    """2-D convolution, same arguments and result as ``torch.nn.functional.conv2d``.

    ``input [N, C, H, W]`` or unbatched ``[C, H, W]``; ``weight [O, C/groups, KH, KW]``;
    ``bias [O]`` or None; ``stride``, ``padding``, ``dilation`` an int or ``(h, w)``;
    ``padding`` may also be ``"valid"`` (0) or ``"same"`` (output size = input size, stride 1).
    Returns ``[N, O, OH, OW]`` with ``OH = floor((H + 2p - d(KH-1) - 1) / s) + 1``.

    ``backend``: ``"reference"`` (loops), ``"cpu"`` (im2col + matmul), ``"triton"`` (the
    kernel; CUDA, or CPU under the interpreter), ``"auto"``/None (Triton on CUDA, else cpu).
    Differentiable on every path.
    """
    if not isinstance(input, torch.Tensor) or input.ndim not in (3, 4):
        shape = tuple(input.shape) if isinstance(input, torch.Tensor) else type(input).__name__
        raise ValueError(f"input must be a 4-D [N, C, H, W] or 3-D [C, H, W] tensor, got {shape}")
    if input.ndim == 3:
        return conv2d(input.unsqueeze(0), weight, bias, stride, padding, dilation, groups,
                      backend=backend).squeeze(0)
    if isinstance(padding, str):
        if padding == "valid":
            padding = 0
        elif padding == "same":
            if not isinstance(weight, torch.Tensor) or weight.ndim != 4:
                raise ValueError("weight must be a 4-D tensor [O, C/groups, KH, KW]")
            input, padding = _same_padding(input, weight, stride, dilation)
        else:
            raise ValueError(f"padding must be an int, a pair, 'valid' or 'same', got {padding!r}")
    run = implementation("conv2d", backend, input, weight)
    return run(input, weight, bias, stride, padding, dilation, groups)


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1,
                     dilation=1, *, backend=None):
    """2-D transposed convolution, same arguments and result as ``F.conv_transpose2d``.

    ``input [N, C, H, W]`` or ``[C, H, W]``; ``weight [C, O/groups, KH, KW]``; ``bias [O]``.
    Returns ``[N, O, OH, OW]`` with ``OH = (H-1)s - 2p + d(KH-1) + output_padding + 1``.
    ``output_padding`` must be smaller than ``max(stride, dilation)``.

    ``backend``: ``"reference"`` (stamping loops), ``"cpu"`` (zero insertion + im2col conv),
    ``"triton"`` (zero insertion + the Triton conv kernel), ``"auto"``/None.
    """
    if not isinstance(input, torch.Tensor) or input.ndim not in (3, 4):
        shape = tuple(input.shape) if isinstance(input, torch.Tensor) else type(input).__name__
        raise ValueError(f"input must be a 4-D [N, C, H, W] or 3-D [C, H, W] tensor, got {shape}")
    if input.ndim == 3:
        return conv_transpose2d(input.unsqueeze(0), weight, bias, stride, padding,
                                output_padding, groups, dilation, backend=backend).squeeze(0)
    run = implementation("conv_transpose2d", backend, input, weight)
    return run(input, weight, bias, stride, padding, output_padding, groups, dilation)
