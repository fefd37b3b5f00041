"""Faster R-CNN (Ren et al., 2015) in miniature: Fast R-CNN whose proposals come from a Region
Proposal Network on the same conv map, so proposals cost almost nothing.

    image Float[3, 128, 128]
      backbone.features        -> conv map Float[64, 32, 32]            (once, shared by both)
      rpn                      -> 12 anchors per cell (4 sizes × 3 ratios): objectness, deltas
      decode + filter_proposals-> proposals, best first                 (lecturelib.models.rpn)
      roi_heads                -> RoI pooling 4 × 4, fc6, fc7, cls_score, bbox_pred  (Fast R-CNN)
      postprocess_detections   -> detections                            (models.detector)

:class:`FasterRCNN` *is* a :class:`~lecturelib.models.fast_rcnn.FastRCNN` with an RPN: same
backbone, same heads, same post-processing. Two ways to train it (:func:`build_faster_rcnn`):

- ``schedule="joint"`` — approximate joint training (torchvision's, and the paper's later
  choice): one loss, RPN objectness + RPN box + box-head classification + box-head regression,
  with the proposals' coordinates detached;
- ``schedule="alternating"`` — the paper's (and the lecture's) four steps:
  1. the RPN, from the pre-trained backbone;
  2. Fast R-CNN on step 1's proposals, with its own copy of the pre-trained backbone;
  3. the RPN's own layers on step 2's backbone, the shared conv layers frozen;
  4. the detector's own layers (fc6, fc7, the heads), the shared conv layers still frozen.

Labels and sampling follow torchvision: anchors 0.7 / 0.3 with the low-quality rule, 256 per
image, half positive; RoIs IoU >= 0.5 foreground, < 0.5 background, ground truths added to the
proposals, 25 % positive; smooth L1 with beta 1/9 in both losses.
"""
from __future__ import annotations

import hashlib
import time

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data import SyntheticShapes
from ..matching import match_proposals, matched_labels, sample_balanced
from ..ops import box_iou, encode_boxes, make_anchors
from .backbone import load_pretrained
from .detector import NUM_CLASSES, mirror
from .fast_rcnn import BOX_WEIGHTS, FastRCNN, multitask_loss
from .rpn import RPNHead, decode_proposals, filter_proposals, flatten_predictions, label_anchors, \
    propose_one, rpn_loss

ANCHOR_SIZES = (12, 24, 48, 96)   # px, octaves: the objects are 10-89 px (sqrt of area), median 29
ASPECT_RATIOS = (0.5, 1.0, 2.0)      # h / w
SCHEDULES = ("joint", "alternating")
DEFAULTS = dict(train_images=512, steps=6000, images_per_batch=2, lr=1e-3, lr_drop=0.75,
                rpn_batch_size=256, rpn_positive_fraction=0.5, rpn_pre_nms_top_n=2000,
                rpn_post_nms_top_n=2000, ignore_cross_boundary=False,
                rois_per_image=128, positive_fraction=0.25, box_loss_beta=1 / 9)


class FasterRCNN(FastRCNN):
    needs_proposals = False

    def __init__(self, num_classes: int = NUM_CLASSES, anchor_sizes=ANCHOR_SIZES,
                 aspect_ratios=ASPECT_RATIOS):
        super().__init__(num_classes)
        self.anchor_sizes, self.aspect_ratios = tuple(anchor_sizes), tuple(aspect_ratios)
        self.rpn = RPNHead(self.backbone.out_channels, len(anchor_sizes) * len(aspect_ratios))
        self._anchors: dict[tuple[int, int], torch.Tensor] = {}

    def anchors(self, feature_size) -> torch.Tensor:
        """Float[h * w * A, 4]: the anchors of a conv map of ``feature_size`` (h, w), made once
        per size (they depend on nothing else)."""
        key = tuple(feature_size)
        if key not in self._anchors:
            self._anchors[key] = make_anchors(key, self.backbone.stride, self.anchor_sizes,
                                              self.aspect_ratios)
        return self._anchors[key]

    def rpn_outputs(self, conv: torch.Tensor):
        """conv Float[N, C, h, w] -> objectness Float[N, h*w*A], deltas Float[N, h*w*A, 4] and
        the anchors Float[h*w*A, 4] they belong to."""
        objectness, deltas = flatten_predictions(*self.rpn(conv))
        return objectness, deltas, self.anchors(conv.shape[-2:]).to(conv.device)

    def propose(self, conv: torch.Tensor, image_size, pre_nms_top_n: int = 1000,
                post_nms_top_n: int = 1000, nms_threshold: float = 0.7):
        """The RPN's proposals for each image of ``conv``: a list of (boxes Float[P, 4],
        scores Float[P]), best first (torchvision's test-time 1000 / 1000 by default)."""
        objectness, deltas, anchors = self.rpn_outputs(conv)
        return [propose_one(objectness[i], deltas[i], anchors, image_size, pre_nms_top_n,
                            post_nms_top_n, nms_threshold) for i in range(len(conv))]

    @torch.no_grad()
    def detect(self, image: torch.Tensor, proposals=None, nms_threshold: float = 0.5,
               max_detections: int = 100, post_nms_top_n: int = 1000,
               score_threshold: float = 0.05) -> dict:
        """Detections for one image (``proposals`` is ignored: the RPN makes its own), with
        torchvision's test-time settings: 1000 proposals, score > 0.05, boxes >= 0.01 px,
        NMS 0.5."""
        self.eval()
        return self.detect_conv(self.backbone.features(image[None]), image.shape[-2:],
                                nms_threshold, max_detections, post_nms_top_n, score_threshold)

    def detect_conv(self, conv: torch.Tensor, image_size, nms_threshold: float = 0.5,
                    max_detections: int = 100, post_nms_top_n: int = 1000,
                    score_threshold: float = 0.05) -> dict:
        """:meth:`detect` from an image's conv map Float[1, C, h, w] already computed."""
        boxes, _ = self.propose(conv, image_size, max(post_nms_top_n, 1), post_nms_top_n)[0]
        return self.detect_on(conv, image_size, boxes, nms_threshold, max_detections,
                              score_threshold=score_threshold, min_size=1e-2)


def sample_proposals(proposals: torch.Tensor, gt_boxes: torch.Tensor, gt_labels: torch.Tensor,
                     count: int, positive_fraction: float, generator: torch.Generator):
    """The box head's training RoIs for one image (torchvision's ``select_training_samples``):
    the ground truths added to the proposals, IoU >= 0.5 foreground, < 0.5 background, up to
    ``positive_fraction`` of ``count`` foreground. Returns boxes Float[R, 4], labels Int64[R]
    and regression targets Float[R, 4] (zero for background)."""
    boxes = torch.cat([proposals, gt_boxes])
    matches = match_proposals(box_iou(gt_boxes, boxes), 0.5, 0.5)
    labels = matched_labels(matches, gt_labels)
    positive, negative = sample_balanced(labels, count, positive_fraction, generator)
    targets = torch.zeros(len(positive) + len(negative), 4)
    if len(positive):
        targets[:len(positive)] = encode_boxes(gt_boxes[matches[positive]], boxes[positive],
                                               BOX_WEIGHTS)
    chosen = torch.cat([positive, negative])
    return boxes[chosen], labels[chosen], targets


# ---------------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------------
def _batch(data, config, g):
    images, targets = [], []
    for i in torch.randint(len(data), (config["images_per_batch"],), generator=g).tolist():
        image, target = data[i]
        boxes = target["boxes"]
        if bool(torch.rand(1, generator=g) < 0.5):
            image, boxes = mirror(image, boxes)
        images.append(image)
        targets.append({"boxes": boxes, "labels": target["labels"]})
    return torch.stack(images), targets


def _rpn_step(model, conv, image_size, targets, config, g, with_proposals: bool = True):
    """The RPN's two losses on a batch, and (``with_proposals``) its detached proposals for the
    box head."""
    objectness, deltas, anchors = model.rpn_outputs(conv)
    border = image_size if config["ignore_cross_boundary"] else None
    labelled = [label_anchors(anchors, t["boxes"], image_size=border) for t in targets]
    losses = rpn_loss(objectness, deltas, anchors, torch.stack([lab for lab, _ in labelled]),
                      torch.stack([m for _, m in labelled]), config["rpn_batch_size"],
                      config["rpn_positive_fraction"], g)
    if not with_proposals:
        return losses, None
    boxes = decode_proposals(deltas, anchors)
    proposals = [filter_proposals(boxes[i], objectness[i], image_size, config["rpn_pre_nms_top_n"],
                                  config["rpn_post_nms_top_n"])[0] for i in range(len(conv))]
    return losses, proposals


def _box_head_losses(model, conv, proposals, targets, config, g, positives=None):
    """The box head's two losses on sampled RoIs. ``positives``, a list, receives per image
    (its slot, its positive RoIs Float[P, 4], the index of each one's best ground truth) — the
    RoIs Mask R-CNN's mask loss is taken on."""
    rois, labels, regression = [], [], []
    for slot, (props, target) in enumerate(zip(proposals, targets)):
        boxes, y, t = sample_proposals(props, target["boxes"], target["labels"],
                                       config["rois_per_image"], config["positive_fraction"], g)
        rois.append(torch.cat([torch.full((len(boxes), 1), float(slot)), boxes], 1))
        labels.append(y)
        regression.append(t)
        if positives is not None:
            positive = boxes[y > 0]
            matched = (box_iou(target["boxes"], positive).argmax(dim=0) if len(positive)
                       else torch.zeros(0, dtype=torch.int64))
            positives.append((slot, positive, matched))
    logits, deltas = model.roi_heads(conv, torch.cat(rois))
    _, classification, box = multitask_loss(logits, deltas, torch.cat(labels),
                                            torch.cat(regression), beta=config["box_loss_beta"])
    return classification, box / max(len(logits), 1)


def _train_steps(model, parameters, data, config, g, steps, desc, progress, losses_of):
    """Adam on ``parameters`` for ``steps`` batches; ``losses_of(images, targets)`` gives the
    losses to add up. Returns the per-step total losses."""
    parameters = list(parameters)
    trainable = {id(p) for p in parameters}
    for p in model.parameters():
        p.requires_grad_(id(p) in trainable)
    optimizer = torch.optim.Adam(parameters, lr=config["lr"])
    # the learning rate drops tenfold for the last (1 - lr_drop) of the steps (torchvision's
    # reference recipes use such a step schedule)
    schedule = torch.optim.lr_scheduler.MultiStepLR(optimizer, [int(steps * config["lr_drop"])],
                                                    gamma=0.1)
    model.train()
    history = []
    bar = tqdm(range(steps), desc=desc, disable=not progress)
    for _ in bar:
        images, targets = _batch(data, config, g)
        loss = sum(losses_of(images, targets))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        history.append(loss.item())
        bar.set_postfix(loss=f"{loss.item():.3f}")
    for p in model.parameters():
        p.requires_grad_(True)
    model.eval()
    return history


def _digest(module) -> str:
    h = hashlib.sha256()
    for tensor in module.state_dict().values():
        h.update(tensor.detach().cpu().numpy().tobytes())
    return h.hexdigest()


def _fresh_model() -> FasterRCNN:
    model = FasterRCNN()
    load_pretrained(model.backbone)
    return model


def build_faster_rcnn(seed: int = 0, progress: bool = True, schedule: str = "joint",
                      **overrides) -> tuple[FasterRCNN, dict]:
    """Train Faster R-CNN from the pre-trained backbone (deterministic from ``seed``); returns
    the model and a summary (nothing written: ``python -m lecturelib train faster_rcnn``
    stores it). ``schedule``: "joint" or "alternating" (see the module's docstring)."""
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    unknown = set(overrides) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown training options {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    config = {**DEFAULTS, **overrides}
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    data = SyntheticShapes("train", num_images=config["train_images"])
    size = (data.image_size, data.image_size)
    steps = config["steps"]
    model = _fresh_model()

    def rpn_only(net):
        def losses(images, targets):
            return _rpn_step(net, net.backbone.features(images), size, targets, config, g,
                             with_proposals=False)[0]
        return losses

    def detector_on(net, proposer):
        def losses(images, targets):
            conv = net.backbone.features(images)
            with torch.no_grad():
                source = conv if proposer is net else proposer.backbone.features(images)
                proposals = [b for b, _ in proposer.propose(source, size,
                                                            config["rpn_pre_nms_top_n"],
                                                            config["rpn_post_nms_top_n"])]
            return _box_head_losses(net, conv, proposals, targets, config, g)
        return losses

    summary = {"config": config, "schedule": schedule}
    if schedule == "joint":
        def joint(images, targets):
            conv = model.backbone.features(images)
            rpn_losses, proposals = _rpn_step(model, conv, size, targets, config, g)
            return (*rpn_losses, *_box_head_losses(model, conv, proposals, targets, config, g))
        history = _train_steps(model, model.parameters(), data, config, g, steps,
                               "Faster R-CNN, joint", progress, joint)
        summary["steps"] = {"joint": _loss_summary(history)}
    else:
        quarter = max(1, steps // 4)
        rpn_net = _fresh_model()                                            # step 1
        step1 = _train_steps(rpn_net, [*rpn_net.backbone.features.parameters(),
                                       *rpn_net.rpn.parameters()], data, config, g, quarter,
                             "step 1/4: RPN", progress, rpn_only(rpn_net))
        step2 = _train_steps(model, [p for n, p in model.named_parameters()   # step 2
                                     if not n.startswith("rpn.")], data, config, g, quarter,
                             "step 2/4: Fast R-CNN", progress, detector_on(model, rpn_net))
        shared = {"after_step_1_rpn": _digest(rpn_net.backbone.features),
                  "after_step_2": _digest(model.backbone.features)}
        model.rpn.load_state_dict(rpn_net.rpn.state_dict())                 # step 3
        step3 = _train_steps(model, model.rpn.parameters(), data, config, g, quarter,
                             "step 3/4: RPN, shared frozen", progress, rpn_only(model))
        shared["after_step_3"] = _digest(model.backbone.features)
        own = [*model.backbone.fc6.parameters(), *model.backbone.fc7.parameters(),   # step 4
               *model.cls_score.parameters(), *model.bbox_pred.parameters()]
        step4 = _train_steps(model, own, data, config, g, quarter,
                             "step 4/4: detector, shared frozen", progress,
                             detector_on(model, model))
        shared["after_step_4"] = _digest(model.backbone.features)
        summary["steps"] = {name: _loss_summary(h) for name, h in
                            zip(("rpn", "fast_rcnn", "rpn_shared_frozen",
                                 "detector_shared_frozen"), (step1, step2, step3, step4))}
        summary["shared_layers_sha256"] = shared
    summary["seconds"] = time.perf_counter() - start
    return model, summary


def _loss_summary(history: list[float]) -> dict:
    window = max(1, len(history) // 5)      # mean loss of the first and the last fifth
    return {"steps": len(history), "first_loss": float(np.mean(history[:window])),
            "last_loss": float(np.mean(history[-window:]))}


def load_faster_rcnn(schedule: str = "joint") -> FasterRCNN:
    """The shipped Faster R-CNN trained with ``schedule`` ("joint" or "alternating")."""
    from ..checkpoints import checkpoint_name, load_weights
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}")
    return load_weights(checkpoint_name("faster_rcnn", None if schedule == "joint" else schedule),
                        FasterRCNN())


RECALL_AT = (10, 50, 100, 300, 1000, 2000)


@torch.no_grad()
def evaluate_rpn(model: FasterRCNN, split: str = "test", num_images: int | None = None,
                 progress: bool = True, timing_images: int = 16) -> dict:
    """The RPN's proposals beside selective search's (fast mode) on a split: recall at IoU 0.5
    with the top N per image (all of a method's proposals where it has fewer than N), and the
    seconds per image on one CPU thread — the RPN alone (head, decoding, filtering at the
    test-time 1000 / 1000 proposals; the shared backbone excluded, as in the paper's timing
    table), with the backbone, and selective search (on the first ``timing_images`` images).
    The recall uses up to 2000 proposals per image (pre- and post-NMS top 2000)."""
    from ..metrics import proposal_recall
    from ..selective_search import selective_search
    from .proposals import proposals_for
    data = SyntheticShapes(split, num_images=num_images)
    searched, _ = proposals_for(data, progress=progress)
    size = (data.image_size, data.image_size)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    model.eval()
    try:
        first = data[0][0][None]
        model.propose(model.backbone.features(first), size)       # warm-up: numba, allocator
        selective_search(data.scene(0)[0], mode="fast", min_box_size=4)
        proposals, gt, backbone_seconds, rpn_seconds = [], [], 0.0, 0.0
        for i in tqdm(range(len(data)), desc=f"RPN on {split}", disable=not progress):
            image, target = data[i]
            start = time.perf_counter()
            conv = model.backbone.features(image[None])
            middle = time.perf_counter()
            model.propose(conv, size)                 # timed at the test-time 1000 / 1000
            rpn_seconds += time.perf_counter() - middle
            backbone_seconds += middle - start
            proposals.append(model.propose(conv, size, RECALL_AT[-1], RECALL_AT[-1])[0][0])
            gt.append(target["boxes"])
        timed = min(timing_images, len(data))
        start = time.perf_counter()
        for i in range(timed):
            selective_search(data.scene(i)[0], mode="fast", min_box_size=4)
        search_seconds = (time.perf_counter() - start) / max(timed, 1)
    finally:
        torch.set_num_threads(threads)
    report = {"split": split, "images": len(data)}
    ours = proposal_recall(proposals, gt, 0.5, RECALL_AT)
    theirs = proposal_recall([torch.from_numpy(b) for b in searched], gt, 0.5, RECALL_AT)
    for n, r, s in zip(RECALL_AT, ours, theirs):
        report[f"rpn_recall_{n}"], report[f"selective_search_recall_{n}"] = float(r), float(s)
    report["rpn_proposals_per_image"] = float(np.mean([len(p) for p in proposals]))
    report["selective_search_proposals_per_image"] = float(np.mean([len(b) for b in searched]))
    report["rpn_seconds_per_image"] = rpn_seconds / len(data)
    report["rpn_seconds_per_image_with_backbone"] = (rpn_seconds + backbone_seconds) / len(data)
    report["selective_search_seconds_per_image"] = search_seconds
    return report
