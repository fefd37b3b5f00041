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
