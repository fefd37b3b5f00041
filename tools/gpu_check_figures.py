"""The figures of ``make gpu-check`` measured in-process: repeat-run determinism of the Triton
path, speed against the peers, and achieved bandwidth against a copy measured in the same run.

Every function takes a :class:`Sizes` (``FULL`` on a GPU, ``DRY`` for the CPU rehearsal, where
the Triton path runs under the interpreter) and returns plain dicts for the JSON report.

- :func:`determinism` — each Triton op run ``runs`` times on the same input. Forward passes and
  NMS promise the same bits every time; the backward passes of ``roi_pool`` / ``roi_align`` add
  with atomics (their order changes between runs on a GPU), so for those the largest spread
  between runs is reported, relative to the gradient's largest value.
- :func:`benchmarks` — ``lecturelib.ops`` (default dispatch: Triton on CUDA tensors, the CPU
  path on CPU tensors) against torchvision on the same device (``F.conv2d`` — cuDNN on a GPU —
  for convolution), median time of ``repeats`` calls after a warm-up, synchronised after each
  call (``benchmarks/timing.py``, the rule of ``make bench``); the cases of
  ``benchmarks/bench_*.py`` at ``FULL`` size.
- :func:`bandwidth` — for the memory-bound forwards (``box_iou``, ``roi_pool``, ``roi_align``):
  the Triton launcher alone (geometry computed beforehand, no argument checks) and
  torchvision's op, timed over back-to-back calls; bytes that must move (inputs read once,
  output written once) over that time, as a share of a device-to-device copy's rate (bytes read
  + written) measured here.
"""
from __future__ import annotations

import math
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "benchmarks"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from lecturelib import ops  # noqa: E402
from timing import median_time  # noqa: E402  benchmarks/timing.py


@dataclass(frozen=True)
class Sizes:
    """How big and how often: ``boxes`` (box_iou N = M), ``nms_boxes``, the RoI case
    (``rois`` RoIs × ``channels`` on a ``side`` × ``side`` map at stride 16; ``pooled`` ×
    ``pooled`` bins where the Triton launchers run), the convolution
    layers ``(name, N, C, O, H, k, stride, padding, dilation)``, determinism ``runs``, timing
    ``repeats`` and the bytes of the copy that gives the peak rate."""
    boxes: tuple[int, ...]
    nms_boxes: tuple[int, ...]
    rois: int
    channels: int
    side: int
    pooled: int
    conv_layers: tuple[tuple, ...]
    runs: int
    repeats: int
    copy_bytes: int


FULL = Sizes(  # the cases of benchmarks/bench_{boxes,roi_align,roi_pool,conv}.py
    boxes=(1000, 5000), nms_boxes=(1000, 10000), rois=512, channels=256, side=50, pooled=7,
    conv_layers=(("N=32 64ch 56x56 3x3", 32, 64, 64, 56, 3, 1, 1, 1),
                 ("N=32 128ch 28x28 3x3 stride 2", 32, 128, 128, 28, 3, 2, 1, 1),
                 ("N=32 256ch 14x14 3x3 dilation 2", 32, 256, 256, 14, 3, 1, 2, 2)),
    runs=10, repeats=15, copy_bytes=2 ** 30)
DRY = Sizes(
    boxes=(48,), nms_boxes=(48,), rois=4, channels=4, side=10, pooled=2,
    conv_layers=(("N=1 4ch 8x8 3x3", 1, 4, 4, 8, 3, 1, 1, 1),),
    runs=2, repeats=3, copy_bytes=2 ** 22)


def _sync(device: str):
    return torch.cuda.synchronize if device == "cuda" else (lambda: None)


def random_boxes(n: int, seed: int, device: str, image: float = 1000.0) -> torch.Tensor:
    """Float[n, 4] detector-like boxes: corners uniform in the image, sides 10..200 px."""
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * image
    wh = torch.rand(n, 2, generator=g) * 190 + 10
    return torch.cat([xy, xy + wh], dim=1).to(device)


def roi_case(sizes: Sizes, device: str, seed: int = 0):
    """(x Float[1, C, side, side] requiring grad, rois Float[K, 5]) in image pixels at stride
    16, as in benchmarks/bench_roi_align.py."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1, sizes.channels, sizes.side, sizes.side, generator=g).to(device)
    image = sizes.side * 16
    xy = torch.rand(sizes.rois, 2, generator=g) * image * 0.875
    wh = torch.rand(sizes.rois, 2, generator=g) * image * 0.375 + 16
    rois = torch.cat([torch.zeros(sizes.rois, 1), xy, (xy + wh).clamp(max=image - 1)], dim=1)
    return x.requires_grad_(), rois.to(device)


def _spread(results: list[torch.Tensor]) -> tuple[bool, float, float]:
    """(all bit-identical, largest |run - first run|, largest |first run|)."""
    first = results[0]
    same = all(torch.equal(r, first) for r in results[1:])
    if first.is_floating_point():
        spread = max(((r - first).abs().max().item() if r.numel() else 0.0) for r in results)
        scale = first.abs().max().item() if first.numel() else 0.0
    else:
        spread, scale = (0.0 if same else math.nan), 0.0
    return same, spread, scale


def determinism(sizes: Sizes, device: str) -> dict:
    """Each Triton op ``sizes.runs`` times on one input: bitwise equality where promised, the
    spread of the atomic backward passes. Returns ``{name: {...}}`` with ``ok`` per entry."""
    torch.manual_seed(0)
    a, b = random_boxes(sizes.boxes[-1], 1, device), random_boxes(sizes.boxes[-1], 2, device)
    n = sizes.nms_boxes[-1]
    boxes = random_boxes(n, 3, device)
    scores = torch.rand(n, generator=torch.Generator().manual_seed(4)).to(device)
    classes = torch.randint(0, 10, (n,), generator=torch.Generator().manual_seed(5)).to(device)
    x, rois = roi_case(sizes, device)
    name, N, C, O, H, k, s, p, d = sizes.conv_layers[0]
    image = torch.randn(N, C, H, H, generator=torch.Generator().manual_seed(6)).to(device)
    weight = torch.randn(O, C, k, k, generator=torch.Generator().manual_seed(7)).to(device)
    bins = sizes.pooled
    grad_pool = torch.randn(sizes.rois, sizes.channels, bins, bins,
                            generator=torch.Generator().manual_seed(8)).to(device)

    def backward(op):
        return lambda: torch.autograd.grad(op(x, rois, bins, 1 / 16, backend="triton"), x,
                                           grad_pool)[0]

    cases = {  # name: (call, promise)
        "box_iou": (lambda: ops.box_iou(a, b, backend="triton"), "bitwise"),
        "nms": (lambda: ops.nms(boxes, scores, 0.5, backend="triton"), "bitwise"),
        "batched_nms": (lambda: ops.batched_nms(boxes, scores, classes, 0.5, backend="triton"),
                        "bitwise"),
        "roi_pool forward": (lambda: ops.roi_pool(x.detach(), rois, bins, 1 / 16,
                                                  backend="triton"), "bitwise"),
        "roi_pool backward": (backward(ops.roi_pool), "atomic adds: spread reported"),
        "roi_align forward": (lambda: ops.roi_align(x.detach(), rois, bins, 1 / 16, 2,
                                                    backend="triton"), "bitwise"),
        "roi_align backward": (backward(lambda *t, **kw: ops.roi_align(*t, sampling_ratio=2,
                                                                       **kw)),
                               "atomic adds: spread reported"),
        "conv2d forward": (lambda: ops.conv2d(image, weight, None, s, p, d, backend="triton"),
                           "bitwise"),
        "conv_transpose2d forward": (lambda: ops.conv_transpose2d(
            image, weight.transpose(0, 1).contiguous(), None, s, p, 0, 1, d, backend="triton"),
            "bitwise"),
    }
    report = {}
    for case, (call, promise) in cases.items():
        t0 = time.perf_counter()
        with torch.no_grad() if "backward" not in case else torch.enable_grad():
            results = [call() for _ in range(sizes.runs)]
        _sync(device)()
        same, spread, scale = _spread(results)
        relative = spread / scale if scale > 0 else (0.0 if same else math.nan)
        atomic = promise != "bitwise"
        report[case] = {
            "promise": promise, "runs": sizes.runs, "bitwise_equal": same,
            "max_abs_spread": spread, "max_abs_value": scale, "relative_spread": relative,
            # float32 additions in another order move a sum by a few ulp of its terms
            "ok": same or (atomic and relative <= 1e-5),
            "shape": list(results[0].shape), "seconds": round(time.perf_counter() - t0, 3)}
    return report


def _case(op, case, what, ours, peer, repeats, sync) -> dict:
    t_ours = median_time(ours, repeats, sync)
    t_peer = median_time(peer, repeats, sync)
    return {"op": op, "case": case, "pass": what, "ours_ms": t_ours * 1e3,
            "peer_ms": t_peer * 1e3, "ratio": t_ours / t_peer}


def benchmarks(sizes: Sizes, device: str) -> list[dict]:
    """Ours (default dispatch) vs the peer on ``device``: one dict per case and pass, with the
    median times in ms and ``ratio`` = ours / peer (< 1: ours is faster)."""
    sync, reps = _sync(device), sizes.repeats
    rows = []
    with torch.no_grad():
        for n in sizes.boxes:
            a, b = random_boxes(n, 1, device), random_boxes(n, 2, device)
            rows.append(_case("box_iou", f"{n}x{n}", "forward", lambda: ops.box_iou(a, b),
                              lambda: torchvision.ops.box_iou(a, b), reps, sync))
        for n in sizes.nms_boxes:
            boxes = random_boxes(n, 3, device)
            scores = torch.rand(n, generator=torch.Generator().manual_seed(4)).to(device)
            idxs = torch.randint(0, 10, (n,), generator=torch.Generator().manual_seed(5))
            idxs = idxs.to(device)
            rows.append(_case("nms", f"{n} boxes", "forward",
                              lambda: ops.nms(boxes, scores, 0.5),
                              lambda: torchvision.ops.nms(boxes, scores, 0.5), reps, sync))
            rows.append(_case("batched_nms", f"{n} boxes, 10 classes", "forward",
                              lambda: ops.batched_nms(boxes, scores, idxs, 0.5),
                              lambda: torchvision.ops.batched_nms(boxes, scores, idxs, 0.5),
                              reps, sync))
    x, rois = roi_case(sizes, device)
    roi_name = f"{sizes.rois} RoIs x {sizes.channels} ch, {sizes.side}x{sizes.side} map"
    for op, ours_fn, peer_fn, settings in (
            ("roi_pool", ops.roi_pool, torchvision.ops.roi_pool, [("7x7", (7,))]),
            ("roi_align", ops.roi_align, torchvision.ops.roi_align,
             [("box head 7x7, s=2", (7, 1 / 16, 2, False)),
              ("mask head 14x14, s=2", (14, 1 / 16, 2, False)),
              ("adaptive 7x7, aligned", (7, 1 / 16, -1, True))])):
        for label, args in settings:
            args = args if op == "roi_align" else (*args, 1 / 16)
            with torch.no_grad():
                rows.append(_case(op, f"{roi_name}, {label}", "forward",
                                  lambda: ours_fn(x, rois, *args),
                                  lambda: peer_fn(x, rois, *args), reps, sync))
            grad = torch.randn_like(peer_fn(x, rois, *args))
            rows.append(_case(
                op, f"{roi_name}, {label}", "forward+backward",
                lambda: torch.autograd.grad(ours_fn(x, rois, *args), x, grad),
                lambda: torch.autograd.grad(peer_fn(x, rois, *args), x, grad), reps, sync))
    for dtype in (torch.float32, torch.float16) if device == "cuda" else (torch.float32,):
        for name, N, C, O, H, k, s, p, d in sizes.conv_layers:
            g = torch.Generator().manual_seed(9)
            image = torch.randn(N, C, H, H, generator=g).to(device, dtype)
            weight = torch.randn(O, C, k, k, generator=g).to(device, dtype)
            case = f"{name} {str(dtype)[6:]}"
            with torch.no_grad():
                rows.append(_case("conv2d", case, "forward",
                                  lambda: ops.conv2d(image, weight, None, s, p, d),
                                  lambda: F.conv2d(image, weight, None, s, p, d), reps, sync))
                y = F.conv2d(image, weight, None, s, p, d)
                rows.append(_case("conv_transpose2d", case, "forward",
                                  lambda: ops.conv_transpose2d(y, weight, None, s, p, 0, 1, d),
                                  lambda: F.conv_transpose2d(y, weight, None, s, p, 0, 1, d),
                                  reps, sync))
    return rows


def _events_time(fn, repeats: int, inner: int, device: str) -> float:
    """Median seconds per call of ``inner`` back-to-back calls (CUDA events on a GPU, the wall
    clock on the CPU), after a warm-up."""
    fn()
    _sync(device)()
    times = []
    for _ in range(repeats):
        if device == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(inner):
                fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1e3 / inner)
        else:
            t0 = time.perf_counter()
            for _ in range(inner):
                fn()
            times.append((time.perf_counter() - t0) / inner)
    return statistics.median(times)


def copy_bandwidth(sizes: Sizes, device: str) -> float:
    """Bytes per second of ``dst.copy_(src)`` on ``device`` (read + written counted)."""
    src = torch.empty(sizes.copy_bytes // 4, dtype=torch.float32, device=device).uniform_()
    dst = torch.empty_like(src)
    seconds = _events_time(lambda: dst.copy_(src), max(3, sizes.repeats), 5, device)
    return 2 * sizes.copy_bytes / seconds


def bandwidth(sizes: Sizes, device: str) -> dict:
    """Achieved bandwidth of the memory-bound forwards, ours (the Triton launcher) and
    torchvision's, in GB/s and as a share of the copy rate measured first."""
    from lecturelib.ops._roi_common import roi_align_geometry, roi_pool_geometry
    from lecturelib.ops._triton.box_iou import box_iou_triton
    from lecturelib.ops._triton.roi_align import roi_align_forward_triton
    from lecturelib.ops._triton.roi_pool import roi_pool_forward_triton

    peak = copy_bandwidth(sizes, device)
    reps, inner = sizes.repeats, 10 if device == "cuda" else 1
    x, rois = roi_case(sizes, device)
    x = x.detach()
    a, b = random_boxes(sizes.boxes[-1], 1, device), random_boxes(sizes.boxes[-1], 2, device)
    bins = (sizes.pooled, sizes.pooled)
    pool_geometry = roi_pool_geometry(rois, 1 / 16, bins)
    align_geometry = roi_align_geometry(rois, 1 / 16, bins, 2, False)
    out_bytes = sizes.rois * sizes.channels * bins[0] * bins[1] * x.element_size()
    roi_bytes = x.numel() * x.element_size() + rois.numel() * rois.element_size() + out_bytes
    cases = {  # name: (ours, torchvision, bytes that must move)
        f"box_iou {len(a)}x{len(b)}": (
            lambda: box_iou_triton(a, b), lambda: torchvision.ops.box_iou(a, b),
            (a.numel() + b.numel()) * 4 + len(a) * len(b) * 4),
        f"roi_pool forward {bins[0]}x{bins[1]}": (
            lambda: roi_pool_forward_triton(x, pool_geometry, bins),
            lambda: torch.ops.torchvision.roi_pool(x, rois, 1 / 16, *bins), roi_bytes),
        f"roi_align forward {bins[0]}x{bins[1]}, s=2": (
            lambda: roi_align_forward_triton(x, align_geometry, bins),
            lambda: torch.ops.torchvision.roi_align(x, rois, 1 / 16, *bins, 2, False), roi_bytes),
    }
    rows = {}
    with torch.no_grad():
        for name, (ours, peer, moved) in cases.items():
            t_ours = _events_time(ours, reps, inner, device)
            t_peer = _events_time(peer, reps, inner, device)
            rows[name] = {"bytes": moved, "ours_us": t_ours * 1e6, "peer_us": t_peer * 1e6,
                          "ours_gbps": moved / t_ours / 1e9, "peer_gbps": moved / t_peer / 1e9,
                          "ours_share": moved / t_ours / peak, "peer_share": moved / t_peer / peak}
    return {"copy_gbps": peak / 1e9, "copy_bytes": sizes.copy_bytes, "cases": rows}
