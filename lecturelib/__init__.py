"""lecturelib: the package behind the R-CNN course notebooks.

Modules are named with the lecture's words, in the order the lessons meet them:

- ``lecturelib.conv_arithmetic``   output sizes, receptive fields and parameter counts of
                                   convolution, transposed convolution and pooling (lesson 1)
- ``lecturelib.ops``               the ops, torchvision-compatible: convolution, box geometry and
                                   IoU, NMS, box coding, RoI pooling — each as a plain loop, a
                                   CPU path and a Triton kernel, behind one dispatch table
- ``lecturelib.data``              synthetic detection / segmentation scenes and bundled photos
- ``lecturelib.matching``          labelling proposals by IoU and balanced mini-batch sampling
- ``lecturelib.metrics``           COCO-style AP/AR and proposal recall / MABO
- ``lecturelib.selective_search``  Uijlings et al.'s hierarchical grouping (lesson 3)
- ``lecturelib.models``            the backbone and the detectors (R-CNN, Fast R-CNN), what they
                                   share, and the cached proposals
- ``lecturelib.checkpoints``       the shipped weights, verified by SHA-256
- ``lecturelib.cli``               ``python -m lecturelib train | evaluate MODEL``
- ``lecturelib.viz``               one drawing vocabulary (and palette) for every lesson
- ``lecturelib.widgets``           one interactive explorer per lesson
"""

__version__ = "0.1.0"
