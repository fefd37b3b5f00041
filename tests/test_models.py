"""The detector machinery: warping, the backbone and its training loop, checkpoints, R-CNN's
stages and the command line."""
import json
import subprocess
import sys

import pytest
import torch

from lecturelib import checkpoints
from lecturelib.models import Backbone, add_context, warp_regions
from lecturelib.models.backbone import object_crops, pretrain
from lecturelib.models.rcnn import RCNN
from lecturelib.models.rcnn_train import label_proposals


def test_add_context_keeps_the_box_at_size_minus_two_context():
    box = torch.tensor([[10., 20., 30., 60.]])
    wide = add_context(box, size=32, context=4)
    # after warping `wide` to 32 px, the original box spans 24 px: scale 32 / 24
    assert torch.allclose((wide[:, 2:] - wide[:, :2]) / (box[:, 2:] - box[:, :2]),
                          torch.tensor(32 / 24))
    assert torch.allclose((wide[:, :2] + wide[:, 2:]) / 2, (box[:, :2] + box[:, 2:]) / 2)
    with pytest.raises(ValueError, match="context"):
        add_context(box, 32, 16)


def test_warp_resamples_bilinearly():
    # On a linear ramp, bilinear resampling is exact: the crop of the box [8, 0, 40, 32] warped
    # to 32 × 32 (no context) reads the ramp at the 32 pixel centres 8.5 ... 39.5.
    h, w = 32, 64
    ramp = torch.arange(w, dtype=torch.float32).repeat(3, h, 1) + 0.5
    crop = warp_regions(ramp, torch.tensor([[8., 0., 40., 32.]]), size=32, context=0)
    assert crop.shape == (1, 3, 32, 32)
    assert torch.allclose(crop[0, 0, 5], torch.arange(8, 40, dtype=torch.float32) + 0.5, atol=1e-5)
    # a list of boxes per image and RoIs [K, 5] give the same crops
    image = torch.rand(2, 3, 40, 40)
    boxes = [torch.tensor([[0., 0., 20., 30.]]), torch.tensor([[5., 5., 35., 25.]])]
    rois = torch.tensor([[0., 0., 0., 20., 30.], [1., 5., 5., 35., 25.]])
    assert torch.equal(warp_regions(image, boxes), warp_regions(image, rois))


def test_backbone_shapes():
    model = Backbone()
    x = torch.rand(5, 3, 32, 32)
    assert model.features(x).shape == (5, model.out_channels, 32 // model.stride, 32 // model.stride)
    assert model.features(x).shape == (5, 64, 8, 8)
    pool5 = model.last_pool(model.features(x))
    assert pool5.shape[-1] == model.pool5_size == 4
    assert model.fc7_features(pool5).shape == (5, model.fc7_size) == (5, 256)
    assert torch.equal(model.fc7_features(pool5), model.fc7_features(pool5.flatten(1)))
    assert model.embed(x).shape == (5, 256)
    assert model(x).shape == (5, 3)


def test_backbone_parts_by_name_and_the_shipped_keys():
    # The shipped checkpoints store fc6 / fc7 as fc.1 / fc.3 (an nn.Sequential of before the
    # names); they load into the named layers unchanged, weight for weight.
    from lecturelib.models import FastRCNN, load_backbone, load_fast_rcnn, load_pretrained
    stored = checkpoints.load_checkpoint("backbone")["state_dict"]
    assert "fc.1.weight" in stored and "fc6.weight" in Backbone().state_dict()
    backbone = load_backbone()
    assert torch.equal(backbone.fc6.weight, stored["fc.1.weight"])
    assert torch.equal(backbone.fc7.bias, stored["fc.3.bias"])
    fast = load_fast_rcnn()
    fast_stored = checkpoints.load_checkpoint("fast_rcnn")["state_dict"]
    assert torch.equal(fast.backbone.fc7.weight, fast_stored["backbone.fc.3.weight"])
    # the old layers computed flatten -> fc6 -> ReLU -> fc7 -> ReLU: the same numbers
    x = torch.rand(4, 3, 32, 32)
    old = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(1024, 256), torch.nn.ReLU(),
                              torch.nn.Linear(256, 256), torch.nn.ReLU())
    old.load_state_dict({k[3:]: v for k, v in stored.items() if k.startswith("fc.")})
    with torch.no_grad():
        assert torch.equal(backbone.embed(x), old(backbone.last_pool(backbone.features(x))))
    # a detector's backbone takes the pre-trained weights; R-CNN's K + 1 classifier starts anew
    rcnn = RCNN()
    rcnn_classifier = rcnn.cnn.classifier.weight.clone()
    load_pretrained(rcnn.cnn)
    assert torch.equal(rcnn.cnn.fc6.weight, backbone.fc6.weight)
    assert torch.equal(rcnn.cnn.classifier.weight, rcnn_classifier)
    assert torch.equal(load_pretrained(FastRCNN().backbone).classifier.weight,
                       backbone.classifier.weight)


def test_shipped_detectors_keep_their_test_ap():
    # The figures of the README and lessons 4-5, from the shipped checkpoints on the 128 test
    # scenes (measured before and after the detectors shared one post-processing path).
    from lecturelib.models import evaluate_detector, load_fast_rcnn, load_rcnn
    rcnn = evaluate_detector(load_rcnn(), "test", progress=False)
    fast = evaluate_detector(load_fast_rcnn(), "test", progress=False)
    assert (rcnn["AP50"], rcnn["AP"]) == pytest.approx((0.754, 0.575), abs=2e-3)
    assert (fast["AP50"], fast["AP"]) == pytest.approx((0.879, 0.576), abs=2e-3)
    assert rcnn["forward_passes_per_image"] > 100 and fast["forward_passes_per_image"] == 1.0
    assert rcnn["images"] == fast["images"] == 128


def test_pretraining_loop_lowers_the_loss():
    model, summary = pretrain(num_images=60, epochs=4, batch_size=16, progress=False)
    assert summary["last_loss"] < summary["first_loss"]
    again, summary2 = pretrain(num_images=60, epochs=4, batch_size=16, progress=False)
    assert summary2["last_loss"] == summary["last_loss"], "training is deterministic"
    crops, labels = object_crops(3, seed=5)
    assert crops.shape[1:] == (3, 32, 32) and labels.min() >= 0 and labels.max() <= 2


def test_checkpoint_round_trip_and_errors(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoints, "FOLDER", tmp_path)
    monkeypatch.setattr(checkpoints, "MANIFEST", tmp_path / "MANIFEST.json")
    state = {"state_dict": Backbone().state_dict(), "meta": {"note": 1}}
    path = checkpoints.save_checkpoint("toy", state, "python -m lecturelib train toy")
    manifest = json.loads((tmp_path / "MANIFEST.json").read_text())
    assert manifest["toy"]["sha256"] == checkpoints.content_sha256(state)
    loaded = checkpoints.load_checkpoint("toy")
    assert all(torch.equal(loaded["state_dict"][k], v) for k, v in state["state_dict"].items())
    with pytest.raises(checkpoints.CheckpointError, match="no checkpoint named 'other'"):
        checkpoints.load_checkpoint("other")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF                      # one altered byte
    path.write_bytes(bytes(data))
    with pytest.raises(checkpoints.CheckpointError, match="python -m lecturelib train toy"):
        checkpoints.load_checkpoint("toy")
    path.unlink()
    with pytest.raises(checkpoints.CheckpointError, match="missing"):
        checkpoints.load_checkpoint("toy")
    assert not list(tmp_path.glob(".*")), "no temporary files left behind"


def test_shipped_checkpoints_verify_and_are_small():
    for name, entry in checkpoints.manifest().items():
        assert entry["bytes"] < 5 * 2**20, f"{name} is {entry['bytes']} bytes: keep it a few MB"
        checkpoints.load_checkpoint(name)   # hash verified
        assert entry["command"].startswith("python -m lecturelib train")


def test_label_proposals_for_finetuning():
    gt = torch.tensor([[0., 0., 10., 10.], [20., 20., 40., 40.]])
    labels = torch.tensor([2, 3])
    proposals = torch.tensor([[0., 0., 10., 10.], [0., 0., 10., 20.], [20., 20., 38., 40.],
                              [50., 50., 60., 60.], [0., 0., 10., 5.]])
    y = label_proposals(proposals, gt, labels, 0.5)
    assert y.tolist() == [2, 2, 3, 0, 2]                 # IoU 1, 0.5, 0.9, 0, 0.5
    y_none = label_proposals(proposals, torch.zeros(0, 4), torch.zeros(0, dtype=torch.int64))
    assert (y_none == 0).all()


def test_rcnn_detect_output_contract():
    torch.manual_seed(0)
    model = RCNN()
    image = torch.rand(3, 64, 64)
    proposals = torch.tensor([[0., 0., 30., 30.], [10., 10., 50., 40.], [5., 5., 6., 6.]])
    for svm in (True, False):
        for reg in (True, False):
            out = model.detect(image, proposals, use_svm=svm, use_bbox_regression=reg)
            assert set(out) == {"boxes", "scores", "labels"}
            assert out["boxes"].shape[1] == 4 and len(out["scores"]) == len(out["labels"])
            assert ((out["labels"] >= 1) & (out["labels"] <= 3)).all()
            assert (out["scores"][:-1] >= out["scores"][1:]).all()
    empty = model.detect(image, torch.zeros(0, 4))
    assert len(empty["boxes"]) == 0


def test_cli_reports_json_on_its_last_line():
    result = subprocess.run([sys.executable, "-m", "lecturelib", "evaluate", "backbone",
                             "--split", "val"], capture_output=True, text=True, timeout=600)
    if "no checkpoint named 'backbone'" in result.stderr:
        pytest.skip("the backbone checkpoint has not been built")
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["model"] == "backbone" and 0.0 <= report["accuracy"] <= 1.0
    bad = subprocess.run([sys.executable, "-m", "lecturelib", "train", "nonsense"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "invalid choice" in bad.stderr


def test_rcnn_variants_agree_with_detect():
    torch.manual_seed(1)
    model = RCNN()
    model.svm_weight.normal_()
    model.bbox_weight.normal_(std=0.001)
    image = torch.rand(3, 64, 64)
    proposals = torch.tensor([[0., 0., 30., 30.], [10., 10., 50., 40.], [20., 5., 60., 30.]])
    variants = model.detect_variants(image, proposals)
    assert set(variants) == {"softmax", "softmax+regression", "svm", "svm+regression"}
    for svm in (True, False):
        for reg in (True, False):
            name = ("svm" if svm else "softmax") + ("+regression" if reg else "")
            one = model.detect(image, proposals, use_svm=svm, use_bbox_regression=reg)
            assert all(torch.equal(one[k], variants[name][k]) for k in one)


def test_fast_rcnn_forward_shapes_and_loss():
    from lecturelib.models.fast_rcnn import FastRCNN, multitask_loss, sample_rois
    torch.manual_seed(0)
    model = FastRCNN()
    images = torch.rand(2, 3, 64, 64)
    rois = torch.tensor([[0, 0, 0, 30, 30], [1, 10, 10, 50, 40], [1, 0, 0, 64, 64.]])
    logits, deltas = model(images, rois)
    assert logits.shape == (3, 4) and deltas.shape == (3, 12)
    g = torch.Generator().manual_seed(0)
    gt, gt_labels = torch.tensor([[10., 10., 40., 40.]]), torch.tensor([2])
    proposals = torch.tensor([[12., 10., 40., 42.], [0., 0., 20., 20.], [30., 30., 60., 60.],
                              [11., 11., 39., 39.]])
    boxes, labels, targets = sample_rois(proposals, gt, gt_labels, 8, 0.25, 0.5, (0.1, 0.5), g)
    assert len(boxes) == 8 and (labels > 0).sum() == 2          # 25 % of 8 foreground
    assert set(labels.tolist()) <= {0, 2}
    loss, cls, reg = multitask_loss(torch.zeros(8, 4, requires_grad=True),
                                    torch.zeros(8, 12), labels, targets)
    assert torch.isclose(cls, torch.log(torch.tensor(4.0)))     # uniform over K + 1
    loss.backward()


def test_detection_explorers_count_what_they_draw():
    from lecturelib.widgets import draw_detections, draw_proposal_labels, proposal_label_explorer
    image = torch.rand(3, 64, 64)
    gt = torch.tensor([[10., 10., 40., 40.]])
    proposals = torch.tensor([[10., 10., 40., 40.], [10., 10., 40., 25.], [10., 10., 22., 22.],
                              [45., 45., 60., 60.]])                # IoU 1, 0.5, 0.16, 0
    r = draw_proposal_labels(image, proposals, gt, 0.5, 0.3)
    assert r["counts"] == {"positive": 2, "negative": 2, "ignored": 0}
    r = draw_proposal_labels(image, proposals, gt, 0.7, 0.1)
    assert r["counts"] == {"positive": 1, "negative": 1, "ignored": 2}
    e = proposal_label_explorer(image, proposals, gt)
    assert e.set(positive_iou=0.9)["counts"]["positive"] == 1
    e.controls["negative_iou"].value = 0.95
    assert e.controls["positive_iou"].value == 0.95
    detections = {"boxes": torch.tensor([[10., 10., 40., 40.], [0., 0., 5., 5.]]),
                  "scores": torch.tensor([0.9, 0.4]), "labels": torch.tensor([2, 1])}
    target = {"boxes": gt, "labels": torch.tensor([2])}
    r = draw_detections(image, detections, target, 0.5)
    assert (r["shown"], r["hits"], r["false_positives"]) == (1, 1, 0)
    r = draw_detections(image, detections, target, 0.3)
    assert (r["shown"], r["hits"], r["false_positives"]) == (2, 1, 1)
    wrong_class = {**target, "labels": torch.tensor([3])}
    assert draw_detections(image, detections, wrong_class, 0.3)["hits"] == 0


def test_detection_threshold_shown_is_the_threshold_compared():
    # issue 20: "score ≥ -0.00" hid a triangle scored -0.004 (a slider value of -0.001 shown
    # with 2 decimals); the threshold is rounded to what the title shows, scores get 3 decimals
    from lecturelib.widgets import detection_explorer, draw_detections
    image = torch.rand(3, 64, 64)
    detections = {"boxes": torch.tensor([[10., 10., 40., 40.], [0., 0., 5., 5.]]),
                  "scores": torch.tensor([1.13, -0.0038]), "labels": torch.tensor([1, 3])}
    for asked in (-0.001, 0.0, 0.004):
        r = draw_detections(image, detections, None, asked)
        assert r["threshold"] == 0.0 and r["readout"].endswith("≥ 0.00"), r["readout"]
        assert r["shown"] == 1, r["readout"]
    r = draw_detections(image, detections, None, -0.006)          # shown as -0.01: both pass
    assert r["threshold"] == -0.01 and r["shown"] == 2 and "≥ -0.01" in r["readout"]
    captions = [t.get_text() for t in r["figure"].axes[0].texts]
    assert sorted(captions) == ["circle 1.129", "triangle -0.004"], captions   # rounded down
    near = {**detections, "scores": torch.tensor([-0.0104, -0.0099])}
    r = draw_detections(image, near, None, -0.01)                  # captions -0.011 and -0.010
    assert r["shown"] == 1 and [t.get_text() for t in r["figure"].axes[0].texts] == ["triangle -0.010"]
    e = detection_explorer(image, detections, score_threshold=0.0)
    slider = e.controls["score_threshold"]
    assert (slider.min, slider.max, slider.step, slider.readout_format) == (-0.01, 1.13, 0.01, ".2f")
    assert e.set(score_threshold=0.0)["shown"] == 1


@pytest.fixture(scope="module")
def tiny_training_set():
    from lecturelib.data import SyntheticShapes
    from lecturelib.models.proposals import proposals_for
    data = SyntheticShapes("train", num_images=12)
    proposals, _ = proposals_for(data, progress=False)
    return data, proposals


def test_rcnn_finetuning_lowers_the_loss(tiny_training_set):
    from lecturelib.models.rcnn_train import finetune, finetune_samples
    data, proposals = tiny_training_set
    model = RCNN()
    model.cnn.load_state_dict({k: v for k, v in checkpoints.load_checkpoint("backbone")
                               ["state_dict"].items() if not k.startswith("classifier")},
                              strict=False)
    crops, labels = finetune_samples(data, proposals, 0.5, 16, seed=0)
    assert crops.dtype == torch.uint8 and (labels > 0).any() and (labels == 0).any()
    losses = finetune(model, crops, labels, steps=40, batch_size=32, positive_fraction=0.25,
                      lr=1e-3, seed=0, progress=False)
    assert sum(losses[-8:]) < sum(losses[:8])


def test_fast_rcnn_training_lowers_the_loss(tiny_training_set):
    from lecturelib.models.fast_rcnn import build_fast_rcnn
    _, summary = build_fast_rcnn(progress=False, train_images=12, steps=40)
    assert summary["last_loss"] < summary["first_loss"]


def test_proposal_cache_is_written_whole_or_not_at_all(tmp_path, monkeypatch):
    """Each writer fills a temporary file of its own and renames it: a write stopped half-way
    leaves neither a cache file nor a stray temporary one, and the next call computes again."""
    import numpy as np

    from lecturelib.data import SyntheticShapes
    from lecturelib.models import proposals
    monkeypatch.setenv("LECTURELIB_CACHE", str(tmp_path))
    data = SyntheticShapes("test", num_images=2)

    def stopped(src, dst):
        raise KeyboardInterrupt
    monkeypatch.setattr(proposals.os, "replace", stopped)
    with pytest.raises(KeyboardInterrupt):
        proposals.proposals_for(data, progress=False)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    monkeypatch.setenv("LECTURELIB_CACHE", str(tmp_path))
    boxes, _ = proposals.proposals_for(data, progress=False)
    again, _ = proposals.proposals_for(data, progress=False)
    written = [p.name for p in tmp_path.iterdir()]
    assert len(written) == 1 and written[0].startswith("proposals-"), written
    assert all(np.array_equal(a, b) for a, b in zip(boxes, again)) and len(boxes) == 2
