"""Lesson 8's ablation of the mask branch: the softmax alternative against its formula, the RoI
features of each variant against torchvision, one tiny run end to end, the shipped table."""
import pytest
import torch
import torchvision

from lecturelib.models import mask_ablation
from lecturelib.models.mask_ablation import (CONFIG, VARIANTS, load_results, mask_features,
                                             softmax_mask_loss)


def test_softmax_loss_is_the_multinomial_cross_entropy():
    """Against the formula, written out: −log softmax(logits)[pixel class], averaged."""
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 4, 6, 6, generator=g)
    targets = torch.rand(3, 6, 6, generator=g)
    labels = torch.tensor([1, 3, 2])
    classes = torch.where(targets >= 0.5, labels[:, None, None], torch.zeros(()).long())
    log_p = logits - logits.exp().sum(dim=1, keepdim=True).log()
    expected = -log_p.gather(1, classes[:, None]).mean()
    torch.testing.assert_close(softmax_mask_loss(logits, targets, labels), expected)
    # a pixel below 0.5 belongs to the background channel, whatever the RoI's label
    assert classes[targets < 0.5].eq(0).all() and classes[targets >= 0.5].ne(0).all()


@pytest.mark.parametrize("pooling", ["roi_align", "roi_pool"])
def test_variant_features_are_torchvisions(pooling):
    conv = torch.randn(2, 8, 32, 32, generator=torch.Generator().manual_seed(1))
    rois = torch.tensor([[0, 10.0, 12.0, 70.0, 90.0], [1, 3.5, 0.0, 127.0, 40.2]])
    ours = mask_features(conv, rois, 14, 4, pooling, 2)
    theirs = (torchvision.ops.roi_align(conv, rois, 14, 0.25, 2) if pooling == "roi_align"
              else torchvision.ops.roi_pool(conv, rois, 14, 0.25))
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)


def test_bad_variant_options_are_rejected():
    with pytest.raises(ValueError, match="unknown variant options"):
        mask_ablation._options(loss="hinge")
    with pytest.raises(ValueError, match="unknown variant options"):
        mask_ablation._options(targets="blurred")


def test_a_tiny_ablation_runs_end_to_end():
    config = dict(CONFIG, steps=2, train_images=3, test_images=2)
    frozen = mask_ablation.prepare(config, progress=False)
    assert len(frozen["positives"]) == 3 and len(frozen["tests"]) == 2
    for options in VARIANTS.values():
        head, seconds = mask_ablation.train_variant(frozen, 0, config, False, **options)
        conv, found, _ = frozen["tests"][0]
        masks = mask_ablation.predict_masks(head, frozen, conv, found, config, **options)["masks"]
        assert masks.shape == (len(found["boxes"]), 128, 128) and masks.dtype == torch.uint8
        assert seconds > 0
    metrics = mask_ablation.evaluate_variant(head, frozen, config, **options)
    assert 0 <= metrics["AP50"] <= 1


def test_shipped_table_has_every_run():
    table = load_results()
    runs = table["runs"]
    seeds = {r["seed"] for r in runs}
    assert len(seeds) >= 2
    assert {(r["variant"], r["seed"]) for r in runs} == {(v, s) for v in VARIANTS for s in seeds}
    assert list(table["variants"]) == list(VARIANTS)
    assert all(0 < r["mask_AP"] < r["mask_AP50"] <= 1 and r["train_seconds"] < 600 for r in runs)
    assert table["command"].startswith("python -m lecturelib.models.mask_ablation")


def test_main_writes_the_table_atomically(tmp_path, monkeypatch):
    """The command's output path gets the whole table or nothing (no temporary left behind)."""
    monkeypatch.setattr(mask_ablation, "run", lambda seeds: {"runs": [{"seed": s} for s in seeds]})
    out = tmp_path / "table.json"
    mask_ablation.main(["--seeds", "3", "4", "--out", str(out)])
    assert __import__("json").loads(out.read_text()) == {"runs": [{"seed": 3}, {"seed": 4}]}
    assert [p.name for p in tmp_path.iterdir()] == ["table.json"]
