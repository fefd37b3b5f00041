"""The lesson-05 RoI pooling explorer, without a Jupyter kernel: set values, check the bins and
values it reports against lecturelib.ops.roi_pool and torchvision, the empty bins, the
quantisation readout, the sliders' wiring, and the redraw time a slider move costs."""
import math

import matplotlib
import numpy as np
import pytest
import torch
import torchvision
from matplotlib.figure import Figure

from lecturelib import ops
from lecturelib.widgets._explorer import EXPLORER_DPI
from lecturelib.widgets.roi_pool_explorer import (FIGSIZE, SCALES, default_feature,
                                                  draw_roi_pool, roi_pool_explorer)

matplotlib.use("Agg")


pytestmark = pytest.mark.usefixtures("one_thread")


def c_round(v: float) -> int:
    return int(math.copysign(math.floor(abs(v) + 0.5), v))


def torchvision_pool(feature, box, output_size, scale):
    """torchvision's values, and where its gradient lands for each output cell."""
    x = torch.as_tensor(feature, dtype=torch.float32)[None, None].clone().requires_grad_()
    rois = torch.tensor([[0.0, *box]], dtype=torch.float32)
    out = torchvision.ops.roi_pool(x, rois, output_size, scale)[0, 0]
    winners = np.full(out.shape + (2,), -1)
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            grad, = torch.autograd.grad(out[i, j], x, retain_graph=True)
            hit = torch.nonzero(grad[0, 0])
            if len(hit):
                winners[i, j] = hit[0].tolist()
    return out.detach().numpy(), winners


CASES = [
    dict(),                                                                       # the default
    dict(roi_x=10, roi_y=20, roi_w=45, roi_h=30, output_size=3, spatial_scale=0.25),
    dict(roi_x=20, roi_y=4, roi_w=100, roi_h=40, output_size=(2, 5), spatial_scale=0.0625),
    dict(roi_x=60, roi_y=60, roi_w=6, roi_h=9, output_size=7, spatial_scale=0.125),  # tiny RoI
    dict(roi_x=-20, roi_y=90, roi_w=60, roi_h=50, output_size=4, spatial_scale=0.125),
    dict(roi_x=44, roi_y=12, roi_w=0, roi_h=0, output_size=2, spatial_scale=0.125),  # a point
]


@pytest.mark.parametrize("kw", CASES)
def test_values_bins_and_maxima_match_torchvision(kw):
    res = draw_roi_pool(**kw)
    scale = kw.get("spatial_scale", 0.125)
    feature = default_feature(scale)
    x, y = kw.get("roi_x", 21.0), kw.get("roi_y", 29.5)
    box = (x, y, x + kw.get("roi_w", 75.0), y + kw.get("roi_h", 53.0))
    values, winners = torchvision_pool(feature, box, kw.get("output_size", 4), scale)
    assert np.array_equal(res["pooled"], values)
    ours = ops.roi_pool(torch.from_numpy(feature)[None, None],
                        torch.tensor([[0.0, *box]]), kw.get("output_size", 4), scale)[0, 0]
    assert np.array_equal(res["pooled"], ours.numpy())
    # the marked maximum of every bin is where the gradient goes, in torchvision too
    assert np.array_equal(res["argmax"], winners)
    # each bin's cell range holds its value as its maximum, and the marked cell is inside it
    for (h0, h1, w0, w1), v, (r, c) in zip(res["bins"].reshape(-1, 4), res["pooled"].reshape(-1),
                                           res["argmax"].reshape(-1, 2)):
        if h1 > h0 and w1 > w0:
            assert feature[h0:h1, w0:w1].max() == v
            assert h0 <= r < h1 and w0 <= c < w1
        else:
            assert v == 0 and r == c == -1
    # the quantised RoI: corners rounded half away from zero, size = last - first + 1 (>= 1)
    c0, r0 = c_round(box[0] * scale), c_round(box[1] * scale)
    c1, r1 = max(c_round(box[2] * scale), c0), max(c_round(box[3] * scale), r0)
    assert res["quantised_roi"] == (c0, r0, c1, r1)
    assert res["roi_cells"] == (r1 - r0 + 1, c1 - c0 + 1)


def test_bins_by_hand_overlap_and_cover_the_rounded_roi():
    # x 21..96 px × 1/8 = 2.625..12 -> columns 3..12 (10 cells); 4 bins of 2.5 columns:
    # floor/ceil edges 0-3, 2-5, 5-8, 7-10 -> columns [3,6) [5,8) [8,11) [10,13)
    res = draw_roi_pool(roi_x=21, roi_y=29.5, roi_w=75, roi_h=53, output_size=4,
                        spatial_scale=0.125)
    assert res["quantised_roi"] == (3, 4, 12, 10)
    assert res["bin_size"] == (1.75, 2.5)
    assert res["bins"][0, :, 2:].tolist() == [[3, 6], [5, 8], [8, 11], [10, 13]]
    # y 29.5..82.5 × 1/8 = 3.6875..10.3125 -> rows 4..10 (7); 1.75 rows per bin
    assert res["bins"][:, 0, :2].tolist() == [[4, 6], [5, 8], [7, 10], [9, 11]]
    assert res["shared_cells"] > 0                          # bins overlap
    assert res["empty_bins"] == 0


def test_c_rounding_of_half_cells():
    # x1 = 20 px × 1/8 = 2.5 cells -> 3 (C rounds half away from zero; Python's round gives 2)
    # x1 = -20 px × 1/8 = -2.5 -> -3
    assert draw_roi_pool(roi_x=20, roi_w=40)["quantised_roi"][0] == 3
    assert draw_roi_pool(roi_x=-20, roi_w=40)["quantised_roi"][0] == -3


def test_empty_bins_off_the_map_give_zero():
    res = draw_roi_pool(roi_x=-20, roi_y=90, roi_w=60, roi_h=50, output_size=4,
                        spatial_scale=0.125)
    # columns -3..5, rows 11..18 on a 16×16 map: the first bin column and last bin row are off
    assert res["quantised_roi"] == (-3, 11, 5, 18)
    empty = res["argmax"][..., 0] < 0
    assert res["empty_bins"] == int(empty.sum()) == 7
    assert empty[:, 0].all() and empty[3, :].all() and not empty[:3, 1:].any()
    assert (res["pooled"][empty] == 0).all()
    # a RoI entirely off the map: every bin is empty
    res = draw_roi_pool(roi_x=-30, roi_y=-30, roi_w=10, roi_h=10, output_size=3)
    assert res["empty_bins"] == 9 and (res["pooled"] == 0).all()
    assert "9 empty" in res["readout"]


def test_quantisation_readout():
    # corners on cell centres: only the whole-cell border remains (half a cell on each side)
    res = draw_roi_pool(roi_x=16, roi_y=16, roi_w=64, roi_h=64, spatial_scale=0.125)
    assert res["fractional_roi"] == (2.0, 2.0, 10.0, 10.0)
    assert res["corner_shift"] == 0 and res["corner_shift_pixels"] == 0
    assert res["fractional_area"] == 64 and res["quantised_area"] == 81
    assert res["iou"] == pytest.approx(64 / 81)
    # a corner half a cell off: the shift is 0.5 cell = 8 px at stride 16
    res = draw_roi_pool(roi_x=8, roi_y=16, roi_w=64, roi_h=64, spatial_scale=0.0625)
    assert res["corner_shift"] == 0.5 and res["corner_shift_pixels"] == 8
    fx1, fy1, fx2, fy2 = res["fractional_roi"]
    c0, r0, c1, r1 = res["quantised_roi"]
    inter = (min(fx2, c1 + .5) - max(fx1, c0 - .5)) * (min(fy2, r1 + .5) - max(fy1, r0 - .5))
    union = (fx2 - fx1) * (fy2 - fy1) + (c1 - c0 + 1) * (r1 - r0 + 1) - inter
    assert res["iou"] == pytest.approx(inter / union)
    assert f"{res['iou']:.3f}" in res["readout"] and "8 px" in res["readout"]
    # a degenerate RoI (a point) still pools one cell and reports IoU 0, not NaN
    res = draw_roi_pool(roi_w=0, roi_h=0, output_size=2)
    assert res["roi_cells"] == (1, 1) and res["iou"] == 0 and res["empty_bins"] == 0


def test_custom_feature_and_what_is_drawn():
    ramp = np.arange(48, dtype=np.float32).reshape(6, 8)
    res = draw_roi_pool(roi_x=2, roi_y=1, roi_w=4, roi_h=3, output_size=2, spatial_scale=1.0,
                        feature=ramp)
    assert res["quantised_roi"] == (2, 1, 6, 4)
    # rows 1..4 -> bins [1, 3) [3, 5); columns 2..6 (2.5 per bin) -> [2, 5) [4, 7)
    assert res["bins"].reshape(-1, 4).tolist() == [[1, 3, 2, 5], [1, 3, 4, 7],
                                                   [3, 5, 2, 5], [3, 5, 4, 7]]
    # on a ramp the maximum of every bin is its bottom-right cell
    assert res["pooled"].tolist() == [[20, 22], [36, 38]]
    assert res["argmax"].reshape(-1, 2).tolist() == [[2, 4], [2, 6], [4, 4], [4, 6]]
    ax_map, ax_out = res["figure"].axes
    assert ax_map.images[0].get_array().shape == (6, 8)
    assert len(ax_map.collections[-1].get_offsets()) == 4          # one marker per maximum
    assert sorted(t.get_text() for t in ax_out.texts) == ["20", "22", "36", "38"]
    assert "IoU" in ax_map.get_title() and "rounded" in res["steps"]


def test_bad_values_are_rejected():
    with pytest.raises(ValueError, match="output_size"):
        draw_roi_pool(output_size=0)
    with pytest.raises(ValueError, match="spatial_scale"):
        draw_roi_pool(spatial_scale=0)
    with pytest.raises(ValueError, match="roi_w"):
        draw_roi_pool(roi_w=-1)
    with pytest.raises(ValueError, match="roi_x"):
        draw_roi_pool(roi_x=float("nan"))
    with pytest.raises(ValueError, match="feature"):
        draw_roi_pool(feature=np.zeros(5))


def test_default_feature_follows_the_scale():
    assert [default_feature(s).shape for s in (0.25, 0.125, 0.0625)] == [(32, 32), (16, 16), (8, 8)]
    f = default_feature()
    assert f.dtype == np.float32 and f.min() == 0 and f.max() == 99 and (f == f.round()).all()
    f[0, 0] = -1                                                  # a copy: the cache is safe
    assert default_feature()[0, 0] != -1


def test_redrawing_reuses_axes_without_piling_up_artists():
    fig = Figure(figsize=FIGSIZE, dpi=EXPLORER_DPI)
    for kw in CASES[:4] + CASES[:2]:
        draw_roi_pool(**kw, fig=fig)
    ax_map, ax_out = fig.axes
    assert len(fig.axes) == 2
    assert len(ax_map.images) == 1 and len(ax_out.images) == 1
    assert len(ax_out.texts) == 9                                  # CASES[1]: 3 × 3


def test_explorer_follows_its_sliders():
    ui = roi_pool_explorer()
    labels = {w.description: name for name, w in ui.controls.items()}
    assert set(labels) == {"RoI x (px)", "RoI y (px)", "RoI width (px)", "RoI height (px)",
                           "output size", "spatial scale"}
    assert np.array_equal(ui.result["pooled"], draw_roi_pool()["pooled"])
    ui.controls["output_size"].value = 2
    assert ui.result["pooled"].shape == (2, 2)
    ui.controls["spatial_scale"].value = SCALES["1/16"]
    assert ui.figure.axes[0].images[0].get_array().shape == (8, 8)
    res = ui.set(roi_x=-20.0, roi_y=90.0, roi_w=60.0, roi_h=50.0, output_size=4,
                 spatial_scale=0.125)
    assert res["empty_bins"] == 7 and "7 empty" in ui.readout.value
    assert len(ui.figure.axes) == 2                                # redraws reuse the axes
    with pytest.raises(ValueError, match="spatial_scale"):
        roi_pool_explorer(spatial_scale=0.3)


def test_explorer_redraw_is_live(redraw_is_live, draw_and_render):
    """What a slider move costs: draw + PNG render (bound in conftest)."""
    redraw_is_live("RoI pooling explorer", draw_and_render(draw_roi_pool, CASES[:5], FIGSIZE),
                   FIGSIZE)
