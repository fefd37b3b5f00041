"""Why Mask R-CNN's mask branch is built the way it is: lesson 8's ablations, in the manner of
the paper's Table 2b (per-class sigmoid vs softmax over classes) and 2c (RoIAlign vs RoIPool
features), with the mask resolution (14 vs 28) and the targets (soft, cut by RoIAlign as
torchvision does, vs rounded to 0 / 1 as Matterport does) beside them.

Everything but the mask branch is held fixed: the shipped Faster R-CNN, frozen, gives every
variant the same conv maps, the same training RoIs (its proposals with IoU >= 0.5 to a ground
truth, and the ground truths) and the same test detections, so the mask AP differs only by
the mask head. Each variant is a fresh :class:`~lecturelib.models.mask_rcnn.MaskHead`
trained with the same seed and schedule (one to two minutes on 2 cores).

    python -m lecturelib.models.mask_ablation [--seeds 0 1]

writes ``lecturelib/checkpoints/mask_ablation.json`` (a few KB: every run's mask AP on the test
split, its seed, training seconds, and this command); lesson 8 reads it.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from torch.nn import functional as F

VARIANTS = {
    "sigmoid, RoIAlign, 28 (Mask R-CNN)": dict(),
    "softmax over classes": dict(loss="softmax"),
    "RoIPool features": dict(pooling="roi_pool"),
    "14 x 14 masks": dict(roi_size=7),
    "rounded 0/1 targets": dict(targets="rounded"),
}
CONFIG = dict(steps=1000, lr=1e-3, images_per_batch=4, positives_per_image=16,
              train_images=512, test_images=None, channels=32, sampling_ratio=2, proposals=300)
RESULTS = Path(__file__).parents[1] / "checkpoints" / "mask_ablation.json"


def _options(loss="sigmoid", pooling="roi_align", roi_size=14, targets="soft"):
    if loss not in ("sigmoid", "softmax") or pooling not in ("roi_align", "roi_pool") \
            or targets not in ("soft", "rounded"):
        raise ValueError(f"unknown variant options: loss={loss!r}, pooling={pooling!r}, "
                         f"targets={targets!r}")
    return dict(loss=loss, pooling=pooling, roi_size=roi_size, targets=targets)


def mask_features(conv, rois, roi_size, stride, pooling="roi_align", sampling_ratio=2):
    """The mask branch's RoI features Float[R, C, S, S] by RoIAlign (sampling 2, not aligned,
    as torchvision's Mask R-CNN) or by RoIPool (the rounding of lessons 5 and 7)."""
    from ..ops import roi_align, roi_pool
    if pooling == "roi_pool":
        return roi_pool(conv, rois, roi_size, 1.0 / stride)
    return roi_align(conv, rois, roi_size, 1.0 / stride, sampling_ratio)


def softmax_mask_loss(mask_logits, targets, labels):
    """The coupled alternative (paper, Table 2b): a per-pixel softmax over all K + 1 channels
    and a multinomial cross-entropy, the pixel's class being the RoI's label where its target is
    >= 0.5 and the background (channel 0) elsewhere — the classes compete for every pixel.
    mask_logits Float[R, K + 1, M, M], targets Float[R, M, M], labels Int64[R] -> scalar."""
    pixel_class = torch.where(targets >= 0.5, labels[:, None, None], 0)
    return F.cross_entropy(mask_logits, pixel_class)


def _frozen_detector():
    from .faster_rcnn import load_faster_rcnn
    model = load_faster_rcnn()
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


@torch.no_grad()
def prepare(config=CONFIG, progress: bool = True) -> dict:
    """The frozen part, computed once for every variant: the train images' conv maps and
    positive RoIs (each with its ground-truth index), the test images' detections."""
    from tqdm.auto import tqdm

    from ..data import SyntheticShapes
    from ..ops import box_iou
    detector = _frozen_detector()
    train = SyntheticShapes("train", num_images=config["train_images"])
    convs, positives = [], []
    for i in tqdm(range(len(train)), desc="frozen Faster R-CNN on train", disable=not progress):
        image, target = train[i]
        conv = detector.backbone.features(image[None])
        proposals, _ = detector.propose(conv, image.shape[-2:], 1000, config["proposals"])[0]
        boxes = torch.cat([target["boxes"], proposals])
        iou = box_iou(target["boxes"], boxes)
        best, matched = iou.max(dim=0)
        keep = best >= 0.5
        convs.append(conv[0])
        positives.append((boxes[keep], matched[keep], target["masks"], target["labels"]))
    test = SyntheticShapes("test", num_images=config["test_images"])
    tests = []
    for i in tqdm(range(len(test)), desc="frozen Faster R-CNN on test", disable=not progress):
        image, target = test[i]
        conv = detector.backbone.features(image[None])
        tests.append((conv, detector.detect_conv(conv, image.shape[-2:]), target))
    return {"convs": torch.stack(convs), "positives": positives, "tests": tests,
            "stride": detector.backbone.stride, "image_size": tuple(image.shape[-2:]),
            "num_classes": detector.num_classes}


def train_variant(frozen: dict, seed: int = 0, config=CONFIG, progress: bool = True, **options):
    """A fresh MaskHead trained on the frozen features; returns (head, seconds)."""
    from .mask_rcnn import MaskHead, project_masks_on_boxes
    opts = _options(**options)
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    convs, positives = frozen["convs"], frozen["positives"]
    head = MaskHead(convs.shape[1], frozen["num_classes"] + 1, config["channels"])
    optimizer = torch.optim.Adam(head.parameters(), lr=config["lr"])
    start = time.perf_counter()
    size = 2 * opts["roi_size"]
    # the targets do not depend on the head: cut each image's once
    cached = {}
    from tqdm.auto import tqdm
    for _ in tqdm(range(config["steps"]), desc=f"mask head {opts}", disable=not progress):
        images = torch.randint(len(convs), (config["images_per_batch"],), generator=g).tolist()
        rois, targets, labels = [], [], []
        for slot, i in enumerate(images):
            boxes, matched, masks, gt_labels = positives[i]
            if i not in cached:
                cached[i] = project_masks_on_boxes(masks, boxes, matched, size)
            chosen = torch.randperm(len(boxes), generator=g)[:config["positives_per_image"]]
            rois.append(torch.cat([torch.full((len(chosen), 1), float(slot)), boxes[chosen]], 1))
            targets.append(cached[i][chosen])
            labels.append(gt_labels[matched[chosen]])
        rois, targets, labels = torch.cat(rois), torch.cat(targets), torch.cat(labels)
        if opts["targets"] == "rounded":
            targets = (targets >= 0.5).float()
        features = mask_features(convs[images], rois, opts["roi_size"], frozen["stride"],
                                 opts["pooling"], config["sampling_ratio"])
        logits = head(features)
        if opts["loss"] == "softmax":
            loss = softmax_mask_loss(logits, targets, labels)
        else:
            loss = F.binary_cross_entropy_with_logits(logits[torch.arange(len(labels)), labels],
                                                      targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    head.eval()
    return head, time.perf_counter() - start


@torch.no_grad()
def predict_masks(head, frozen: dict, conv, found: dict, config=CONFIG, **options) -> dict:
    """One test image's detections with this head's masks, pasted and thresholded at 0.5."""
    from .mask_rcnn import paste_masks_in_image
    opts = _options(**options)
    rois = torch.cat([torch.zeros(len(found["boxes"]), 1), found["boxes"]], dim=1)
    logits = head(mask_features(conv, rois, opts["roi_size"], frozen["stride"], opts["pooling"],
                                config["sampling_ratio"]))
    chosen = torch.arange(len(rois))
    probabilities = (logits.softmax(dim=1) if opts["loss"] == "softmax"
                     else logits.sigmoid())[chosen, found["labels"]][:, None]
    pasted = paste_masks_in_image(probabilities, found["boxes"], frozen["image_size"])[:, 0]
    return {**found, "masks": (pasted >= 0.5).to(torch.uint8)}


def evaluate_variant(head, frozen: dict, config=CONFIG, **options) -> dict:
    """COCO mask AP of a head on the frozen test detections."""
    from ..metrics import coco_evaluate
    predictions = [predict_masks(head, frozen, conv, found, config, **options)
                   for conv, found, _ in frozen["tests"]]
    return coco_evaluate(predictions, [t for _, _, t in frozen["tests"]], iou_type="segm")


def run(seeds=(0, 1), progress: bool = True, config=CONFIG) -> dict:
    """Train and evaluate every (variant, seed); returns the table as a dict."""
    frozen = prepare(config, progress)
    runs = []
    for seed in seeds:
        for name, options in VARIANTS.items():
            head, seconds = train_variant(frozen, seed, config, progress, **options)
            metrics = evaluate_variant(head, frozen, config, **options)
            runs.append({"variant": name, "seed": seed,
                         **{f"mask_{k}": metrics[k] for k in ("AP", "AP50", "AP75")},
                         "train_seconds": seconds})
            if progress:
                print(json.dumps(runs[-1]), file=sys.stderr)
    return {"command": "python -m lecturelib.models.mask_ablation "
                       f"--seeds {' '.join(map(str, seeds))}",
            "config": dict(config), "variants": {k: _options(**v) for k, v in VARIANTS.items()},
            "split": "test", "runs": runs}


def load_results() -> dict:
    """The shipped table (``mask_ablation.json``)."""
    from ..checkpoints import load_table
    return load_table(RESULTS)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    from ..checkpoints import save_table
    table = run(tuple(args.seeds))
    print(json.dumps({"wrote": str(save_table(args.out, table)), "runs": len(table["runs"])}))


if __name__ == "__main__":
    main()
