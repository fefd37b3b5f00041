"""Triton kernels, one file per op, launched when tensors are on CUDA.

Importing this package on a machine without CUDA switches on Triton's interpreter
(``TRITON_INTERPRET=1``) before any kernel is decorated, so the same kernels run on CPU tensors
(slowly: programs run one after another). Keep interpreter grids small. The interpreter cannot
show races, so atomics and barriers must be checked on a GPU.
"""
import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")

import triton  # noqa: E402,F401  (must come after the variable is set)
import triton.language as tl  # noqa: E402

# Reductions: use ``tl.reduce(x, axis, combine_add)`` rather than ``tl.sum(x, axis)``.
# Library helpers such as tl.sum / tl.max are decorated when triton is first imported; torchvision
# imports triton, so in a notebook they may have been decorated *before* TRITON_INTERPRET was set
# and then refuse to run under the interpreter. Combine functions decorated here always match.


@triton.jit
def combine_add(a, b):
    return a + b


@triton.jit
def combine_or(a, b):
    return a | b


@triton.jit
def combine_max(a, b):
    return tl.maximum(a, b)


@triton.jit
def pairwise_iou(ax1, ay1, ax2, ay2, bx1, by1, bx2, by2):
    """IoU of every pair of a column of boxes (a*: [BLOCK_A]) and a row of boxes (b*: [BLOCK_B])
    -> [BLOCK_A, BLOCK_B], with torchvision's arithmetic and 0 where the union is empty."""
    area_a = (ax2 - ax1) * (ay2 - ay1)
    area_b = (bx2 - bx1) * (by2 - by1)
    w = tl.minimum(ax2[:, None], bx2[None, :]) - tl.maximum(ax1[:, None], bx1[None, :])
    h = tl.minimum(ay2[:, None], by2[None, :]) - tl.maximum(ay1[:, None], by1[None, :])
    inter = tl.maximum(w, 0.0) * tl.maximum(h, 0.0)
    union = area_a[:, None] + area_b[None, :] - inter
    nonempty = union > 0
    return tl.where(nonempty, inter / tl.where(nonempty, union, 1.0), 0.0)
