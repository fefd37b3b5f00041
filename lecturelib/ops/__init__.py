"""The ops of the course with torchvision's (and torch's) signatures and values:
``lecturelib.ops.box_iou`` behaves like ``torchvision.ops.box_iou``, and so on.

Modules, in reading order:

- :mod:`~lecturelib.ops.boxes` — ``box_area``, ``box_convert``, ``box_iou``,
  ``clip_boxes_to_image``, ``remove_small_boxes``;
- :mod:`~lecturelib.ops.nms` — ``nms``, ``batched_nms`` (greedy non-maximum suppression);
- :mod:`~lecturelib.ops.box_coder` — ``encode_boxes`` / ``decode_boxes``, the R-CNN box deltas;
- :mod:`~lecturelib.ops.anchors` — ``make_anchors`` (Faster R-CNN's anchor grid,
  torchvision's ``AnchorGenerator`` for one level);
- :mod:`~lecturelib.ops.roi_pool` — ``roi_pool`` (Fast R-CNN's RoI max pooling) and
  ``roi_pool_bins`` (where its bins lie);
- :mod:`~lecturelib.ops.roi_align` — ``roi_align`` (Mask R-CNN's bilinear RoI pooling, no
  rounding) and ``roi_align_samples`` (where it samples);
- :mod:`~lecturelib.ops.conv` — ``conv2d``, ``conv_transpose2d`` and the readable ways to compute
  them (loops, im2col, zero insertion);
- :mod:`~lecturelib.ops.reference` — the plain-loop version of every op, what a lesson reads;
- :mod:`~lecturelib.ops.backends` — the dispatch table: which ops take ``backend=`` and which
  function runs for "reference", "cpu" and "triton";
- ``ops/_triton/`` — the Triton kernels; ``_validate.py`` / ``_roi_common.py`` — argument
  checks and RoI geometry shared by the ops (private: the public functions call them).
"""
from .anchors import make_anchors
from .backends import BACKENDS, TABLE, triton_available
from .box_coder import decode_boxes, encode_boxes
from .boxes import box_area, box_convert, box_iou, clip_boxes_to_image, remove_small_boxes
from .conv import conv2d, conv_transpose2d
from .nms import batched_nms, nms
from .roi_align import roi_align, roi_align_samples
from .roi_pool import roi_pool, roi_pool_bins

__all__ = [
    "box_area", "box_convert", "box_iou", "clip_boxes_to_image", "remove_small_boxes",
    "nms", "batched_nms", "encode_boxes", "decode_boxes", "roi_pool", "roi_pool_bins", "roi_align",
    "roi_align_samples",
    "conv2d", "conv_transpose2d", "make_anchors", "BACKENDS", "TABLE", "triton_available",
]
