"""Lesson 8's explorer: one detection of the shipped Mask R-CNN, its channels, its threshold and
its target, checked against the model and the ops it draws from."""
import pytest
import torch

from lecturelib.data import SyntheticShapes
from lecturelib.ops import box_iou
from lecturelib.models.mask_rcnn import load_mask_rcnn, project_masks_on_boxes
from lecturelib.widgets.mask_explorer import draw_mask_branch, mask_explorer, mask_target


@pytest.fixture(scope="module")
def scene():
    image, target = SyntheticShapes("test", num_images=8)[6]
    return image, load_mask_rcnn().inspect(image), target


def test_defaults_show_the_predicted_class_and_a_good_mask(scene):
    image, seen, target = scene
    result = draw_mask_branch(image, seen, target)
    assert result["channel"] == result["label"] == int(seen["labels"][0])
    # the best detection's pasted mask covers its object
    assert result["mask_iou"] > 0.8
    assert result["cells_on"] == int((seen["mask_28"][0] >= 0.5).sum())
    assert "the predicted class" in result["readout"]


def test_threshold_and_channel(scene):
    image, seen, target = scene
    cells = [draw_mask_branch(image, seen, target, threshold=t)["cells_on"]
             for t in (0.1, 0.5, 0.9)]
    assert cells[0] > cells[1] > cells[2] > 0
    other = 1 + int(seen["labels"][0]) % 3
    result = draw_mask_branch(image, seen, target, channel=other)
    assert result["channel"] == other and "not the predicted class" in result["readout"]
    assert result["cells_on"] == int((seen["mask_logits"][0, other].sigmoid() >= 0.5).sum())


def test_targets_by_roi_align_are_soft_by_roi_pool_rounded(scene):
    image, seen, target = scene
    soft = draw_mask_branch(image, seen, target, targets="RoIAlign", view="pasted")
    hard = draw_mask_branch(image, seen, target, targets="RoIPool")
    assert soft["soft_cells"] > 0 and hard["soft_cells"] == 0
    box = seen["boxes"][0]
    g = int(box_iou(box[None], target["boxes"])[0].argmax())
    torch.testing.assert_close(mask_target(target["masks"][g], box, 28),
                               project_masks_on_boxes(target["masks"], box[None],
                                                      torch.tensor([g]), 28)[0])
    # RoIPool's maxima cover at least what RoIAlign's samples see above one half
    pooled = mask_target(target["masks"][g], box, 28, "RoIPool")
    aligned = mask_target(target["masks"][g], box, 28, "RoIAlign")
    assert pooled.sum() > (aligned >= 0.5).sum()


@pytest.mark.parametrize("options, message", [
    (dict(detection=99), r"detection must be an int in \[0, "),
    (dict(channel=4), "channel must be 0"),
    (dict(threshold=1.5), r"threshold must be a number in \[0, 1\]"),
    (dict(view="3d"), "view must be one of"),
    (dict(targets="RoIWarp"), "targets must be one of"),
])
def test_bad_input_is_named(scene, options, message):
    image, seen, target = scene
    with pytest.raises(ValueError, match=message):
        draw_mask_branch(image, seen, target, **options)


def test_no_detection_is_a_clear_error(scene):
    image, seen, target = scene
    empty = {k: v[:0] for k, v in seen.items() if k != "conv"}
    with pytest.raises(ValueError, match="no detection"):
        draw_mask_branch(image, empty, target)


def test_explorer_controls_redraw(scene):
    image, seen, target = scene
    explorer = mask_explorer(image, seen, target)
    result = explorer.set(threshold=0.9)
    assert "≥ 0.90" in result["readout"]
    result = explorer.set(detection=1, view="pasted", targets="RoIPool")
    assert result["readout"].startswith("detection 1 of")
