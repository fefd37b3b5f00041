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

import pytest  # noqa: E402


@pytest.fixture
def one_thread():
    """Thousands of tiny torch calls: thread start-up would dominate on a shared 2-core box.
    Also closes the pyplot figures a test left open. Use with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import matplotlib.pyplot as plt
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
    plt.close("all")
