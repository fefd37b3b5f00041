"""Triton kernels for NMS, in two steps (the same plan as torchvision's CUDA NMS).

1. ``_overlap_mask_kernel`` (parallel): for boxes sorted by decreasing score, bit ``j % 32`` of
   word ``mask[i, j // 32]`` says "box i would suppress box j": j comes after i, same category,
   IoU > threshold. One program computes BLOCK_ROWS rows × one 32-bit word.
2. ``_walk_mask_kernel`` (one program): visit i = 0, 1, …; if no kept box has set i's bit in
   ``removed``, keep i and OR its mask row into ``removed``. This is the greedy loop of the
   reference, with a whole word of comparisons done per memory access.

The threshold is compared in float64 like torchvision's CPU kernel, so a pair exactly at the
threshold is kept on every path.
"""
from __future__ import annotations

import torch
import triton
import triton.language as tl

from . import combine_or, pairwise_iou

WORD = 32


@triton.jit
def _overlap_mask_kernel(boxes_ptr, class_ptr, thr_ptr, mask_ptr, N, n_words,
                         HAS_CLASSES: tl.constexpr, BLOCK_ROWS: tl.constexpr):
    rows = tl.program_id(0) * BLOCK_ROWS + tl.arange(0, BLOCK_ROWS)
    word = tl.program_id(1)
    bits = tl.arange(0, 32)
    cols = word * 32 + bits
    row_ok = rows < N
    col_ok = cols < N
    rx1 = tl.load(boxes_ptr + rows * 4 + 0, mask=row_ok, other=0.0)
    ry1 = tl.load(boxes_ptr + rows * 4 + 1, mask=row_ok, other=0.0)
    rx2 = tl.load(boxes_ptr + rows * 4 + 2, mask=row_ok, other=0.0)
    ry2 = tl.load(boxes_ptr + rows * 4 + 3, mask=row_ok, other=0.0)
    cx1 = tl.load(boxes_ptr + cols * 4 + 0, mask=col_ok, other=0.0)
    cy1 = tl.load(boxes_ptr + cols * 4 + 1, mask=col_ok, other=0.0)
    cx2 = tl.load(boxes_ptr + cols * 4 + 2, mask=col_ok, other=0.0)
    cy2 = tl.load(boxes_ptr + cols * 4 + 3, mask=col_ok, other=0.0)
    iou = pairwise_iou(rx1, ry1, rx2, ry2, cx1, cy1, cx2, cy2)
    thr = tl.load(thr_ptr)
    hit = (iou.to(tl.float64) > thr) & (cols[None, :] > rows[:, None]) & col_ok[None, :]
    if HAS_CLASSES:
        rc = tl.load(class_ptr + rows, mask=row_ok, other=-1)
        cc = tl.load(class_ptr + cols, mask=col_ok, other=-2)
        hit = hit & (rc[:, None] == cc[None, :])
    one = tl.full((BLOCK_ROWS, 32), 1, tl.int32)
    packed = tl.reduce(tl.where(hit, one << bits[None, :], 0), 1, combine_or)
    tl.store(mask_ptr + rows * n_words + word, packed, mask=row_ok)


@triton.jit
def _walk_mask_kernel(mask_ptr, removed_ptr, keep_ptr, N, n_words, BLOCK_WORDS: tl.constexpr):
    for i in range(0, N):
        word = i // 32
        removed_word = tl.load(removed_ptr + word)
        if ((removed_word >> (i % 32)) & 1) == 0:
            tl.store(keep_ptr + i, 1)
            for start in range(word, n_words, BLOCK_WORDS):
                offs = start + tl.arange(0, BLOCK_WORDS)
                ok = offs < n_words
                row = tl.load(mask_ptr + i * n_words + offs, mask=ok, other=0)
                old = tl.load(removed_ptr + offs, mask=ok, other=0)
                tl.store(removed_ptr + offs, old | row, mask=ok)
        tl.debug_barrier()  # the next i must see this i's update of `removed`


def nms_sorted_triton(sorted_boxes: torch.Tensor, sorted_classes: torch.Tensor | None,
                      iou_threshold: float, block_rows: int = 32,
                      block_words: int = 128) -> torch.Tensor:
    """Boxes Float[N, 4] already sorted by decreasing score (+ optional Int[N] categories)
    -> Bool[N]: which of them survive."""
    n = sorted_boxes.shape[0]
    device = sorted_boxes.device
    n_words = triton.cdiv(n, WORD)
    mask = torch.empty((n, n_words), dtype=torch.int32, device=device)
    thr = torch.tensor([iou_threshold], dtype=torch.float64, device=device)
    classes = (sorted_classes.to(torch.int64).contiguous() if sorted_classes is not None
               else torch.empty(0, dtype=torch.int64, device=device))
    grid = (triton.cdiv(n, block_rows), n_words)
    _overlap_mask_kernel[grid](sorted_boxes, classes, thr, mask, n, n_words,
                               HAS_CLASSES=sorted_classes is not None, BLOCK_ROWS=block_rows)
    removed = torch.zeros(n_words, dtype=torch.int32, device=device)
    keep = torch.zeros(n, dtype=torch.int8, device=device)
    _walk_mask_kernel[(1,)](mask, removed, keep, n, n_words, BLOCK_WORDS=block_words)
    return keep.bool()
