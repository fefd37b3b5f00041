"""The one timing rule of the benchmarks: median wall time after a warm-up, synchronised."""
from __future__ import annotations

import statistics
import time


def median_time(fn, repeats: int = 15, sync=lambda: None, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in seconds, after ``warmup`` calls (numba compile, Triton
    JIT, allocator) and with ``sync()`` (e.g. ``torch.cuda.synchronize``) around each call."""
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)
