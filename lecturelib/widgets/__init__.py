"""One interactive explorer per lesson. Each is a drawing function (plain values in, a dict
out; unit-tested without Jupyter) wrapped in ipywidgets controls by :class:`Explorer`.

Modules, in lesson order:

- ``_explorer`` — :class:`Explorer` (controls -> drawing function -> one figure), the figure
  layout every drawing function reuses across redraws (``figure_axes``), ``render_png``;
- ``conv_explorer`` — lesson 1: one convolution at a time, the receptive field of a stack;
- ``iou_explorer``, ``nms_explorer`` — lesson 2: IoU labelling, greedy NMS step by step;
- ``selective_search_explorer`` — lesson 3: Felzenszwalb regions, the grouping, the proposals;
- ``detection_explorers`` — lesson 4: proposal labels for training, detections vs ground truth;
- ``roi_pool_explorer`` — lesson 5: RoI pooling's quantisation and bins, drawn from the op's
  own geometry (:func:`lecturelib.ops.roi_pool_bins`);
- ``anchor_explorers`` — lesson 6: the anchors, their labels for the RPN, its proposals;
- ``roi_align_explorer`` — lesson 7: one RoI pooled both ways, RoIAlign's samples and weights;
- ``mask_explorer`` — lesson 8: one detection's class channels, threshold, pasting and target.

Colours come from :mod:`lecturelib.viz` (the Okabe–Ito palette by name).
"""
from ._explorer import Explorer
from .anchor_explorers import (anchor_label_explorer, anchors_explorer, draw_anchor_labels,
                               draw_anchors, draw_rpn_proposals, rpn_proposals_explorer)
from .conv_explorer import conv_explorer, draw_conv, draw_receptive_field, receptive_field_explorer
from .detection_explorers import (detection_explorer, draw_detections, draw_proposal_labels,
                                  proposal_label_explorer)
from .iou_explorer import draw_iou, iou_explorer
from .mask_explorer import draw_mask_branch, mask_explorer
from .nms_explorer import draw_nms, nms_explorer
from .roi_align_explorer import draw_roi_align, roi_align_explorer
from .roi_pool_explorer import draw_roi_pool, roi_pool_explorer
from .selective_search_explorer import (draw_felzenszwalb, draw_grouping, draw_proposals,
                                        felzenszwalb_explorer, grouping_explorer,
                                        proposals_explorer)

__all__ = ["Explorer", "draw_iou", "iou_explorer", "draw_nms", "nms_explorer",
           "draw_conv", "conv_explorer", "draw_receptive_field", "receptive_field_explorer",
           "draw_proposal_labels", "proposal_label_explorer", "draw_detections",
           "detection_explorer", "draw_roi_pool", "roi_pool_explorer",
           "draw_felzenszwalb", "felzenszwalb_explorer", "draw_grouping", "grouping_explorer",
           "draw_proposals", "proposals_explorer", "draw_anchors", "anchors_explorer",
           "draw_anchor_labels", "anchor_label_explorer", "draw_rpn_proposals",
           "rpn_proposals_explorer", "draw_roi_align", "roi_align_explorer",
           "draw_mask_branch", "mask_explorer"]
