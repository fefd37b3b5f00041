"""The RPN against torchvision's RPNHead + RegionProposalNetwork on one feature level: the same
weights give the same proposals, scores and losses."""
import pytest
import torch
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.rpn import RegionProposalNetwork
from torchvision.models.detection.rpn import RPNHead as TorchvisionRPNHead

from lecturelib import ops
from lecturelib.models.rpn import (RPNHead, decode_proposals, filter_proposals,
                                   flatten_predictions, label_anchors, propose_one, rpn_loss)

SIZES, RATIOS, IMAGE, STRIDE, CHANNELS = (16, 32), (0.5, 1.0, 2.0), (64, 64), 4, 8


def make_pair(seed, batch_size=256, pre=300, post=100):
    torch.manual_seed(seed)
    ours = RPNHead(CHANNELS, len(SIZES) * len(RATIOS))
    for p in ours.parameters():                        # not the tiny init: varied proposals
        p.data.normal_(std=0.3)
    theirs = TorchvisionRPNHead(CHANNELS, len(SIZES) * len(RATIOS))
    theirs.load_state_dict({"conv.0.0.weight": ours.conv.weight, "conv.0.0.bias": ours.conv.bias,
                            **{k: v for k, v in ours.state_dict().items()
                               if not k.startswith("conv.")}})
    rpn = RegionProposalNetwork(AnchorGenerator((SIZES,), (RATIOS,)), theirs, 0.7, 0.3,
                                batch_size, 0.5, dict(training=pre, testing=pre),
                                dict(training=post, testing=post), 0.7)
    return ours, rpn


def scenes(seed, n=2):
    g = torch.Generator().manual_seed(seed)
    features = torch.randn(n, CHANNELS, IMAGE[0] // STRIDE, IMAGE[1] // STRIDE, generator=g)
    targets = []
    for i in range(n):
        xy = torch.rand(3, 2, generator=g) * 40
        boxes = torch.cat([xy, xy + 6 + torch.rand(3, 2, generator=g) * 20], 1)
        targets.append({"boxes": boxes, "labels": torch.ones(3, dtype=torch.int64)})
    return features, targets


def ours_forward(head, features):
    objectness, deltas = flatten_predictions(*head(features))
    anchors = ops.make_anchors(features.shape[-2:], STRIDE, SIZES, RATIOS)
    return objectness, deltas, anchors, decode_proposals(deltas, anchors)


@pytest.mark.parametrize("seed", range(3))
def test_propose_one_is_decode_then_filter(seed):
    """The fast path (top-n first, then decode only those) gives the same bits as decoding
    every anchor and filtering, and as torchvision's RPN in eval mode."""
    ours, rpn = make_pair(seed)
    features, _ = scenes(seed)
    rpn.eval()
    with torch.no_grad():
        expected, _ = rpn(ImageList(torch.zeros(2, 3, *IMAGE), [IMAGE] * 2), {"0": features})
        objectness, deltas, anchors, boxes = ours_forward(ours, features)
    for i in range(2):
        for pre, post in ((300, 100), (50, 10), (10_000, 10_000)):
            slow = filter_proposals(boxes[i], objectness[i], IMAGE, pre, post)
            fast = propose_one(objectness[i], deltas[i], anchors, IMAGE, pre, post)
            assert torch.equal(fast[0], slow[0]) and torch.equal(fast[1], slow[1])
        torch.testing.assert_close(propose_one(objectness[i], deltas[i], anchors, IMAGE, 300,
                                               100)[0], expected[i])


def test_propose_one_rejects_non_finite_and_bad_shapes():
    objectness, deltas = torch.zeros(6), torch.zeros(6, 4)
    anchors = torch.tensor([[0, 0, 10, 10.]] * 6)
    bad = objectness.clone()
    bad[3] = float("nan")
    with pytest.raises(ValueError, match="objectness contains NaN"):
        propose_one(bad, deltas, anchors, (20, 20))
    bad = deltas.clone()
    bad[2, 1] = float("inf")
    with pytest.raises(ValueError, match="deltas contain NaN or infinite"):
        propose_one(objectness, bad, anchors, (20, 20))
    with pytest.raises(ValueError, match=r"objectness Float\[A\], deltas and anchors"):
        propose_one(objectness, deltas[:5], anchors, (20, 20))
    with pytest.raises(ValueError, match="pre_nms_top_n must be a positive int"):
        propose_one(objectness, deltas, anchors, (20, 20), pre_nms_top_n=0)


@pytest.mark.parametrize("seed", range(3))
def test_rpn_proposals_equal_torchvision(seed):
    ours, rpn = make_pair(seed)
    features, _ = scenes(seed)
    rpn.eval()
    with torch.no_grad():
        expected, _ = rpn(ImageList(torch.zeros(2, 3, *IMAGE), [IMAGE] * 2), {"0": features})
        objectness, deltas, anchors, boxes = ours_forward(ours, features)
        # torchvision's own filter on the same decoded boxes, for the scores
        tv_boxes, tv_scores = rpn.filter_proposals(boxes, objectness, [IMAGE] * 2, [len(anchors)])
    for i in range(2):
        got, scores = filter_proposals(boxes[i], objectness[i], IMAGE, 300, 100)
        torch.testing.assert_close(got, expected[i])
        torch.testing.assert_close(got, tv_boxes[i])
        torch.testing.assert_close(scores, tv_scores[i])
        assert 10 < len(got) <= 100 and (scores[:-1] >= scores[1:]).all()


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("batch_size", [256, 10**6])   # 10**6: every labelled anchor is kept
def test_rpn_losses_equal_torchvision(seed, batch_size):
    ours, rpn = make_pair(seed, batch_size)
    features, targets = scenes(seed)
    rpn.train()
    torch.manual_seed(100 + seed)                     # the sampler's randperms, theirs ...
    _, losses = rpn(ImageList(torch.zeros(2, 3, *IMAGE), [IMAGE] * 2), {"0": features}, targets)
    objectness, deltas, anchors, _ = ours_forward(ours, features)
    labelled = [label_anchors(anchors, t["boxes"]) for t in targets]
    labels = torch.stack([lab for lab, _ in labelled])
    matched = torch.stack([m for _, m in labelled])
    torch.manual_seed(100 + seed)                     # ... and ours: the same draws
    objectness_loss, box_loss = rpn_loss(objectness, deltas, anchors, labels, matched, batch_size)
    torch.testing.assert_close(objectness_loss, losses["loss_objectness"])
    torch.testing.assert_close(box_loss, losses["loss_rpn_box_reg"])
    (objectness_loss + box_loss).backward()
    assert ours.cls_logits.weight.grad.abs().sum() > 0 and ours.bbox_pred.weight.grad.abs().sum() > 0


def test_label_anchors_rules():
    anchors = torch.tensor([[0., 0., 10., 10.], [0., 0., 10., 8.], [20., 20., 30., 30.],
                            [50., 50., 60., 60.], [-5., 0., 5., 10.]])
    gt = torch.tensor([[0., 0., 10., 10.], [22., 22., 34., 34.]])   # the second: best IoU 0.36
    labels, matched = label_anchors(anchors, gt)
    assert labels.tolist() == [1, 1, 1, 0, -1]      # 1, 0.8, low-quality rescue, 0, 0.33
    assert torch.equal(matched[2], gt[1])
    strict, _ = label_anchors(anchors, gt, allow_low_quality_matches=False)
    assert strict.tolist() == [1, 1, -1, 0, -1]
    inside, _ = label_anchors(anchors, gt, image_size=(64, 64))
    assert inside.tolist() == [1, 1, 1, 0, -1] and label_anchors(
        anchors, torch.tensor([[-5., 0., 5., 10.]]), image_size=(64, 64))[0][4] == -1
    none, matched = label_anchors(anchors, torch.zeros(0, 4))
    assert none.tolist() == [0] * 5 and matched.shape == (5, 4)      # no objects: all negative


def test_an_image_without_objects_trains():
    torch.manual_seed(0)
    head = RPNHead(CHANNELS, 6)
    features = torch.randn(1, CHANNELS, 16, 16)
    objectness, deltas, anchors, _ = ours_forward(head, features)
    labels, matched = label_anchors(anchors, torch.zeros(0, 4))
    objectness_loss, box_loss = rpn_loss(objectness, deltas, anchors, labels[None], matched[None])
    assert torch.isfinite(objectness_loss) and box_loss.item() == 0.0
    (objectness_loss + box_loss).backward()
    assert torch.isfinite(head.conv.weight.grad).all()


@pytest.mark.parametrize("kwargs, name", [
    (dict(pre_nms_top_n=0), "pre_nms_top_n"), (dict(post_nms_top_n=-1), "post_nms_top_n"),
    (dict(nms_threshold=1.5), "nms_threshold"), (dict(score_threshold=-0.1), "score_threshold"),
    (dict(min_size=float("nan")), "min_size"), (dict(objectness=torch.zeros(3)), "objectness"),
    (dict(objectness=torch.tensor([0.0, float("nan")])), "objectness"),
    (dict(boxes=torch.tensor([[0., 0., float("inf"), 1.], [0., 0., 1., 1.]])), "boxes"),
])
def test_filter_proposals_rejects_bad_input(kwargs, name):
    args = dict(boxes=torch.tensor([[0., 0., 5., 5.], [1., 1., 6., 6.]]),
                objectness=torch.tensor([0.5, 0.1]), image_size=(10, 10), pre_nms_top_n=10,
                post_nms_top_n=10)
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        filter_proposals(**args)
