"""IoU labelling against torchvision's Matcher, and the simulated detections."""
import pytest
import torch
from torchvision.models.detection._utils import Matcher

from lecturelib import ops
from lecturelib.data import SyntheticShapes
from lecturelib.data.detections import simulate_detections
from lecturelib.matching import (BELOW_LOW_THRESHOLD, BETWEEN_THRESHOLDS, iou_label,
                                 match_proposals, matched_labels, sample_balanced)


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
    with pytest.raises(ValueError, match="NaN"):
        match_proposals(torch.tensor([[0.9, float("nan")]]), 0.7, 0.3)


def test_an_image_without_objects_has_only_negatives():
    matches = match_proposals(torch.rand(0, 5), 0.7, 0.3, allow_low_quality_matches=True)
    assert matches.tolist() == [BELOW_LOW_THRESHOLD] * 5
    assert matched_labels(matches, torch.zeros(0, dtype=torch.int64)).tolist() == [0] * 5


@pytest.mark.parametrize("seed", range(3))
def test_matched_labels_equal_torchvision_roi_heads_assignment(seed):
    from torchvision.models.detection.roi_heads import RoIHeads
    g = torch.Generator().manual_seed(seed)
    gt = torch.rand(3, 2, generator=g) * 40
    gt = torch.cat([gt, gt + 10 + torch.rand(3, 2, generator=g) * 20], 1)
    proposals = torch.cat([gt + torch.randn(3, 4, generator=g) * s for s in range(1, 15)])
    proposals = torch.cat([proposals[:, :2].minimum(proposals[:, 2:]) - 1,
                           proposals[:, :2].maximum(proposals[:, 2:]) + 1], 1)
    gt_labels = torch.tensor([2, 1, 3])
    heads = RoIHeads(None, None, None, 0.5, 0.3, 512, 0.25, None, 0.05, 0.5, 100)
    _, expected = heads.assign_targets_to_proposals([proposals], [gt], [gt_labels])
    matches = match_proposals(ops.box_iou(gt, proposals), 0.5, 0.3)
    ours = matched_labels(matches, gt_labels)
    assert torch.equal(ours, expected[0]), "torchvision marks ignored proposals -1, background 0"
    assert (ours == -1).any() and (ours == 0).any() and (ours > 0).any()
    assert (ours[matches == BETWEEN_THRESHOLDS] == -1).all()


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("batch_size, fraction", [(256, 0.5), (16, 0.25), (8, 1.0)])
def test_sample_balanced_equals_torchvision_sampler(seed, batch_size, fraction):
    from torchvision.models.detection._utils import BalancedPositiveNegativeSampler
    g = torch.Generator().manual_seed(100 + seed)
    labels = torch.randint(-1, 2, (300,), generator=g)
    labels[torch.rand(300, generator=g) < 0.9] = 0 if seed % 2 else -1   # few of one kind
    torch.manual_seed(seed)
    pos_mask, neg_mask = BalancedPositiveNegativeSampler(batch_size, fraction)([labels])
    torch.manual_seed(seed)
    pos, neg = sample_balanced(labels, batch_size, fraction)       # the same global RNG draws
    assert torch.equal(torch.zeros(300, dtype=torch.bool).index_fill(0, pos, True),
                       pos_mask[0].bool())
    assert torch.equal(torch.zeros(300, dtype=torch.bool).index_fill(0, neg, True),
                       neg_mask[0].bool())
    assert len(pos) <= int(batch_size * fraction) and len(pos) + len(neg) <= batch_size
    assert (labels[pos] >= 1).all() and (labels[neg] == 0).all()


def test_sample_balanced_with_replacement_fills_the_batch():
    labels = torch.tensor([1, 1, 0, 0, 0, -1, 2])
    g = torch.Generator().manual_seed(0)
    pos, neg = sample_balanced(labels, 16, 0.25, g, replacement="negatives")
    assert len(pos) == 3 and len(neg) == 13                    # 3 positives exist, 4 wanted
    assert set(pos.tolist()) == {0, 1, 6} and set(neg.tolist()) <= {2, 3, 4}
    pos, neg = sample_balanced(labels, 16, 0.25, g, replacement="both")
    assert len(pos) == 4 and len(neg) == 12 and set(pos.tolist()) <= {0, 1, 6}
    none_positive = torch.tensor([0, 0, -1])
    for replacement in ("negatives", "both"):
        pos, neg = sample_balanced(none_positive, 8, 0.5, g, replacement=replacement)
        assert len(pos) == 0 and len(neg) == 8 and set(neg.tolist()) <= {0, 1}
    pos, neg = sample_balanced(torch.tensor([-1, -1]), 8, 0.5, g, replacement="negatives")
    assert len(pos) == len(neg) == 0                            # nothing to draw from
    a = sample_balanced(labels, 6, 0.5, torch.Generator().manual_seed(3))
    b = sample_balanced(labels, 6, 0.5, torch.Generator().manual_seed(3))
    assert all(torch.equal(x, y) for x, y in zip(a, b)), "seeded: the same batch"
    for kwargs, message in [(dict(batch_size=0), "batch_size"), (dict(positive_fraction=1.5),
                            "positive_fraction"), (dict(replacement="yes"), "replacement")]:
        args = {"batch_size": 4, "positive_fraction": 0.5, **kwargs}
        with pytest.raises(ValueError, match=message):
            sample_balanced(labels, **args)
    with pytest.raises(ValueError, match="labels must be an integer"):
        sample_balanced(labels.float(), 4, 0.5)


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
