"""Where the op tests run the Triton path, and at what size: the one switch of ``make gpu-check``.

Without CUDA the Triton kernels run under Triton's interpreter on CPU tensors, one program after
another, so the tests keep their shapes small. With CUDA the Triton path needs CUDA tensors:
``on_device("triton", ...)`` moves them there (the reference and CPU paths stay on the CPU), and
torch's own references (``F.conv2d`` / cuDNN, matmul) are computed in IEEE float32, TF32 off, so
the tests' float32 tolerances mean the same on both machines.

``LECTURELIB_GPU_CHECK=full`` (set by ``tools/gpu_check.py`` on a CUDA machine) switches the
Triton tests to full sizes — many blocks in every grid dimension, detector-sized maps and RoI
counts: ``size(backend, small, full)`` is ``full`` there for the Triton path, ``small`` elsewhere.
"""
from __future__ import annotations

import os

import torch

FULL = os.environ.get("LECTURELIB_GPU_CHECK", "") == "full"
TRITON_DEVICE = "cuda" if torch.cuda.is_available() else "cpu"

if os.environ.get("LECTURELIB_GPU_CHECK", "") not in ("", "full"):
    raise ValueError("LECTURELIB_GPU_CHECK must be 'full' or unset, got "
                     f"{os.environ['LECTURELIB_GPU_CHECK']!r}")
if FULL and TRITON_DEVICE != "cuda":
    raise ValueError("LECTURELIB_GPU_CHECK=full needs a CUDA device: the full sizes would take "
                     "hours under Triton's interpreter (tools/gpu_check.py --dry-run is the "
                     "CPU rehearsal)")
if TRITON_DEVICE == "cuda":
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False


def device(backend: str) -> str:
    """The device the tensors of a test of ``backend``'s path live on."""
    return TRITON_DEVICE if backend == "triton" else "cpu"


def size(backend: str, small, full):
    """``full`` for the Triton path under ``LECTURELIB_GPU_CHECK=full``, else ``small`` (any
    value: a count, a shape, a tuple of both)."""
    return full if FULL and backend == "triton" else small


def on_device(backend: str, *tensors):
    """``tensors`` (each a Tensor or a list of Tensors, e.g. RoIs per image) on
    ``device(backend)``; one argument gives one value back, several a tuple."""
    target = device(backend)
    moved = tuple([t.to(target) for t in x] if isinstance(x, (list, tuple)) else x.to(target)
                  for x in tensors)
    return moved[0] if len(moved) == 1 else moved
