"""IoU labelling against torchvision's Matcher, and the simulated detections."""
import pytest
import torch
from torchvision.models.detection._utils import Matcher

from lecturelib import ops
from lecturelib.data import SyntheticShapes
from lecturelib.data.detections import simulate_detections
from lecturelib.matching import iou_label, match_proposals


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("high, low, low_quality", [(0.7, 0.3, True), (0.7, 0.3, False),
                                                    (0.5, 0.5, False), (0.5, 0.1, True)])
def test_match_proposals_equals_torchvision_matcher(seed, high, low, low_quality):
    g = torch.Generator().manual_seed(seed)
    iou = torch.rand(4, 60, generator=g) ** 2
    iou[1, 7] = iou[1, 9] = 0.2            # a ground truth whose best anchors tie below 0.3
    iou[1, :7] = iou[1, 10:] = 0.05
    iou[:, 20] = high                        # exactly at the thresholds
    iou[:, 21] = low
    expected = Matcher(high, low, allow_low_quality_matches=low_quality)(iou)
    assert torch.equal(match_proposals(iou, high, low, low_quality), expected)


def test_iou_label_rule():
    assert [iou_label(v, 0.7, 0.3) for v in (0.0, 0.29, 0.3, 0.69, 0.7, 1.0)] == [0, 0, -1, -1, 1, 1]
    t = torch.tensor([0.1, 0.5, 0.9])
    assert iou_label(t, 0.7, 0.3).tolist() == [0, -1, 1]
    with pytest.raises(ValueError, match="low_threshold"):
        iou_label(0.5, 0.3, 0.7)
    with pytest.raises(ValueError, match="high_threshold must be in"):
        iou_label(0.5, 1.3, 0.7)
    with pytest.raises(ValueError, match=r"iou must be a \[G, P\]"):
        match_proposals(torch.rand(3), 0.7, 0.3)
    with pytest.raises(ValueError, match="no ground-truth rows"):
        match_proposals(torch.rand(0, 3), 0.7, 0.3)


def test_simulated_detections_are_detector_like():
    image, target = SyntheticShapes("val", num_images=4)[0]
    a = simulate_detections(target, per_object=5, false_alarms=2, seed=3)
    b = simulate_detections(target, per_object=5, false_alarms=2, seed=3)
    n = 5 * len(target["boxes"]) + 2
    assert all(torch.equal(a[k], b[k]) for k in a)                     # deterministic
    assert a["boxes"].shape == (n, 4) and a["scores"].shape == (n,) and a["labels"].shape == (n,)
    assert (a["boxes"][:, 2:] >= a["boxes"][:, :2]).all()
    assert ((a["scores"] > 0) & (a["scores"] < 1)).all()
    best = ops.box_iou(a["boxes"], target["boxes"]).max(dim=1).values
    assert torch.corrcoef(torch.stack([best, a["scores"]]))[0, 1] > 0.5  # better box, higher score
    with pytest.raises(ValueError, match="per_object"):
        simulate_detections(target, per_object=0)
