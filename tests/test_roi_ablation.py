"""Lesson 7's ablation: the Fast R-CNN head with RoIPool or RoIAlign at a chosen stride, and the
shipped table it produced."""
import pytest
import torch
import torchvision

from lecturelib.models.fast_rcnn import POOLED, FastRCNN
from lecturelib.models.roi_ablation import VARIANTS, load_results


@pytest.mark.parametrize("stride", [4, 16])
def test_head_pools_as_configured(stride):
    """roi_heads = the heads on torchvision's roi_pool / roi_align of the (max-pooled) map."""
    torch.manual_seed(0)
    conv = torch.randn(1, 64, 32, 32)
    rois = torch.tensor([[0, 10.0, 12.0, 70.0, 90.0], [0, 0.0, 0.0, 127.0, 127.0]])
    grid = torch.nn.functional.max_pool2d(conv, stride // 4) if stride > 4 else conv
    expected = {"RoIPool": torchvision.ops.roi_pool(grid, rois, POOLED, 1 / stride),
                "RoIAlign": torchvision.ops.roi_align(grid, rois, POOLED, 1 / stride, 2),
                "RoIAlign, aligned": torchvision.ops.roi_align(grid, rois, POOLED, 1 / stride, 2,
                                                               aligned=True)}
    for name, options in VARIANTS.items():
        model = FastRCNN(feature_stride=stride, **options).eval()
        with torch.no_grad():
            logits, _ = model.roi_heads(conv, rois)
            fc7 = model.backbone.fc7_features(expected[name])
        torch.testing.assert_close(logits, model.cls_score(fc7), rtol=0, atol=0)


def test_bad_head_options_are_rejected():
    with pytest.raises(ValueError, match="pooling must be one of"):
        FastRCNN(pooling="roi_warp")
    with pytest.raises(ValueError, match="feature_stride must be 4, 8, 16 or 32"):
        FastRCNN(feature_stride=6)


def test_shipped_table_has_every_run():
    table = load_results()
    runs = table["runs"]
    keys = {(r["variant"], r["stride"], r["seed"]) for r in runs}
    seeds = {r["seed"] for r in runs}
    strides = {r["stride"] for r in runs}
    assert len(seeds) >= 2 and {4, 16} <= strides
    assert keys == {(v, s, k) for v in VARIANTS for s in strides for k in seeds}
    assert all(0 < r["AP"] < r["AP50"] <= 1 and r["train_seconds"] < 600 for r in runs)
    assert table["command"].startswith("python -m lecturelib.models.roi_ablation")
