"""The lesson-07 RoIAlign explorer, without a Jupyter kernel: its outputs against torchvision,
its sample points and bilinear weights against the op's rules, the sliders' wiring and the
redraw time."""
import matplotlib
import numpy as np
import pytest
import torch
import torchvision
from matplotlib.figure import Figure

from lecturelib import ops
from lecturelib.widgets._explorer import EXPLORER_DPI
from lecturelib.widgets.roi_align_explorer import FIGSIZE, draw_roi_align, roi_align_explorer
from lecturelib.widgets.roi_pool_explorer import default_feature

matplotlib.use("Agg")
pytestmark = pytest.mark.usefixtures("one_thread")

CASES = [dict(), dict(aligned=True), dict(sampling_ratio=0, output_size=3),
         dict(roi_x=-0.8, roi_y=6.5, roi_w=0.3, roi_h=0.2), dict(roi_x=5.5, roi_w=2.4, sampling_ratio=3),
         dict(roi_x=0.0, roi_y=0.0, roi_w=8.0, roi_h=8.0, output_size=4, sampling_ratio=1)]


@pytest.mark.parametrize("kw", CASES)
def test_outputs_are_torchvision(kw):
    r = draw_roi_align(**kw)
    merged = {**dict(roi_x=1.3, roi_y=1.6, roi_w=4.4, roi_h=3.7, output_size=2,
                     sampling_ratio=2, aligned=False), **kw}
    x = torch.from_numpy(default_feature(0.0625))[None, None]
    box = torch.tensor([[0, merged["roi_x"], merged["roi_y"], merged["roi_x"] + merged["roi_w"],
                         merged["roi_y"] + merged["roi_h"]]])
    assert np.array_equal(r["aligned_out"], torchvision.ops.roi_align(
        x, box, merged["output_size"], 1.0, merged["sampling_ratio"], merged["aligned"])[0, 0].numpy())
    assert np.array_equal(r["pooled"], torchvision.ops.roi_pool(x, box, merged["output_size"],
                                                                1.0)[0, 0].numpy())
    samples = r["samples"]
    assert samples.shape[:2] == (merged["output_size"],) * 2
    if merged["sampling_ratio"] > 0:
        assert samples.shape[2] == merged["sampling_ratio"] ** 2


def test_sample_points_and_weights_by_hand():
    r = draw_roi_align(roi_x=1.0, roi_y=2.0, roi_w=4.0, roi_h=2.0, output_size=2, sampling_ratio=2)
    # bins of 2 × 1 cells, 2 × 2 samples at the centres of the quarters: bin (0, 0) starts at
    # (y, x) = (2, 1), its samples are at y 2.25, 2.75 and x 1.5, 2.5
    assert r["samples"][0, 0].tolist() == [[2.25, 1.5], [2.25, 2.5], [2.75, 1.5], [2.75, 2.5]]
    w = r["weights"]                                   # the first sample, (2.25, 1.5)
    assert w.sum() == pytest.approx(1.0)
    assert w[2, 1] == pytest.approx(0.75 * 0.5) and w[3, 2] == pytest.approx(0.25 * 0.5)
    shifted = draw_roi_align(roi_x=1.0, roi_y=2.0, roi_w=4.0, roi_h=2.0, output_size=2,
                             sampling_ratio=2, aligned=True)
    assert np.allclose(shifted["samples"], r["samples"] - 0.5)
    assert r["quantised_roi"] == (1, 2, 5, 4)          # RoIPool: columns 1..5, rows 2..4


def test_roi_align_samples_match_the_reference_loops():
    """Averaging bilinear samples at roi_align_samples' points is roi_align (adaptive grids)."""
    from lecturelib.ops.reference import bilinear_sample
    x = torch.randn(1, 3, 7, 9, generator=torch.Generator().manual_seed(0))
    rois = torch.tensor([[0, 0.4, 1.1, 6.3, 5.9], [0, 2.0, 0.0, 3.1, 6.8]])
    for aligned in (False, True):
        out = ops.roi_align(x, rois, 2, 1.0, -1, aligned)
        for k, points in enumerate(ops.roi_align_samples(x, rois, 2, 1.0, -1, aligned)):
            for i in range(2):
                for j in range(2):
                    mean = torch.stack([bilinear_sample(x[0], y, xx) for y, xx in points[i, j]]).mean(0)
                    torch.testing.assert_close(mean, out[k, :, i, j])


def test_bad_values_are_rejected():
    with pytest.raises(ValueError, match="roi_w and roi_h"):
        draw_roi_align(roi_w=-1)
    with pytest.raises(ValueError, match="roi_x must be finite"):
        draw_roi_align(roi_x=float("nan"))
    with pytest.raises(ValueError, match="feature must be a 2-D map"):
        draw_roi_align(feature=np.zeros((2, 2, 2)))


def test_redrawing_reuses_axes():
    fig = Figure(figsize=FIGSIZE, dpi=EXPLORER_DPI)
    for kw in CASES + CASES[:2]:
        draw_roi_align(**kw, fig=fig)
    assert len(fig.axes) == 3 and all(len(ax.images) == 1 for ax in fig.axes)


def test_explorer_follows_its_sliders():
    ui = roi_align_explorer()
    labels = {w.description for w in ui.controls.values()}
    assert labels == {"RoI x (cells)", "RoI y (cells)", "RoI width", "RoI height", "output size",
                      "samples/side (0: auto)", "aligned (−0.5 cell)"}
    ui.controls["sampling_ratio"].value = 3
    assert ui.result["samples"].shape[2] == 9 and "samples 9 points per bin" in ui.readout.value
    before = ui.result["aligned_out"].copy()
    ui.controls["aligned"].value = True
    assert not np.array_equal(before, ui.result["aligned_out"]) and "aligned" in ui.readout.value


def test_explorer_redraw_is_live(redraw_is_live, draw_and_render):
    redraw_is_live("RoIAlign explorer", draw_and_render(draw_roi_align, CASES, FIGSIZE), FIGSIZE)
