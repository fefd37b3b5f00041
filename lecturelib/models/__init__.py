"""The detectors of the course, sharing one small backbone. Modules, in reading order:

- :mod:`~lecturelib.models.backbone` — the CNN (``features``, ``fc6``, ``fc7`` by name) and its
  pre-training on shape crops (the course's ImageNet);
- :mod:`~lecturelib.models.warp` — cutting a region out of an image and warping it to 32 × 32;
- :mod:`~lecturelib.models.proposals` — selective-search proposals per split, cached on disk;
- :mod:`~lecturelib.models.detector` — what every detector shares after its heads
  (``postprocess_detections``), ``evaluate_detector``, and the build / load / evaluate
  ``Recipe`` the command line maps over;
- :mod:`~lecturelib.models.rcnn` — R-CNN at test time: warped regions, SVMs, box regression;
- :mod:`~lecturelib.models.rcnn_train` — its three training stages;
- :mod:`~lecturelib.models.fast_rcnn` — Fast R-CNN: one conv pass, RoI pooling, two heads;
- :mod:`~lecturelib.models.rpn` — the Region Proposal Network of Faster R-CNN: its head, anchor
  labelling, losses and proposal filtering (torchvision's, on one feature level);
- :mod:`~lecturelib.models.faster_rcnn` — Faster R-CNN: Fast R-CNN + the RPN on one shared
  conv map, trained jointly or by the paper's four-step alternating schedule;
- :mod:`~lecturelib.models.roi_ablation` — lesson 7's table: the Fast R-CNN head with RoIPool
  or RoIAlign, at stride 4 and 16;
- :mod:`~lecturelib.models.mask_rcnn` — Mask R-CNN's mask branch: head, targets, the decoupled
  loss, pasting masks back (torchvision's ``roi_heads``).

Weights come from the package's own checkpoints (:mod:`lecturelib.checkpoints`); :data:`MODELS`
names each trainable model with its recipe (``python -m lecturelib train | evaluate NAME``).
"""
from .backbone import Backbone, evaluate_backbone, load_backbone, load_pretrained, pretrain
from .detector import NUM_CLASSES, Recipe, evaluate_detector, postprocess_detections
from .fast_rcnn import FastRCNN, build_fast_rcnn, load_fast_rcnn
from .faster_rcnn import FasterRCNN, build_faster_rcnn, evaluate_rpn, load_faster_rcnn
from .mask_rcnn import MaskRCNN, build_mask_rcnn, evaluate_mask_rcnn, load_mask_rcnn
from .proposals import proposals_for
from .rcnn import RCNN, load_rcnn
from .rcnn_train import build_rcnn
from .warp import add_context, warp_regions

MODELS: dict[str, Recipe] = {
    "backbone": Recipe(build=pretrain, load=load_backbone, evaluate=evaluate_backbone),
    "rcnn": Recipe(build=build_rcnn, load=load_rcnn),
    "fast_rcnn": Recipe(build=build_fast_rcnn, load=load_fast_rcnn),
    "faster_rcnn": Recipe(build=build_faster_rcnn, load=load_faster_rcnn,
                          schedules=("alternating",)),
    "rpn": Recipe(build=None, load=load_faster_rcnn, evaluate=evaluate_rpn,
                  schedules=("alternating",)),
    "mask_rcnn": Recipe(build=build_mask_rcnn, load=load_mask_rcnn, evaluate=evaluate_mask_rcnn),
}

__all__ = ["Backbone", "load_backbone", "load_pretrained", "pretrain", "evaluate_backbone",
           "warp_regions", "add_context", "proposals_for", "NUM_CLASSES", "Recipe",
           "postprocess_detections", "evaluate_detector", "RCNN", "load_rcnn", "build_rcnn",
           "FastRCNN", "load_fast_rcnn", "build_fast_rcnn", "FasterRCNN", "load_faster_rcnn",
           "build_faster_rcnn", "evaluate_rpn", "MaskRCNN", "build_mask_rcnn", "load_mask_rcnn",
           "evaluate_mask_rcnn", "MODELS"]
