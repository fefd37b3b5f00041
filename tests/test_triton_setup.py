"""The Triton path works however the user imports things.

torchvision imports triton, so in a notebook triton is usually imported before lecturelib can
switch on the interpreter; the kernels must still run (see lecturelib/ops/_triton/__init__.py).
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from lecturelib.ops.backends import triton_available

KERNELS = Path(__file__).parents[1] / "lecturelib" / "ops" / "_triton"
SCRIPT = """
import torch, torchvision          # imports triton before lecturelib does
from lecturelib import ops
b = torch.rand(40, 4) * 50; b[:, 2:] += b[:, :2]; s = torch.rand(40)
assert torch.equal(ops.nms(b, s, 0.5, backend="triton"), torchvision.ops.nms(b, s, 0.5))
assert torch.allclose(ops.box_iou(b, b, backend="triton"), torchvision.ops.box_iou(b, b))
x = torch.randn(1, 3, 8, 8, requires_grad=True); rois = torch.tensor([[0, 0, 0, 20, 20.]])
assert torch.equal(ops.roi_pool(x, rois, 2, 0.5, backend="triton"),
                   torchvision.ops.roi_pool(x, rois, 2, 0.5))
assert torch.equal(ops.roi_align(x, rois, 2, 0.5, 2, True, backend="triton"),
                   torchvision.ops.roi_align(x, rois, 2, 0.5, 2, True))
w = torch.randn(4, 3, 3, 3)
assert torch.allclose(ops.conv2d(x, w, padding=1, backend="triton"),
                      torch.nn.functional.conv2d(x, w, padding=1), atol=1e-4)
print("ok")
"""


@pytest.mark.skipif(not triton_available(), reason="triton is not installed on this platform")
@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the interpreter set-up (no CUDA)")
def test_triton_path_after_torchvision_import():
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    result = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0 and "ok" in result.stdout, result.stderr[-3000:]


def test_kernels_avoid_library_jit_helpers():
    """tl.sum / tl.max / ... are decorated at triton's import and may not run under the
    interpreter; kernels reduce with tl.reduce and the combine functions of _triton/__init__."""
    helpers = re.compile(r"\btl\.(sum|max|min|argmax|argmin|cumsum|cumprod|softmax|sigmoid|"
                         r"cdiv|xor_sum|reduce_or|flip|ravel|swizzle2d|zeros|zeros_like|umulhi)\(")
    offenders = [f"{p.name}:{n}" for p in KERNELS.glob("*.py")
                 for n, line in enumerate(p.read_text().splitlines(), 1)
                 if helpers.search(line.split("#")[0])]
    assert not offenders, f"use tl.reduce with a combine function instead: {offenders}"
