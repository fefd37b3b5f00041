"""Convolution arithmetic: how big the output is, what one output pixel sees, what a layer costs.

Every formula here works on **one spatial axis** (apply it to the height and to the width
separately) and returns exactly the size PyTorch produces; the tests enumerate a grid of
configurations and compare with the shapes torch actually returns.

Symbols (the lecture's words in brackets):

- ``i`` input size, ``o`` output size
- ``k`` kernel size [field of view], ``s`` stride [step size], ``p`` padding [border handling]
  on *each* side, ``d`` dilation [spacing between the kernel's taps]

Formulas:

- effective kernel size      ``k_eff = k + (k - 1)(d - 1) = d (k - 1) + 1``
- convolution                ``o = floor((i + 2p - k_eff) / s) + 1``
- transposed convolution     ``o = (i - 1) s - 2p + k_eff + output_padding``
- pooling                    as convolution, with ``ceil`` in place of ``floor`` when
                             ``ceil_mode=True`` (but a window may not start in the right padding)
- receptive field of a stack ``r_l = r_{l-1} + (k_eff_l - 1) j_{l-1}``, jump ``j_l = j_{l-1} s_l``
- parameters of a layer      ``I/groups x O x K`` weights (``K = kh x kw``) + ``O`` biases

A configuration that cannot exist (an output smaller than one pixel, an ``output_padding`` that
does not fit, a zero stride, ...) raises ``ValueError`` saying why.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

__all__ = [
    "effective_kernel_size",
    "conv_output_size",
    "conv_transpose_output_size",
    "pool_output_size",
    "Layer",
    "LayerField",
    "receptive_field",
    "stack_output_size",
    "conv_parameter_count",
]


def _check_int(name: str, value, minimum: int) -> int:
    """``value`` as an int, or ValueError if it is not an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        if not (hasattr(value, "__index__")):
            raise ValueError(f"{name} must be an integer, got {value!r}")
        value = value.__index__()
    if value < minimum:
        kind = "positive" if minimum == 1 else "non-negative"
        raise ValueError(f"{name} must be {kind}, got {value}")
    return value


def effective_kernel_size(k: int, d: int = 1) -> int:
    """Span of a kernel of ``k`` taps with dilation ``d``: ``k + (k - 1)(d - 1)``.

    A 3-tap kernel with dilation 2 covers 5 pixels (taps at 0, 2, 4) with the same 3 weights.
    """
    k = _check_int("kernel size k", k, 1)
    d = _check_int("dilation d", d, 1)
    return k + (k - 1) * (d - 1)


def conv_output_size(i: int, k: int, s: int = 1, p: int = 0, d: int = 1) -> int:
    """Output size of a convolution along one axis: ``floor((i + 2p - k_eff) / s) + 1``.

    The kernel's first tap starts at the first padded pixel and moves by ``s``; the output has
    one pixel per position where the whole (dilated) kernel fits inside the padded input.
    Raises ``ValueError`` when not even one position fits.
    """
    i = _check_int("input size i", i, 1)
    s = _check_int("stride s", s, 1)
    p = _check_int("padding p", p, 0)
    k_eff = effective_kernel_size(k, d)
    padded = i + 2 * p
    if padded < k_eff:
        raise ValueError(
            f"output size would be < 1: the padded input ({i} + 2*{p} = {padded}) is smaller "
            f"than the effective kernel size ({k_eff} = {k} + ({k} - 1)*({d} - 1))")
    return (padded - k_eff) // s + 1


def conv_transpose_output_size(i: int, k: int, s: int = 1, p: int = 0, d: int = 1,
                               output_padding: int = 0) -> int:
    """Output size of a transposed convolution along one axis.

    ``o = (i - 1) s - 2p + d (k - 1) + output_padding + 1``.

    It is the input size of the forward convolution with the same ``k, s, p, d`` whose output
    size is ``i``. Because the forward formula floors, up to ``s - 1`` input sizes map to the
    same ``i``; ``output_padding`` (added on one side only) picks which one. PyTorch requires
    ``output_padding < max(s, d)``.
    """
    i = _check_int("input size i", i, 1)
    s = _check_int("stride s", s, 1)
    p = _check_int("padding p", p, 0)
    d = _check_int("dilation d", d, 1)
    k_eff = effective_kernel_size(k, d)
    output_padding = _check_int("output_padding", output_padding, 0)
    if output_padding >= max(s, d):
        raise ValueError(
            f"output_padding must be smaller than the stride or the dilation, got "
            f"output_padding={output_padding} with stride={s}, dilation={d}")
    o = (i - 1) * s - 2 * p + k_eff + output_padding
    if o < 1:
        raise ValueError(
            f"output size would be {o} < 1: padding {p} crops more than the "
            f"({i} - 1)*{s} + {k_eff} + {output_padding} pixels the transposed convolution makes")
    return o


def pool_output_size(i: int, k: int, s: int | None = None, p: int = 0, d: int = 1,
                     ceil_mode: bool = False) -> int:
    """Output size of max/avg pooling along one axis (``s`` defaults to ``k``, as in torch).

    Same as a convolution, except that with ``ceil_mode=True`` a last, partial window is kept
    -- as long as it starts inside the input or the left padding (a window lying entirely in
    the right padding would pool nothing). PyTorch also requires ``p <= k // 2``.
    """
    k = _check_int("kernel size k", k, 1)
    s = k if s is None else _check_int("stride s", s, 1)
    i = _check_int("input size i", i, 1)
    p = _check_int("padding p", p, 0)
    k_eff = effective_kernel_size(k, d)
    if p > k // 2:
        raise ValueError(f"pooling padding must be at most half the kernel size: "
                         f"p={p} > {k} // 2")
    span = i + 2 * p - k_eff
    o = (span + (s - 1 if ceil_mode else 0)) // s + 1  # Python's // floors, also below zero
    if ceil_mode and (o - 1) * s >= i + p:
        o -= 1  # the last window would start in the right padding
    if o < 1:
        raise ValueError(f"output size would be {o} < 1: the padded input ({i} + 2*{p}) is "
                         f"smaller than the effective kernel size {k_eff}")
    return o


@dataclass(frozen=True)
class Layer:
    """One layer of a stack, along one axis: kernel size, stride, padding, dilation.

    ``transposed=True`` makes it a transposed convolution (then ``output_padding`` counts).
    Pooling layers have the arithmetic of a convolution with the same numbers.
    """
    k: int
    s: int = 1
    p: int = 0
    d: int = 1
    transposed: bool = False
    output_padding: int = 0


@dataclass(frozen=True)
class LayerField:
    """What one output pixel of a layer sees, in input-image pixels.

    - ``size``: receptive field (how many input pixels can influence it)
    - ``jump``: distance in input pixels between two neighbouring output pixels
    - ``start``: input coordinate of the centre of the first output pixel's field
      (negative when padding is involved)
    """
    size: int
    jump: int
    start: float


def _as_layer(layer) -> Layer:
    if isinstance(layer, Layer):
        return layer
    if isinstance(layer, dict):
        return Layer(**layer)
    return Layer(*layer)


def receptive_field(layers: Iterable[Layer | Sequence[int] | dict]) -> list[LayerField]:
    """Receptive field, jump and start after each layer of a stack of convolutions/poolings.

    ``layers`` are :class:`Layer` objects, tuples ``(k, s, p, d)`` or dicts. Returns one
    :class:`LayerField` per layer. With ``j_0 = 1, r_0 = 1, start_0 = 0.5``::

        r_l = r_{l-1} + (k_eff_l - 1) * j_{l-1}
        j_l = j_{l-1} * s_l
        start_l = start_{l-1} + ((k_eff_l - 1) / 2 - p_l) * j_{l-1}

    (``start`` is measured in pixel units with pixel ``x`` covering ``[x, x+1)``, so the first
    input pixel is centred at 0.5.) Transposed layers are not supported here: their output
    pixels do not all see the same number of inputs.
    """
    r, j, start = 1, 1, 0.5
    out = []
    for n, layer in enumerate(map(_as_layer, layers)):
        if layer.transposed:
            raise ValueError(f"layer {n}: receptive_field handles convolutions and poolings, "
                             f"not transposed convolutions")
        k_eff = effective_kernel_size(layer.k, layer.d)
        s = _check_int(f"layer {n} stride", layer.s, 1)
        p = _check_int(f"layer {n} padding", layer.p, 0)
        start = start + ((k_eff - 1) / 2 - p) * j
        r = r + (k_eff - 1) * j
        j = j * s
        out.append(LayerField(size=r, jump=j, start=start))
    return out


def stack_output_size(i: int, layers: Iterable[Layer | Sequence[int] | dict]) -> int:
    """Output size after a stack of layers (convolutions and transposed convolutions)."""
    for n, layer in enumerate(map(_as_layer, layers)):
        try:
            if layer.transposed:
                i = conv_transpose_output_size(i, layer.k, layer.s, layer.p, layer.d,
                                               layer.output_padding)
            else:
                i = conv_output_size(i, layer.k, layer.s, layer.p, layer.d)
        except ValueError as err:
            raise ValueError(f"layer {n} ({layer}): {err}") from None
    return i


def conv_parameter_count(in_channels: int, out_channels: int, kernel_size: int | Sequence[int],
                         groups: int = 1, bias: bool = True) -> int:
    """Learnable numbers in a 2-D convolution layer: ``I/groups x O x K`` (+ ``O`` biases).

    ``K = kh x kw`` is the number of taps per kernel. Dilation, stride and padding cost nothing:
    a dilated 3x3 kernel still has 9 weights per (input, output) channel pair. With
    ``groups = g`` each output channel only looks at ``I/g`` input channels (``g = I``:
    depthwise convolution).
    """
    in_channels = _check_int("in_channels", in_channels, 1)
    out_channels = _check_int("out_channels", out_channels, 1)
    groups = _check_int("groups", groups, 1)
    if in_channels % groups or out_channels % groups:
        raise ValueError(f"in_channels ({in_channels}) and out_channels ({out_channels}) must "
                         f"both be divisible by groups ({groups})")
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    taps = _check_int("kernel height", kh, 1) * _check_int("kernel width", kw, 1)
    return in_channels // groups * out_channels * taps + (out_channels if bias else 0)
