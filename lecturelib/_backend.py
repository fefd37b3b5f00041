"""Which implementation of an op runs: the plain-loop reference, the CPU path or Triton.

Every op in ``lecturelib.ops`` takes ``backend=`` with one of

- ``"auto"`` (default): Triton when the tensors are on CUDA and Triton is installed, else the
  vectorised CPU path;
- ``"reference"``: the plain-loop version a notebook reads (slow, obviously right);
- ``"cpu"``: the vectorised / compiled CPU path;
- ``"triton"``: the Triton kernel. On CPU tensors this needs Triton's interpreter
  (``TRITON_INTERPRET=1``), which :mod:`lecturelib.ops._triton` switches on by itself when the
  machine has no CUDA device, so tests and lessons can run the kernels on a laptop (slowly).

The environment variable ``LECTURELIB_BACKEND`` changes the default for a whole session.
"""
from __future__ import annotations

import importlib.util
import os

import torch

BACKENDS = ("auto", "reference", "cpu", "triton")


def triton_available() -> bool:
    """True when the ``triton`` package can be imported (Linux x86-64 wheels)."""
    return importlib.util.find_spec("triton") is not None


def resolve_backend(backend: str | None, *tensors: torch.Tensor) -> str:
    """Turn ``backend`` (or the session default) into "reference", "cpu" or "triton".

    Raises ``ValueError`` for an unknown name and when Triton is asked for but cannot run.
    """
    if backend is None:
        backend = os.environ.get("LECTURELIB_BACKEND", "auto")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    on_cuda = any(t.is_cuda for t in tensors)
    if backend == "auto":
        return "triton" if on_cuda and triton_available() else "cpu"
    if backend == "triton":
        if not triton_available():
            raise ValueError("backend='triton' needs the triton package (Linux x86-64); "
                             "use backend='cpu'")
        if not on_cuda and os.environ.get("TRITON_INTERPRET") != "1" and torch.cuda.is_available():
            raise ValueError("backend='triton' on CPU tensors needs TRITON_INTERPRET=1 set before "
                             "lecturelib is imported; or move the tensors to CUDA")
    if backend in ("reference", "cpu") and on_cuda:
        # The CPU paths work on CUDA tensors too (torch moves nothing implicitly); the
        # reference loops are simply slow there. Nothing to refuse.
        pass
    return backend
