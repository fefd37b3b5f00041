"""Evaluation metrics of the course: COCO AP/AR for detectors, recall and MABO for proposals."""
from .coco import coco_evaluate
from .proposals import average_best_overlap, mean_average_best_overlap, proposal_recall

__all__ = ["coco_evaluate", "proposal_recall", "average_best_overlap",
           "mean_average_best_overlap"]
