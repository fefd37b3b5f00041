"""Shared test set-up.

Without a GPU the Triton kernels run under Triton's interpreter on CPU tensors; the variable
must be set before any kernel is decorated, hence here, before lecturelib is imported.
"""
import os

import torch

if not torch.cuda.is_available():
    os.environ.setdefault("TRITON_INTERPRET", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib  # noqa: E402

matplotlib.use("Agg")
