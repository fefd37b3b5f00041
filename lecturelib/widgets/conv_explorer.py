"""Explorers for lesson 01: where a convolution's kernel sits, and how far a stack of them sees.

Two drawing functions take plain numbers, draw with matplotlib and return a small dict of what
they computed (so they are tested without a Jupyter kernel):

- :func:`draw_conv` -- the input grid with its padding, the kernel's taps at one output
  position (dilated taps visibly apart), the output grid, and the output-size formula with the
  numbers filled in. In transposed mode it draws the equivalent stride-1 convolution over the
  input with ``stride - 1`` zeros inserted between pixels (the picture of the conv_arithmetic
  guide), so you can see which taps hit real pixels and which hit inserted zeros.
- :func:`draw_receptive_field` -- which input pixels reach the centre output pixel through a
  stack of plain 3x3 layers versus a stack with dilations 1, 2, 4, ... (same parameter count),
  and the receptive field size layer by layer.

:func:`conv_explorer` and :func:`receptive_field_explorer` wrap them in ipywidgets sliders.
"""
from __future__ import annotations

import textwrap

import numpy as np
import torch
from matplotlib.colors import LogNorm, to_rgb
from matplotlib.patches import Rectangle

from lecturelib.conv_arithmetic import (conv_output_size, conv_parameter_count,
                                        conv_transpose_output_size, effective_kernel_size,
                                        receptive_field)
from lecturelib.ops.conv import conv_transpose2d

from .. import viz
from ._explorer import Explorer, figure_axes

__all__ = ["draw_conv", "draw_receptive_field", "conv_explorer", "receptive_field_explorer"]

# one colour per kind of cell
COLORS = {
    "input": viz.tint(viz.SKY_BLUE, 0.45),      # a real input pixel
    "padding": "#eeeeee",                       # zero padding around the input
    "zero": "#ffffff",                          # a zero inserted between pixels (transposed mode)
    "tap": viz.VERMILLION,                      # a kernel tap on a real pixel
    "tap_empty": viz.tint(viz.ORANGE, 0.5),     # a kernel tap on padding or on an inserted zero
    "output": viz.tint(viz.GREEN, 0.75),
    "chosen": viz.GREEN,
}
MAX_FIELD = 512     # largest receptive field draw_receptive_field will draw (pixels)


def _grid(ax, kinds: np.ndarray, offset: float, palette: dict):
    """Draw a ``kinds`` array (strings) as coloured cells with thin grid lines."""
    rgb = np.zeros(kinds.shape + (3,))
    for name, colour in palette.items():
        rgb[kinds == name] = to_rgb(colour)
    h, w = kinds.shape
    ax.imshow(rgb, extent=(offset - 0.5, offset + w - 0.5, offset + h - 0.5, offset - 0.5),
              interpolation="nearest")
    if max(h, w) <= 40:   # beyond that the lines would hide the cells
        lines = np.arange(-0.5, max(h, w) + 0.5)
        ax.hlines(offset + lines[: h + 1], offset - 0.5, offset + w - 0.5, color="#666666",
                  lw=0.5)
        ax.vlines(offset + lines[: w + 1], offset - 0.5, offset + h - 0.5, color="#666666",
                  lw=0.5)


def _frame(ax, size: float, title: str):
    ax.set_xlim(-0.7, size - 0.3)
    ax.set_ylim(size - 0.3, -0.7)
    ax.set_title(title, fontsize=10)


def _conv_axes(fig):
    gs = fig.add_gridspec(1, 3, width_ratios=[1, 1, 0.9], wspace=0.08,
                          left=0.02, right=0.99, bottom=0.12, top=0.9)
    axes = [fig.add_subplot(gs[0, n]) for n in range(3)]
    for ax in axes[:2]:
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
    axes[2].axis("off")
    handles = [Rectangle((0, 0), 1, 1, fc=COLORS[n], ec="#666666", lw=0.5)
               for n in ("input", "padding", "zero", "tap", "tap_empty", "chosen")]
    fig.legend(handles, ["input pixel", "padding", "inserted zero", "kernel tap on a pixel",
                         "tap on padding / zero", "output pixel shown"],
               loc="lower center", ncol=6, fontsize=8, frameon=False)
    return axes


def draw_conv(input_size: int = 5, kernel_size: int = 3, stride: int = 1, padding: int = 0,
              dilation: int = 1, out_row: int = 0, out_col: int = 0, transposed: bool = False,
              output_padding: int = 0, fig=None) -> dict:
    """Draw one square convolution (or transposed convolution) and the kernel at one output pixel.

    Returns a dict with ``output_size`` (None if the configuration is impossible, with the
    reason in ``error``), ``effective_kernel``, ``formula`` (the evaluated text), ``position``
    (the output pixel drawn, clamped into the output), ``canvas_size`` (side of the drawn input
    grid: padded input, or stretched + padded input in transposed mode), ``taps`` (the
    ``(row, col)`` canvas cells under the kernel), ``taps_on_input`` (how many of them hit a
    real input pixel) and ``figure``.
    """
    i, k, s, p, d, op = input_size, kernel_size, stride, padding, dilation, output_padding
    fig, (ax_in, ax_out, ax_txt) = figure_axes(fig, "conv", _conv_axes, (10, 4.2))
    k_eff = effective_kernel_size(k, d)
    result = {"effective_kernel": k_eff, "figure": fig, "error": None, "taps": [],
              "taps_on_input": 0, "position": None}
    try:
        if transposed:
            o = conv_transpose_output_size(i, k, s, p, d, op)
            formula = (f"transposed convolution\n"
                       f"o = (i-1)s - 2p + d(k-1) + output_padding + 1\n"
                       f"  = ({i}-1)*{s} - 2*{p} + {d}*({k}-1) + {op} + 1 = {o}")
        else:
            o = conv_output_size(i, k, s, p, d)
            formula = (f"convolution\n"
                       f"o = floor((i + 2p - d(k-1) - 1) / s) + 1\n"
                       f"  = floor(({i} + 2*{p} - {d}*({k}-1) - 1) / {s}) + 1 = {o}")
    except ValueError as err:
        o, formula = None, "impossible configuration:\n" + textwrap.fill(str(err), 44)
        result["error"] = str(err)
    formula += f"\n\neffective kernel k + (k-1)(d-1) = {k_eff}"
    q = d * (k - 1) - p            # transposed mode: padding of the stretched input
    if transposed:
        formula += (f"\n\ndrawn as a stride-1 convolution over the\n"
                    f"input with {s}-1 zeros between pixels,\n"
                    f"padded by d(k-1) - p = {q}"
                    + (f" (+{op} bottom/right)" if op else "")
                    + ("\n(negative: cropped)" if q < 0 else "")
                    + "\nand the kernel flipped")
    result.update(output_size=o, formula=formula)

    # the canvas: which kind of cell is where
    if transposed:
        stretched = (i - 1) * s + 1
        P = max(stretched + 2 * q + op, 1)
        t = np.arange(P) - q                           # canvas -> stretched-input coordinate
        inside = (t >= 0) & (t < stretched)
        real = inside & (t % s == 0)
        row_kind = np.where(real, 1, np.where(inside, 2, 0))
        step = 1
    else:
        P = i + 2 * p
        t = np.arange(P) - p
        real = (t >= 0) & (t < i)
        row_kind = np.where(real, 1, 0)
        step = s
    both_real = real[:, None] & real[None, :]
    both_inside = (row_kind[:, None] > 0) & (row_kind[None, :] > 0)
    kinds = np.full((P, P), "padding", dtype=object)
    kinds[both_inside] = "zero"
    kinds[both_real] = "input"
    result["canvas_size"] = P

    if o is not None:
        r, c = min(max(out_row, 0), o - 1), min(max(out_col, 0), o - 1)
        top, left = r * step, c * step
        taps = [(top + ky * d, left + kx * d) for ky in range(k) for kx in range(k)
                if top + ky * d < P and left + kx * d < P]
        for ty, tx in taps:
            kinds[ty, tx] = "tap" if both_real[ty, tx] else "tap_empty"
        result.update(position=(r, c), taps=taps,
                      taps_on_input=int(sum(both_real[ty, tx] for ty, tx in taps)))

    L = max(P, o or 1)
    off_in = (L - P) / 2
    _grid(ax_in, kinds, off_in, COLORS)
    if transposed:
        title = f"input {i}x{i}, stretched (s={s}) and padded"
    else:
        title = f"input {i}x{i} with padding {p}" if p else f"input {i}x{i}"
    _frame(ax_in, L, title)
    # the real input's border, and the window the kernel spans
    if transposed:
        lo, hi = max(q, 0), min(q + stretched, P)
    else:
        lo, hi = p, p + i
    ax_in.add_patch(Rectangle((off_in + lo - 0.5, off_in + lo - 0.5), hi - lo, hi - lo,
                              fill=False, lw=2, ec=viz.BLUE))
    if o is not None:
        ax_in.add_patch(Rectangle((off_in + left - 0.5, off_in + top - 0.5), k_eff, k_eff,
                                  fill=False, lw=2, ec=COLORS["tap"], ls="--"))
        out_kinds = np.full((o, o), "output", dtype=object)
        out_kinds[r, c] = "chosen"
        off_out = (L - o) / 2
        _grid(ax_out, out_kinds, off_out, COLORS)
        _frame(ax_out, L, f"output {o}x{o}, pixel ({r}, {c})")
    else:
        _frame(ax_out, L, "no output")
    ax_txt.text(0.0, 0.98, formula, va="top", ha="left", family="monospace", fontsize=8.5,
                transform=ax_txt.transAxes, color=viz.ERROR if o is None else "black")
    if o is not None:
        ax_txt.text(0.0, 0.02, f"{len(taps)} taps, {result['taps_on_input']} on real input "
                    f"pixels", va="bottom", ha="left", fontsize=9, transform=ax_txt.transAxes)
    return result


# ---------------------------------------------------------------------------------------------
def _paths_to_input(dilations, kernel_size: int, canvas: int) -> torch.Tensor:
    """How many paths lead from the centre output pixel back to each input pixel.

    The stack is ``len(dilations)`` single-channel convolutions with all-ones kernels and
    'same' padding. Carrying a one-hot output back through the layers is applying the
    transposed convolutions -- the adjoint -- in reverse order.
    """
    ones = torch.ones(1, 1, kernel_size, kernel_size, dtype=torch.float64)
    grad = torch.zeros(1, 1, canvas, canvas, dtype=torch.float64)
    grad[0, 0, canvas // 2, canvas // 2] = 1.0
    for d in reversed(dilations):
        grad = conv_transpose2d(grad, ones, padding=d * (kernel_size - 1) // 2, dilation=d,
                                backend="cpu")
    return grad[0, 0]


def _path_colour_bar(cax, norm: LogNorm) -> None:
    """The maps' colour scale as a bar, drawn by hand on ``cax``: one image on a log10 axis
    (Matplotlib's ``colorbar`` costs about as much as the rest of a redraw)."""
    top = np.log10(norm.vmax)
    cax.imshow(np.linspace(0, top, 256)[::-1, None], cmap="viridis", vmin=0, vmax=top,
               aspect="auto", extent=(0, 1, 0, top))
    ticks = [m * 10 ** e for e in range(int(top) + 1) for m in (1, 2, 5) if m * 10 ** e <= norm.vmax]
    if len(ticks) > 6:                                   # many decades: powers of ten only
        ticks = ticks[::3]
    cax.set_yticks(np.log10(ticks), [f"{t:,}" for t in ticks])
    cax.set_ylim(0, top)


def _rf_axes(fig):
    # the two maps, the line plot, and (last, so the first three keep their places) the colour
    # bar of the maps, between the second map and the plot
    gs = fig.add_gridspec(1, 5, width_ratios=[1, 1, 0.05, 0.12, 1.25], wspace=0.3,
                          left=0.03, right=0.98, bottom=0.16, top=0.84)
    axes = [fig.add_subplot(gs[0, n]) for n in (0, 1, 4, 2)]     # column 3: room for the ticks
    for ax in axes[:2]:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_facecolor("#f4f4f4")
        ax.set_xlabel("colour: paths to the centre output", fontsize=8)
    axes[2].set_xlabel("layer")
    axes[2].set_ylabel("receptive field (pixels)")
    axes[2].grid(alpha=0.3)
    axes[3].set_xticks([])
    axes[3].yaxis.tick_right()
    axes[3].tick_params(labelsize=8)
    axes[3].set_title("paths", fontsize=8)
    return axes


def draw_receptive_field(n_layers: int = 4, kernel_size: int = 3, base: int = 2,
                         channels: int = 64, fig=None) -> dict:
    """Compare a plain stack (dilation 1 everywhere) with a dilated one (1, base, base^2, ...).

    Both stacks have ``n_layers`` layers of ``kernel_size`` x ``kernel_size`` kernels with
    ``channels`` in and out, hence the same parameter count. Draws which input pixels reach the
    centre output pixel (colour = number of paths, log scale) for both, and the receptive field
    size after each layer. ``kernel_size`` must be odd ('same' padding).

    Returns ``dilations``, ``rf_plain``, ``rf_dilated`` (sizes per layer), ``params_plain``,
    ``params_dilated``, ``coverage_dilated`` (fraction of the dilated field's square that
    actually reaches the output: below 1 when ``base > kernel_size`` leaves holes, "gridding")
    and ``figure``.
    """
    if kernel_size % 2 == 0 or kernel_size < 1:
        raise ValueError(f"kernel_size must be odd, got {kernel_size}")
    if n_layers < 1:
        raise ValueError(f"n_layers must be positive, got {n_layers}")
    dilations = [base ** n for n in range(n_layers)]
    plain = [f.size for f in receptive_field([(kernel_size, 1, 0, 1)] * n_layers)]
    dilated = [f.size for f in receptive_field([(kernel_size, 1, 0, d) for d in dilations])]
    if dilated[-1] > MAX_FIELD:
        raise ValueError(f"the dilated field ({dilated[-1]} pixels) is too large to draw; "
                         f"use fewer layers or a smaller base (at most {MAX_FIELD} pixels)")
    fig, axes = figure_axes(fig, "receptive_field", _rf_axes, (10, 3.8))
    per_layer = conv_parameter_count(channels, channels, kernel_size)
    canvas = dilated[-1] + 2 * 2            # the largest field, plus a 2-pixel margin
    maps = {"plain": _paths_to_input([1] * n_layers, kernel_size, canvas),
            "dilated": _paths_to_input(dilations, kernel_size, canvas)}
    lo = (canvas - dilated[-1]) // 2
    square = maps["dilated"][lo: lo + dilated[-1], lo: lo + dilated[-1]]
    coverage = float((square > 0).double().mean())
    # one colour scale for both maps (log: the plain stack's centre has thousands of paths), so
    # that a dilated map where every reached pixel has exactly one path (dilation x3 with 3x3
    # kernels) reads "1" on the bar rather than looking like an arbitrary uniform square
    most = max(float(m.max()) for m in maps.values())
    norm = LogNorm(vmin=1, vmax=max(most, 2.0))

    for n, (name, rf, title) in enumerate([
            ("plain", plain[-1], f"plain: dilation 1 x {n_layers}"),
            ("dilated", dilated[-1], f"dilated: {', '.join(map(str, dilations))}")]):
        ax = axes[n]
        m = maps[name].numpy()
        shown = np.where(m > 0, m, np.nan)
        image = ax.imshow(shown, cmap="viridis", norm=norm, interpolation="nearest")
        start = (canvas - rf) / 2 - 0.5
        ax.add_patch(Rectangle((start, start), rf, rf, fill=False, ec=viz.VERMILLION, lw=1.5))
        holes = f", {coverage:.0%} reached" if name == "dilated" and coverage < 1 else ""
        reached = m[m > 0]
        paths = (f"{reached.min():.0f} path each" if reached.min() == reached.max()
                 else f"{reached.min():.0f} to {reached.max():,.0f} paths")
        ax.set_title(f"{title}\nreceptive field {rf}x{rf}{holes}\n{paths}", fontsize=9)
        ax.set_xlim(-0.5, canvas - 0.5)
        ax.set_ylim(canvas - 0.5, -0.5)
    _path_colour_bar(axes[3], norm)
    ax = axes[2]
    layers = np.arange(1, n_layers + 1)
    ax.plot(layers, plain, "o-", color=viz.BLUE, label=f"plain (+{kernel_size - 1} per layer)")
    ax.plot(layers, dilated, "s-", color=viz.VERMILLION, label=f"dilated (dilation x{base} per layer)")
    ax.set_xticks(layers)
    ax.relim()
    ax.autoscale_view()
    ax.legend(fontsize=8, loc="upper left")
    ax.set_title(f"same parameters: {n_layers} x {per_layer:,} = {n_layers * per_layer:,}"
                 f"\n({channels} channels in and out)", fontsize=9)
    return {"dilations": dilations, "rf_plain": plain, "rf_dilated": dilated,
            "params_plain": n_layers * per_layer, "params_dilated": n_layers * per_layer,
            "coverage_dilated": coverage, "figure": fig}


# ---------------------------------------------------------------------------------------------
def conv_explorer(input_size: int = 5, kernel_size: int = 3, stride: int = 1, padding: int = 0,
                  dilation: int = 1, transposed: bool = False):
    """Sliders for :func:`draw_conv`. Display the returned widget (last line of a cell)."""
    import ipywidgets as widgets
    style = {"description_width": "110px"}

    def slider(name, value, lo, hi):
        return widgets.IntSlider(value=value, min=lo, max=hi, description=name, style=style,
                                 continuous_update=True)

    controls = {
        "input_size": slider("input size i", input_size, 1, 12),
        "kernel_size": slider("kernel size k", kernel_size, 1, 7),
        "stride": slider("stride s", stride, 1, 4),
        "padding": slider("padding p", padding, 0, 4),
        "dilation": slider("dilation d", dilation, 1, 4),
        "transposed": widgets.ToggleButton(value=transposed, description="transposed",
                                           icon="exchange"),
        "output_padding": slider("output_padding", 0, 0, 3),
        "out_row": slider("output row", 0, 0, 20),
        "out_col": slider("output column", 0, 0, 20),
    }

    def limit_positions(c, changed=None):
        """Keep the position sliders inside the output (and output_padding legal)."""
        c["output_padding"].max = max(c["stride"].value, c["dilation"].value) - 1
        c["output_padding"].disabled = not c["transposed"].value
        args = (c["input_size"].value, c["kernel_size"].value, c["stride"].value,
                c["padding"].value, c["dilation"].value)
        try:
            o = (conv_transpose_output_size(*args, c["output_padding"].value)
                 if c["transposed"].value else conv_output_size(*args))
        except ValueError:
            o = 1
        c["out_row"].max = c["out_col"].max = o - 1

    return Explorer(draw_conv, controls, figsize=(10, 4.2), clear=False,
                    constrain=limit_positions, side_panel=True)


def receptive_field_explorer(n_layers: int = 4, kernel_size: int = 3, base: int = 2):
    """Sliders for :func:`draw_receptive_field`."""
    import ipywidgets as widgets
    style = {"description_width": "110px"}
    controls = {
        "n_layers": widgets.IntSlider(value=n_layers, min=1, max=6, description="layers",
                                      style=style),
        "kernel_size": widgets.Dropdown(options=[3, 5, 7], value=kernel_size,
                                        description="kernel size", style=style),
        "base": widgets.IntSlider(value=base, min=2, max=5, description="dilation x per layer",
                                  style=style),
    }

    def limit_layers(c, changed=None):
        """Fewer layers allowed for fast-growing stacks, so the picture stays drawable."""
        k, b = c["kernel_size"].value, c["base"].value
        fits = [n for n in range(1, 7)
                if receptive_field([(k, 1, 0, b ** m) for m in range(n)])[-1].size <= 256]
        c["n_layers"].max = max(fits)

    return Explorer(draw_receptive_field, controls, figsize=(10, 3.8), clear=False,
                    constrain=limit_layers, side_panel=True)
