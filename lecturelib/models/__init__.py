"""Detectors of the course, sharing one small backbone:

- :mod:`~lecturelib.models.backbone` — the CNN and its pre-training (classification);
- :mod:`~lecturelib.models.rcnn` — R-CNN: warped proposals, K+1 fine-tuning, SVMs, box regression.

Weights come from the package's own checkpoints (:mod:`lecturelib.checkpoints`).
"""
from ..checkpoints import load_checkpoint
from .backbone import Backbone
from .warp import add_context, warp_regions


def load_backbone() -> Backbone:
    """The pre-trained backbone from the shipped checkpoint (hash verified), in eval mode."""
    model = Backbone()
    model.load_state_dict(load_checkpoint("backbone")["state_dict"])
    return model.eval()


__all__ = ["Backbone", "load_backbone", "warp_regions", "add_context"]
