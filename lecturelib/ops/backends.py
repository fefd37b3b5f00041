"""Which implementation of an op runs: the plain-loop reference, the CPU path or Triton.

:data:`TABLE` is the one dispatch table: every op of :mod:`lecturelib.ops` that takes
``backend=`` is listed with the function behind each of its paths (``module:function`` inside
``lecturelib.ops``, imported only when that path runs, so Triton loads only when asked for).
The other ops (``box_area``, ``box_convert``, ``clip_boxes_to_image``, ``remove_small_boxes``)
are one line of tensor arithmetic each and have one implementation.

``backend`` is one of

- ``"auto"`` (default): Triton when the tensors are on CUDA, Triton is installed and the op has
  a kernel, else the vectorised CPU path (which runs on CUDA tensors too);
- ``"reference"``: the plain-loop version a notebook reads (slow, obviously right);
- ``"cpu"``: the vectorised / compiled CPU path;
- ``"triton"``: the Triton kernel. On CPU tensors this needs Triton's interpreter
  (``TRITON_INTERPRET=1``), which :mod:`lecturelib.ops._triton` switches on by itself when the
  machine has no CUDA device, so tests and lessons can run the kernels on a laptop (slowly).

The environment variable ``LECTURELIB_BACKEND`` changes the default for a whole session.

Gradients: every path of every op is differentiable where torchvision's op is (nms' indices
are not). The reference loops of ``box_iou`` and the box coder compute with Python numbers and
the IoU kernel writes raw memory, so autograd cannot follow them: :func:`gradient_from_cpu_path`
gives them the CPU path's gradient instead of a silently detached result.
"""
from __future__ import annotations

import functools
import importlib
import importlib.util
import os
from typing import Callable

import torch

BACKENDS = ("auto", "reference", "cpu", "triton")

# op -> path -> "module:function" (relative to lecturelib.ops). Every function of one op takes
# the same, already checked, arguments; its public entry point in lecturelib.ops checks them.
TABLE: dict[str, dict[str, str]] = {
    "box_iou": {"reference": "reference:box_iou_reference",
                "cpu": "boxes:box_iou_cpu",
                "triton": "_triton.box_iou:box_iou_triton"},
    "nms": {"reference": "reference:nms_reference",
            "cpu": "nms:nms_cpu",
            "triton": "nms:nms_triton"},
    "encode_boxes": {"reference": "reference:encode_boxes_reference",
                     "cpu": "box_coder:encode_boxes_cpu"},
    "decode_boxes": {"reference": "reference:decode_boxes_reference",
                     "cpu": "box_coder:decode_boxes_cpu"},
    "roi_pool": {"reference": "reference:roi_pool_reference",
                 "cpu": "roi_pool:roi_pool_cpu",
                 "triton": "roi_pool:roi_pool_triton"},
    "roi_align": {"reference": "reference:roi_align_reference",
                  "cpu": "roi_align:roi_align_cpu",
                  "triton": "roi_align:roi_align_triton"},
    "conv2d": {"reference": "conv:conv2d_reference",
               "cpu": "conv:conv2d_im2col",
               "triton": "conv:conv2d_triton"},
    "conv_transpose2d": {"reference": "conv:conv_transpose2d_scatter",
                         "cpu": "conv:conv_transpose2d_zero_insertion",
                         "triton": "conv:conv_transpose2d_triton"},
}
# batched_nms is nms with a class per box: it shares nms's paths.
TABLE["batched_nms"] = TABLE["nms"]


def triton_available() -> bool:
    """True when the ``triton`` package can be imported (Linux x86-64 wheels)."""
    return importlib.util.find_spec("triton") is not None


def resolve_backend(op: str, backend: str | None, *tensors: torch.Tensor) -> str:
    """Turn ``backend`` (or the session default) into the path of ``op`` that runs on ``tensors``:
    "reference", "cpu" or "triton".

    Only ``op``'s paths in :data:`TABLE` count: "auto" falls back to "cpu" where the op has no
    kernel, and asking for a path it lacks is an error. Raises ``ValueError`` for an unknown
    name and when Triton is asked for but cannot run.
    """
    if backend is None:
        backend = os.environ.get("LECTURELIB_BACKEND", "auto")
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    paths = TABLE[op]
    on_cuda = any(t.is_cuda for t in tensors)
    if backend == "auto":
        return "triton" if on_cuda and "triton" in paths and triton_available() else "cpu"
    if backend not in paths:
        raise ValueError(f"{op} has no {backend!r} path; its backends are "
                         f"{('auto', *paths)}")
    if backend == "triton":
        if not triton_available():
            raise ValueError("backend='triton' needs the triton package (Linux x86-64); "
                             "use backend='cpu'")
        if not on_cuda and os.environ.get("TRITON_INTERPRET") != "1" and torch.cuda.is_available():
            raise ValueError("backend='triton' on CPU tensors needs TRITON_INTERPRET=1 set before "
                             "lecturelib is imported; or move the tensors to CUDA")
    return backend


def implementation(op: str, backend: str | None, *tensors: torch.Tensor) -> Callable:
    """The function that runs ``op`` on ``tensors`` for ``backend`` (see :data:`TABLE`)."""
    return _function(TABLE[op][resolve_backend(op, backend, *tensors)])


@functools.lru_cache(maxsize=None)
def _function(where: str) -> Callable:
    module, name = where.split(":")
    return getattr(importlib.import_module(f"{__package__}.{module}"), name)


def gradient_from_cpu_path(op: str) -> Callable:
    """Decorator for a path of ``op`` whose arithmetic autograd cannot follow (the reference's
    loops over Python numbers, a Triton kernel): its values stay its own, and the gradient is
    the CPU path's (autograd through :data:`TABLE`'s "cpu" function of ``op``, recomputed in
    the backward pass on the same inputs). Without it the result would come back silently
    detached; with it, every path of ``op`` is differentiable where the CPU path (and
    torchvision) is. Only tensors passed positionally are differentiated; once differentiable
    (a second derivative raises autograd's error)."""
    def decorate(path: Callable) -> Callable:
        @functools.wraps(path)
        def run(*args):
            if torch.is_grad_enabled() and any(isinstance(a, torch.Tensor) and a.requires_grad
                                               for a in args):
                return _GradientFromCpu.apply(path, _function(TABLE[op]["cpu"]), *args)
            return path(*args)
        return run
    return decorate


class _GradientFromCpu(torch.autograd.Function):
    """Forward: ``path(*args)``. Backward: the vector-Jacobian product of ``cpu(*args)``."""

    @staticmethod
    def forward(ctx, path, cpu, *args):
        ctx.cpu = cpu
        ctx.where = [i for i, a in enumerate(args) if isinstance(a, torch.Tensor)]
        ctx.others = [None if i in ctx.where else a for i, a in enumerate(args)]
        ctx.save_for_backward(*(args[i] for i in ctx.where))
        return path(*args)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out):
        args = list(ctx.others)
        wanted = []
        for i, t in zip(ctx.where, ctx.saved_tensors):
            args[i] = t.detach().requires_grad_(ctx.needs_input_grad[2 + i])
            if ctx.needs_input_grad[2 + i]:
                wanted.append(i)
        with torch.enable_grad():
            out = ctx.cpu(*args)
        grads = torch.autograd.grad(out, [args[i] for i in wanted], grad_out, allow_unused=True)
        result: list = [None] * (2 + len(args))
        for i, g in zip(wanted, grads):
            result[2 + i] = g if g is not None else torch.zeros_like(args[i])
        return tuple(result)
