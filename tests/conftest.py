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

import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

# lecturelib's widgets are imported inside the fixtures below, not here: at the top they would
# load lecturelib.ops and its Triton kernels for every run, even one of the data tests alone.

# What a slider move may cost (draw + PNG render, median CPU time), as a ratio to a peer
# measured in the same run, interleaved: a plain figure of the same size (one image, a title,
# tick labels). A slower or busier machine moves both, so the bound holds on any CI machine and
# still catches an explorer that has grown heavy. On the 2-core dev machine a plain figure
# takes ~40 ms, so the bound is ~200 ms there; the explorers measure 2-4x. (An absolute bound
# of 150 ms failed on a slower CI machine at 188 ms.)
REDRAW_MAX_RATIO = 5.0


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


def _cpu_seconds(step, n) -> float:
    """CPU time of ``step(n)``; process_time, so other programs sharing the cores do not count."""
    t0 = time.process_time()
    step(n)
    return time.process_time() - t0


def _plain_figure(figsize):
    """The peer: a redraw step on a plain figure of the same size (one image, a title, ticks)."""
    from matplotlib.figure import Figure

    from lecturelib.widgets._explorer import EXPLORER_DPI, render_png
    fig = Figure(figsize=figsize, dpi=EXPLORER_DPI)
    ax = fig.add_subplot()
    image = ax.imshow(np.zeros((8, 8)), vmin=0, vmax=1)
    ax.set_title("a plain figure")

    def redraw(n):
        image.set_data(np.full((8, 8), (n % 15) / 15))
        render_png(fig)
    return redraw


@pytest.fixture
def draw_and_render():
    """``draw_and_render(draw, settings, figsize)``: a redraw step for ``redraw_is_live`` that
    calls ``draw(**settings[n % len(settings)], fig=fig)`` on one figure, then renders the PNG
    an explorer sends to the notebook."""
    from matplotlib.figure import Figure

    from lecturelib.widgets._explorer import EXPLORER_DPI, render_png

    def make(draw, settings: list[dict], figsize):
        fig = Figure(figsize=figsize, dpi=EXPLORER_DPI)

        def redraw(n):
            draw(**settings[n % len(settings)], fig=fig)
            render_png(fig)
        return redraw
    return make


@pytest.fixture
def redraw_is_live():
    """``redraw_is_live(name, redraw, figsize)`` times ``redraw(n)`` (one slider move: draw and
    PNG render) after one warm-up call, beside a plain figure of the same size; prints both and
    asserts the bound above. Returns (ours_ms, plain_ms)."""
    def check(name, redraw, figsize):
        peer = _plain_figure(figsize)
        redraw(0)
        peer(0)
        ours_s, plain_s = [], []
        for n in range(15):             # interleaved: both see the same machine
            ours_s.append(_cpu_seconds(redraw, n))
            plain_s.append(_cpu_seconds(peer, n))
        ours = statistics.median(ours_s) * 1e3
        plain = statistics.median(plain_s) * 1e3
        print(f"\nredraw median: {name} {ours:.0f} ms, a plain figure of the same size "
              f"{plain:.0f} ms ({ours / plain:.1f}x)")
        assert ours < REDRAW_MAX_RATIO * plain, \
            f"{name}: {ours:.0f} ms per redraw, {ours / plain:.1f}x a plain figure's {plain:.0f} ms"
        return ours, plain
    return check


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for this test process (Playwright's sync API allows one at a time
    in a thread): every browser test opens its pages in it. Skips the test, with the reason,
    where no browser can be had (``lab_browser.need_browser``)."""
    from lab_browser import Browser, Screenshots, need_browser
    need_browser()
    with Browser(Screenshots.shared()) as shared:
        yield shared
