"""The parts every detector shares: post-processing against torchvision's RoIHeads, the
evaluation loop, the recipes the command line maps over, and the ops' dispatch table."""
import re
from pathlib import Path

import pytest
import torch
from torchvision.models.detection._utils import BoxCoder
from torchvision.models.detection.roi_heads import RoIHeads

from lecturelib import ops
from lecturelib.models import MODELS, FastRCNN, RCNN, postprocess_detections

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("seed", range(4))
def test_postprocess_detections_equals_torchvision_roi_heads(seed):
    # torchvision decodes, softmaxes, drops the background column, clips, keeps score >
    # score_thresh and boxes >= 1e-2 wide, runs NMS per class and keeps the best 100.
    g = torch.Generator().manual_seed(seed)
    k, p, size = 3, 150, (96, 128)
    xy = torch.rand(p, 2, generator=g) * 100
    proposals = torch.cat([xy, xy + 4 + torch.rand(p, 2, generator=g) * 40], 1)
    logits = torch.randn(p, k + 1, generator=g) * 3
    deltas = torch.randn(p, 4 * (k + 1), generator=g)
    deltas[::7, 2::4] = -12.0                       # collapse some boxes below min_size
    heads = RoIHeads(None, None, None, 0.5, 0.5, 512, 0.25, (10.0, 10.0, 5.0, 5.0),
                     score_thresh=0.05, nms_thresh=0.5, detections_per_img=100)
    boxes, scores, labels = heads.postprocess_detections(logits, deltas, [proposals], [size])
    ours_boxes = ops.decode_boxes(deltas, proposals, (10, 10, 5, 5)).reshape(p, k + 1, 4)[:, 1:]
    ours = postprocess_detections(ours_boxes, logits.softmax(1)[:, 1:], size, nms_threshold=0.5,
                                  max_detections=100, score_threshold=0.05, min_size=1e-2)
    assert torch.equal(ours["labels"], labels[0])
    torch.testing.assert_close(ours["boxes"], boxes[0])
    torch.testing.assert_close(ours["scores"], scores[0])
    assert 0 < len(ours["boxes"]) <= 100
    # torchvision's decoding is ours, bit for bit
    coder = BoxCoder((10.0, 10.0, 5.0, 5.0))
    assert torch.equal(coder.decode(deltas, [proposals]).reshape(p, -1),
                       ops.decode_boxes(deltas, proposals, (10, 10, 5, 5)))


def test_postprocess_detections_without_a_score_threshold_keeps_negative_scores():
    boxes = torch.tensor([[[0., 0., 10., 10.], [0., 0., 10., 10.]],
                          [[50., 50., 50., 60.], [20., 20., 30., 30.]]])      # one has no width
    scores = torch.tensor([[-0.5, -2.0], [3.0, -1.0]])
    out = postprocess_detections(boxes, scores, (40, 40), nms_threshold=0.3)
    assert out["labels"].tolist() == [1, 2, 2] and out["scores"].tolist() == [-0.5, -1.0, -2.0]
    assert postprocess_detections(boxes, scores, (40, 40), 0.3, score_threshold=0.0)["labels"] \
        .tolist() == []
    assert len(postprocess_detections(boxes, scores, (40, 40), 0.3, max_detections=1)["boxes"]) == 1
    empty = postprocess_detections(torch.zeros(0, 2, 4), torch.zeros(0, 2), (40, 40), 0.3)
    assert {k: len(v) for k, v in empty.items()} == {"boxes": 0, "scores": 0, "labels": 0}


def test_every_model_has_a_recipe_the_cli_maps_over():
    assert sorted(MODELS) == ["backbone", "fast_rcnn", "faster_rcnn", "mask_rcnn", "rcnn", "rpn"]
    for name, recipe in MODELS.items():
        assert (recipe.build is None) == (name == "rpn"), "rpn is evaluated, not trained"
        assert callable(recipe.load) and callable(recipe.evaluate)
    assert MODELS["faster_rcnn"].schedules == ("alternating",)
    assert RCNN.needs_proposals and FastRCNN.needs_proposals


def test_the_dispatch_table_is_what_the_readme_says():
    for op, paths in ops.TABLE.items():
        assert "cpu" in paths and "reference" in paths, op
        for path in paths:
            module, name = paths[path].split(":")
            if path == "triton" and not ops.triton_available():
                continue
            # the function itself, not implementation(op, path): on a CUDA machine that
            # refuses the Triton path without CUDA tensors to run it on
            assert callable(ops.backends._function(paths[path])), (op, path)
    readme = (ROOT / "README.md").read_text()
    line = next(line for line in readme.splitlines() if line.startswith("`backend=` is taken by"))
    assert sorted(re.findall(r"`(\w+)`", line.split("by", 1)[1].split(":")[0])) == sorted(ops.TABLE)
    with pytest.raises(ValueError, match=r"encode_boxes has no 'triton' path"):
        ops.encode_boxes(torch.tensor([[0., 0., 2., 2.]]), torch.tensor([[0., 0., 1., 1.]]),
                         backend="triton")
    with pytest.raises(ValueError, match="backend must be one of"):
        ops.box_iou(torch.zeros(1, 4), torch.zeros(1, 4), backend="gpu")


@pytest.mark.parametrize("backend", ["reference", "cpu", "auto"])
def test_box_coder_backends_agree(backend):
    g = torch.Generator().manual_seed(0)
    proposals = torch.rand(20, 2, generator=g) * 50
    proposals = torch.cat([proposals, proposals + 1 + torch.rand(20, 2, generator=g) * 30], 1)
    targets = proposals + torch.randn(20, 4, generator=g)
    targets = torch.cat([targets[:, :2], targets[:, :2] + (proposals[:, 2:] - proposals[:, :2])], 1)
    deltas = ops.encode_boxes(targets, proposals, (10, 10, 5, 5), backend=backend)
    torch.testing.assert_close(deltas, ops.encode_boxes(targets, proposals, (10, 10, 5, 5)))
    torch.testing.assert_close(ops.decode_boxes(deltas, proposals, (10, 10, 5, 5),
                                                backend=backend), targets)
