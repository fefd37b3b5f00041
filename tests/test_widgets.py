"""The explorers' drawing functions, without a kernel: set values, check what comes back and
what is drawn; and the Explorer wiring (moving a control redraws)."""

import matplotlib.patches as mpatches
import pytest
import torch
import torchvision

from lecturelib import viz
from lecturelib.data import SyntheticShapes
from lecturelib.data.detections import simulate_detections
from lecturelib.widgets import draw_iou, draw_nms, iou_explorer, nms_explorer


def rectangles(fig):
    return [p for ax in fig.axes for p in ax.patches if isinstance(p, mpatches.Rectangle)]


@pytest.mark.parametrize("box, expected_label", [
    ((30, 25, 40, 50), 1),     # the ground truth itself: IoU 1
    ((40, 35, 40, 50), -1),    # IoU 0.43: between 0.3 and 0.7
    ((75, 80, 20, 15), 0),     # disjoint: IoU 0
])
def test_draw_iou_labels_like_the_rpn(box, expected_label):
    r = draw_iou(*box, high_threshold=0.7, low_threshold=0.3)
    x, y, w, h = box
    expected_iou = torchvision.ops.box_iou(torch.tensor([[x, y, x + w, y + h]], dtype=torch.float64),
                                           torch.tensor([[30, 25, 70, 75.]], dtype=torch.float64))
    assert r["iou"] == pytest.approx(float(expected_iou))
    assert r["label"] == expected_label
    assert r["intersection"] / r["union"] == pytest.approx(r["iou"])
    candidate = [p for p in r["figure"].axes[0].patches if p.get_linestyle() == "--"]
    assert len(candidate) == 1
    assert candidate[0].get_edgecolor()[:3] == pytest.approx(
        mpatches.Patch(color={1: viz.POSITIVE, 0: viz.NEGATIVE, -1: viz.IGNORED}[expected_label])
        .get_facecolor()[:3])
    assert f"{r['iou']:.3f}" in r["figure"].axes[0].get_title()


def test_draw_iou_threshold_moves_the_label():
    # same box, IoU 0.43: the R-CNN SVM rule (negative below 0.3) ignores it, a 0.5 rule rejects
    assert draw_iou(40, 35, 40, 50, 0.7, 0.3)["label"] == -1
    assert draw_iou(40, 35, 40, 50, 0.7, 0.5)["label"] == 0
    assert draw_iou(40, 35, 40, 50, 0.4, 0.3)["label"] == 1
    with pytest.raises(ValueError, match="low_threshold"):
        draw_iou(40, 35, 40, 50, 0.3, 0.7)


def test_iou_explorer_sliders_redraw_and_keep_order():
    e = iou_explorer()
    before = e.result["iou"]
    e.controls["x"].value = 75
    assert e.result["iou"] < before                     # moving a slider redrew
    e.set(x=30, y=25, width=40, height=50)
    assert e.result["iou"] == pytest.approx(1.0) and e.result["label"] == 1
    e.controls["low_threshold"].value = 0.9             # low may not pass high: it pushes it
    assert e.controls["high_threshold"].value == e.controls["low_threshold"].value == 0.9
    e.controls["high_threshold"].value = 0.5            # and high pushes low down
    assert e.controls["low_threshold"].value == 0.5
    assert "IoU" in e.readout.value
    with pytest.raises(ValueError, match="unknown control"):
        e.set(z=1)


@pytest.fixture(scope="module")
def scene_detections():
    image, target = SyntheticShapes("test", num_images=8)[3]
    return image, simulate_detections(target, seed=1)


def test_draw_nms_final_step_is_nms(scene_detections):
    image, det = scene_detections
    for thr in (0.3, 0.5, 0.8):
        r = draw_nms(det["boxes"], det["scores"], thr, image=image)
        assert r["kept"] == torchvision.ops.nms(det["boxes"], det["scores"], thr).tolist()
        assert len(r["kept"]) + len(r["suppressed"]) == len(det["boxes"])
        assert len(rectangles(r["figure"])) == len(det["boxes"]) + 1  # + the current one


def test_draw_nms_steps(scene_detections):
    _, det = scene_detections
    r0 = draw_nms(det["boxes"], det["scores"], 0.5, step=0)
    assert r0["kept"] == [] and r0["current"] is None and "Step 0" in r0["readout"]
    r1 = draw_nms(det["boxes"], det["scores"], 0.5, step=1)
    assert r1["kept"] == [int(det["scores"].argmax())]        # the best box is always kept
    steps = [draw_nms(det["boxes"], det["scores"], 0.5, step=k) for k in range(len(det["boxes"]) + 1)]
    for a, b in zip(steps, steps[1:]):                        # one box more at each step
        assert len(b["kept"]) + len(b["suppressed"]) == len(a["kept"]) + len(a["suppressed"]) + 1
    suppressed_step = next(s for s in steps if s["current"] and not s["current"]["kept"])
    assert suppressed_step["current"]["iou"] > 0.5
    assert "suppressed" in suppressed_step["readout"]


def test_nms_explorer_threshold_slider(scene_detections):
    image, det = scene_detections
    e = nms_explorer(det["boxes"], det["scores"], image=image)
    strict = len(e.set(iou_threshold=0.1)["kept"])
    loose = len(e.set(iou_threshold=0.9)["kept"])
    assert strict < loose


def test_nms_explorer_has_one_legend_for_its_line_styles(scene_detections):
    # issue 20: nothing said what solid, dashed, dotted and thick meant
    image, det = scene_detections
    e = nms_explorer(det["boxes"], det["scores"], image=image)
    for step in (0, 3, 5):
        figure = e.set(step=step)["figure"]
        assert len(figure.legends) == 1, "one legend per redraw, not one more each time"
        labels = [t.get_text() for t in figure.legends[0].get_texts()]
        assert labels == ["kept (its score)", "suppressed (×score)", "not visited yet",
                          "just visited: kept", "just visited: suppressed"], labels


def test_redraw_is_live(scene_detections, redraw_is_live):
    """A slider move (draw + the PNG the notebook receives) of each explorer; bound in conftest."""
    image, det = scene_detections
    e = nms_explorer(det["boxes"], det["scores"], image=image)
    i = iou_explorer()
    redraw_is_live("NMS explorer", lambda k: e.set(step=k % 8), e.figure.get_size_inches())
    redraw_is_live("IoU explorer", lambda k: i.set(x=20 + k), i.figure.get_size_inches())


def _widget_tree(widget) -> list:
    found = [widget]
    for child in getattr(widget, "children", ()):
        found += _widget_tree(child)
    return found


def test_explorer_sends_its_figure_as_an_image_widget_not_through_an_output_widget():
    """Headless executors (nbconvert, nbclient, nbgrader, Voilà) stall on Output widgets now and
    then (jupyter/nbclient#312); every explorer is an Explorer, and an Explorer has none."""
    import ipywidgets

    e = iou_explorer()
    tree = _widget_tree(e.widget)
    assert not [w for w in tree if isinstance(w, ipywidgets.Output)]
    images = [w for w in tree if isinstance(w, ipywidgets.Image)]
    assert len(images) == 1 and images[0].format == "png"
    before = bytes(images[0].value)
    assert before.startswith(b"\x89PNG\r\n\x1a\n")
    e.set(high_threshold=0.4)
    assert bytes(images[0].value) != before, "moving a slider must send a new figure"
