"""lecturelib: the package behind the R-CNN course notebooks.

Modules are named with the lecture's words:

- ``lecturelib.ops``       box geometry (IoU, NMS, box coding), torchvision-compatible,
                           each op as a plain loop, a vectorised CPU path and a Triton kernel
- ``lecturelib.data``      synthetic detection / segmentation scenes and bundled photos
- ``lecturelib.metrics``   COCO-style AP/AR and proposal recall / MABO
- ``lecturelib.viz``       one drawing vocabulary for every lesson
- ``lecturelib.widgets``   one interactive explorer per lesson
"""

__version__ = "0.1.0"
