"""One interactive explorer per lesson. Each is a drawing function (plain values in, a dict
out; unit-tested without Jupyter) wrapped in ipywidgets controls by :class:`Explorer`."""
from ._explorer import Explorer
from .conv_explorer import conv_explorer, draw_conv, draw_receptive_field, receptive_field_explorer
from .detection_explorers import (detection_explorer, draw_detections, draw_proposal_labels,
                                  proposal_label_explorer)
from .iou_explorer import draw_iou, iou_explorer
from .nms_explorer import draw_nms, nms_explorer
from .roi_pool_explorer import draw_roi_pool, roi_pool_explorer
from .selective_search_explorer import (draw_felzenszwalb, draw_grouping, draw_proposals,
                                        felzenszwalb_explorer, grouping_explorer,
                                        proposals_explorer)

__all__ = ["Explorer", "draw_iou", "iou_explorer", "draw_nms", "nms_explorer",
           "draw_conv", "conv_explorer", "draw_receptive_field", "receptive_field_explorer",
           "draw_proposal_labels", "proposal_label_explorer", "draw_detections",
           "detection_explorer", "draw_roi_pool", "roi_pool_explorer",
           "draw_felzenszwalb", "felzenszwalb_explorer", "draw_grouping", "grouping_explorer",
           "draw_proposals", "proposals_explorer"]
