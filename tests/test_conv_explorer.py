"""The lesson-01 explorers' drawing functions, without a Jupyter kernel: set values, check what
they computed and what they drew; plus the redraw time the sliders will feel."""

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from matplotlib.colors import to_rgb

from lecturelib.conv_arithmetic import receptive_field
from lecturelib.widgets.conv_explorer import (COLORS, conv_explorer, draw_conv,
                                              draw_receptive_field, receptive_field_explorer)

matplotlib.use("Agg")


pytestmark = pytest.mark.usefixtures("one_thread")


def cell_colour(ax, row, col):
    """RGB of canvas cell (row, col) in the first image of ``ax``."""
    rgb = ax.images[0].get_array()
    return tuple(np.asarray(rgb[row, col])[:3])


def overlap_count(i, k, s, p, d, r, c, transposed=False, op=0):
    """Torch's answer to "how many input pixels reach output (r, c)": all-ones conv of ones."""
    x = torch.ones(1, 1, i, i, dtype=torch.float64)
    w = torch.ones(1, 1, k, k, dtype=torch.float64)
    if transposed:
        y = F.conv_transpose2d(x, w, stride=s, padding=p, output_padding=op, dilation=d)
    else:
        y = F.conv2d(x, w, stride=s, padding=p, dilation=d)
    return y.shape[-1], int(y[0, 0, r, c])


@pytest.mark.parametrize("i, k, s, p, d, r, c", [
    (5, 3, 1, 0, 1, 0, 0), (5, 3, 2, 1, 1, 1, 2), (7, 3, 1, 0, 2, 1, 2), (6, 2, 2, 2, 3, 2, 0),
    (4, 4, 1, 3, 1, 6, 6),
])
def test_draw_conv_matches_torch(i, k, s, p, d, r, c):
    res = draw_conv(i, k, s, p, d, out_row=r, out_col=c)
    o, hits = overlap_count(i, k, s, p, d, r, c)
    assert res["output_size"] == o
    assert res["taps_on_input"] == hits           # the picture's orange cells = torch's count
    assert res["canvas_size"] == i + 2 * p
    assert res["effective_kernel"] == k + (k - 1) * (d - 1)
    assert len(res["taps"]) == k * k
    rows = sorted({t[0] for t in res["taps"]})
    assert rows == [r * s + n * d for n in range(k)]  # taps start at r*s and are d apart
    assert f"= {o}" in res["formula"]
    ax_in, ax_out, ax_txt = res["figure"].axes
    for ty, tx in res["taps"]:
        assert cell_colour(ax_in, ty, tx) in (to_rgb(COLORS["tap"]), to_rgb(COLORS["tap_empty"]))
    assert cell_colour(ax_out, r, c) == to_rgb(COLORS["chosen"])
    assert any(f"= {o}" in t.get_text() for t in ax_txt.texts)


@pytest.mark.parametrize("i, k, s, p, d, op, r, c", [
    (3, 3, 2, 0, 1, 0, 2, 3), (4, 3, 2, 1, 1, 1, 2, 3), (3, 2, 3, 0, 2, 1, 4, 1),
    (4, 3, 1, 3, 2, 1, 0, 0), (2, 4, 2, 1, 1, 0, 3, 2),
])
def test_draw_conv_transposed_matches_torch(i, k, s, p, d, op, r, c):
    res = draw_conv(i, k, s, p, d, out_row=r, out_col=c, transposed=True, output_padding=op)
    o, hits = overlap_count(i, k, s, p, d, r, c, transposed=True, op=op)
    assert res["output_size"] == o
    assert res["taps_on_input"] == hits
    assert res["canvas_size"] == (i - 1) * s + 1 + 2 * (d * (k - 1) - p) + op
    ax_in = res["figure"].axes[0]
    zeros = [(y, x) for y in range(res["canvas_size"]) for x in range(res["canvas_size"])
             if cell_colour(ax_in, y, x) == to_rgb(COLORS["zero"])]
    assert (s > 1) == bool(zeros)                 # inserted zeros appear exactly when s > 1


def test_draw_conv_checkerboard_pattern_is_visible():
    # k=3, s=2: neighbouring output pixels see alternately 1 and 2 real pixels per row
    counts = [draw_conv(4, 3, 2, 0, 1, out_row=3, out_col=c, transposed=True)["taps_on_input"]
              for c in range(2, 7)]
    assert counts == [2, 1, 2, 1, 2]
    assert counts == [overlap_count(4, 3, 2, 0, 1, 3, c, transposed=True)[1] for c in range(2, 7)]


def test_draw_conv_clamps_position_and_reports_impossible_configs():
    res = draw_conv(5, 3, out_row=99, out_col=-4)
    assert res["position"] == (2, 0)
    bad = draw_conv(3, 5)
    assert bad["output_size"] is None and "smaller than the effective kernel" in bad["error"]
    assert "impossible" in bad["formula"]
    bad_t = draw_conv(3, 3, stride=2, transposed=True, output_padding=2)
    assert bad_t["output_size"] is None and "output_padding" in bad_t["error"]


def test_redrawing_reuses_axes_without_piling_up_artists():
    fig = plt.figure(figsize=(10, 4.2))
    for kw in (dict(), dict(input_size=7, dilation=2), dict(transposed=True, stride=2)):
        draw_conv(**kw, fig=fig)
    assert len(fig.axes) == 3
    assert len(fig.axes[0].images) == 1 and len(fig.axes[1].images) == 1
    assert len(fig.axes[2].texts) == 2


@pytest.mark.parametrize("n_layers, k, base", [(4, 3, 2), (3, 5, 2), (5, 3, 3), (3, 3, 4)])
def test_draw_receptive_field(n_layers, k, base):
    res = draw_receptive_field(n_layers, k, base)
    assert res["dilations"] == [base ** n for n in range(n_layers)]
    assert res["rf_plain"] == [1 + n * (k - 1) for n in range(1, n_layers + 1)]
    assert res["rf_dilated"] == [f.size for f in receptive_field(
        [(k, 1, 0, d) for d in res["dilations"]])]
    layer = torch.nn.Conv2d(64, 64, k)
    assert res["params_plain"] == res["params_dilated"] == n_layers * sum(
        t.numel() for t in layer.parameters())
    # holes ("gridding") exactly when the dilation grows faster than the kernel covers
    assert (res["coverage_dilated"] == 1.0) == (base <= k)
    # what is drawn: the coloured square has the receptive field's size
    for ax, rf in zip(res["figure"].axes[:2], (res["rf_plain"][-1], res["rf_dilated"][-1])):
        shown = ~np.isnan(np.asarray(ax.images[0].get_array(), dtype=float))
        rows = np.nonzero(shown.any(axis=1))[0]
        assert rows.max() - rows.min() + 1 == rf
    line_plain, line_dilated = res["figure"].axes[2].lines
    assert list(line_dilated.get_ydata()) == res["rf_dilated"]


def test_receptive_field_maps_share_a_colour_bar_in_paths():
    # issue 20: at dilation x3 (3x3 kernels) every reached pixel has exactly one path, and the
    # map was a uniform square with no colour bar to say so
    from lecturelib.widgets import receptive_field_explorer
    e = receptive_field_explorer()
    for base, n_layers in ((3, 4), (2, 4), (3, 3)):
        res = e.set(base=base, n_layers=n_layers)
        fig = res["figure"]
        assert len(fig.axes) == 4, "two maps, the line plot, one colour bar (not one per redraw)"
        norms = [ax.images[0].norm for ax in fig.axes[:2]]
        assert norms[0].vmin == norms[1].vmin == 1 and norms[0].vmax == norms[1].vmax
        dilated = fig.axes[1].images[0].get_array()
        if base == 3:
            assert np.nanmin(dilated) == np.nanmax(dilated) == 1
            assert fig.axes[1].get_title().endswith("1 path each")
        assert fig.axes[3].get_title() == "paths" and fig.axes[3].get_yticklabels()


def test_draw_receptive_field_rejects_bad_values():
    with pytest.raises(ValueError, match="odd"):
        draw_receptive_field(3, 4)
    with pytest.raises(ValueError, match="too large"):
        draw_receptive_field(6, 3, 5)


def test_explorer_redraw_is_live(redraw_is_live, draw_and_render):
    """What a slider move costs: draw + PNG render (bound in conftest)."""
    conv = [dict(input_size=7, kernel_size=3, stride=2, padding=1, dilation=2, out_row=1),
            dict(input_size=5, kernel_size=3, stride=2, transposed=True, out_col=3),
            dict(input_size=9, kernel_size=5, padding=2, dilation=1, out_row=4)]
    redraw_is_live("conv explorer", draw_and_render(draw_conv, conv, (10, 4.2)), (10, 4.2))
    rf = [dict(n_layers=4), dict(n_layers=5), dict(n_layers=3, base=4)]
    redraw_is_live("receptive field", draw_and_render(draw_receptive_field, rf, (10, 3.8)),
                   (10, 3.8))


def test_explorers_build_and_follow_their_sliders():
    ui = conv_explorer()
    controls = {w.description: w for w in ui.controls.values()}
    controls["input size i"].value = 9
    assert controls["output row"].max == 6               # 9 - 3 + 1 outputs
    controls["transposed"].value = True
    controls["stride s"].value = 2
    assert controls["output row"].max == 18              # (9-1)*2 + 3 - 1
    assert controls["output_padding"].max == 1 and not controls["output_padding"].disabled

    ui = receptive_field_explorer()
    controls = {w.description: w for w in ui.controls.values()}
    controls["dilation x per layer"].value = 5
    assert controls["layers"].max == 3 and controls["layers"].value <= 3
