"""Box geometry ops with torchvision's signatures: ``lecturelib.ops.box_iou`` behaves like
``torchvision.ops.box_iou``, and so on. Each op takes ``backend=`` ("auto", "reference",
"cpu", "triton"); see :mod:`lecturelib._backend`."""
from .box_coder import decode_boxes, encode_boxes
from .conv import conv2d, conv_transpose2d
from .boxes import box_area, box_convert, box_iou, clip_boxes_to_image, remove_small_boxes
from .nms import batched_nms, nms
from .roi_pool import roi_pool

__all__ = [
    "box_area", "box_convert", "box_iou", "clip_boxes_to_image", "remove_small_boxes",
    "nms", "batched_nms", "encode_boxes", "decode_boxes", "roi_pool",
    "conv2d", "conv_transpose2d",
]
