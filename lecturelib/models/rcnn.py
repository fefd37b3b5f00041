"""R-CNN (Girshick et al., 2014) in miniature: regions with CNN features.

Test time, for one image (:meth:`RCNN.detect`)::

    ~500 selective-search proposals            (lecturelib.selective_search, cached)
      -> warp each, with context, to 32 × 32    (warp.warp_regions)
      -> one CNN forward pass per region        -> pool5 Float[P, 1024], fc7 Float[P, 256]
      -> one linear SVM per class on fc7        -> scores Float[P, K]
      -> class-specific box regression on pool5 -> boxes Float[P, K, 4]
      -> class-wise greedy NMS (IoU 0.3)        -> detections

Training (three separate models, the bottleneck the next lessons remove) is in
:mod:`lecturelib.models.rcnn_train`. Everything learnt lives in this module's buffers, so one
checkpoint holds the fine-tuned CNN, the SVMs and the regressors.
"""
from __future__ import annotations

import torch
from torch import nn

from ..ops import decode_boxes
from .backbone import INPUT_SIZE, Backbone
from .detector import NUM_CLASSES, postprocess_detections
from .warp import warp_regions

CONTEXT = 4                      # pixels of context around a warped 32 × 32 region


class RCNN(nn.Module):
    needs_proposals = True

    def __init__(self, num_classes: int = NUM_CLASSES):
        super().__init__()
        self.num_classes = num_classes
        self.cnn = Backbone(num_classes=num_classes + 1)          # column 0: background
        pool5 = self.cnn.out_channels * self.cnn.pool5_size ** 2
        self.register_buffer("svm_weight", torch.zeros(num_classes, self.cnn.fc7_size))
        self.register_buffer("svm_bias", torch.zeros(num_classes))
        self.register_buffer("bbox_weight", torch.zeros(num_classes, 4, pool5))
        self.register_buffer("bbox_bias", torch.zeros(num_classes, 4))

    @torch.no_grad()
    def region_features(self, image: torch.Tensor, boxes: torch.Tensor, batch_size: int = 256):
        """Warp every box and run the CNN on it, one region after another (in batches).

        image Float[3, H, W], boxes Float[P, 4] -> pool5 Float[P, 1024], fc7 Float[P, 256],
        class probabilities Float[P, K + 1]."""
        pool5, fc7, probs = [], [], []
        for i in range(0, len(boxes), batch_size):
            crops = warp_regions(image, boxes[i:i + batch_size], INPUT_SIZE, CONTEXT)
            p5 = self.cnn.last_pool(self.cnn.features(crops)).flatten(1)
            f7 = self.cnn.fc7_features(p5)
            pool5.append(p5)
            fc7.append(f7)
            probs.append(self.cnn.classifier(f7).softmax(dim=1))
        if not pool5:
            return (torch.zeros(0, self.bbox_weight.shape[2]), torch.zeros(0, self.cnn.fc7_size),
                    torch.zeros(0, self.num_classes + 1))
        return torch.cat(pool5), torch.cat(fc7), torch.cat(probs)

    def svm_scores(self, fc7: torch.Tensor) -> torch.Tensor:
        """fc7 Float[P, 256] -> one SVM score per class, Float[P, K]."""
        return fc7 @ self.svm_weight.T + self.svm_bias

    def regress(self, pool5: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """Class-specific refined boxes: pool5 Float[P, 1024], boxes Float[P, 4] -> [P, K, 4]."""
        deltas = torch.einsum("pf,kdf->pkd", pool5, self.bbox_weight) + self.bbox_bias
        k = self.num_classes
        return decode_boxes(deltas.reshape(len(boxes), 4 * k), boxes).reshape(len(boxes), k, 4)

    @torch.no_grad()
    def detect(self, image: torch.Tensor, proposals: torch.Tensor, use_svm: bool = True,
               use_bbox_regression: bool = True, nms_threshold: float = 0.3,
               max_detections: int = 100) -> dict:
        """Detections for one image: ``boxes`` Float[D, 4], ``scores`` Float[D], ``labels``
        Int64[D] (1..K), best first."""
        variant = ("svm" if use_svm else "softmax") + ("+regression" if use_bbox_regression else "")
        return self.detect_variants(image, proposals, nms_threshold, max_detections,
                                    variants=(variant,))[variant]

    @torch.no_grad()
    def detect_variants(self, image: torch.Tensor, proposals: torch.Tensor,
                        nms_threshold: float = 0.3, max_detections: int = 100,
                        variants=("softmax", "softmax+regression", "svm", "svm+regression")
                        ) -> dict[str, dict]:
        """The paper's ablation from one CNN pass per region: scores from the fine-tuned
        softmax or from the SVMs, boxes as proposed or regressed. Returns {variant: detections}."""
        self.eval()
        proposals = torch.as_tensor(proposals, dtype=torch.float32).reshape(-1, 4)
        pool5, fc7, probs = self.region_features(image, proposals)
        scores = {"softmax": probs[:, 1:], "svm": self.svm_scores(fc7)}             # [P, K]
        boxes = {False: proposals[:, None, :].expand(-1, self.num_classes, 4)}
        if any(v.endswith("+regression") for v in variants):
            boxes[True] = self.regress(pool5, proposals)                              # [P, K, 4]
        return {variant: postprocess_detections(boxes[variant.endswith("+regression")],
                                                scores[variant.split("+")[0]], image.shape[-2:],
                                                nms_threshold, max_detections)
                for variant in variants}


def load_rcnn() -> RCNN:
    """The shipped R-CNN (fine-tuned CNN + SVMs + box regressors), hash verified."""
    from ..checkpoints import load_weights
    return load_weights("rcnn", RCNN())
