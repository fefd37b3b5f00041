"""RoIAlign: lecturelib's CPU path vs torchvision's C++ roi_align, measured in the same run.

The cases of a detector on an 800×800 image at stride 16 (a 50×50 map, 256 channels, 512 RoIs):
the box head (7×7, sampling 2 — torchvision's MultiScaleRoIAlign), the mask head (14×14,
sampling 2), and the adaptive sampling (7×7, sampling_ratio -1: ceil(bin) samples per side, many
more for large RoIs), aligned False (torchvision's models) and True. One thread, median of
repeats; ratio ours / torchvision (< 1.0: ours is faster) for the forward and for forward +
backward (the input's gradient, which is all torchvision computes). With CUDA, the Triton
kernels vs torchvision's CUDA kernels, and the forward's effective bandwidth (input read once
+ output written, over the time) as a share of the GPU's.

    python benchmarks/bench_roi_align.py [--repeats 7] [--peak-tbps 4.8]
"""
from __future__ import annotations

import argparse

import torch
import torchvision

import lecturelib.ops as ops
from timing import median_time  # benchmarks/timing.py

CASES = [  # name, output size, sampling_ratio, aligned
    ("box head 7x7, s=2", 7, 2, False),
    ("mask head 14x14, s=2", 14, 2, False),
    ("adaptive 7x7, aligned", 7, -1, True),
]


def make_case(device: str, seed: int = 0, channels: int = 256):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1, channels, 50, 50, generator=g).to(device).requires_grad_()
    xy = torch.rand(512, 2, generator=g) * 700
    wh = torch.rand(512, 2, generator=g) * 300 + 16
    rois = torch.cat([torch.zeros(512, 1), xy, (xy + wh).clamp(max=799)], dim=1).to(device)
    return x, rois


def run(device: str, repeats: int, peak_tbps: float) -> None:
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    x, rois = make_case(device)
    label = "Triton vs torchvision CUDA" if device == "cuda" else "CPU path vs torchvision CPU (C++)"
    print(f"\nroi_align, 512 RoIs x 256 ch, 50x50 map, scale 1/16 — {label}, median of {repeats}")
    print(f"{'case':24s} {'pass':10s} {'ours ms':>9s} {'peer ms':>9s} {'ratio':>7s}")
    for name, size, sampling, aligned in CASES:
        calls = {"ours": lambda: ops.roi_align(x, rois, size, 1 / 16, sampling, aligned),
                 "torchvision": lambda: torchvision.ops.roi_align(x, rois, size, 1 / 16, sampling,
                                                                  aligned)}
        torch.testing.assert_close(calls["ours"](), calls["torchvision"]())
        times = {}
        for who, fn in calls.items():
            with torch.no_grad():
                forward = median_time(fn, repeats, sync)
            out = fn()
            grad = torch.randn_like(out)

            def both():
                torch.autograd.grad(fn(), x, grad)
            times[who] = (forward, median_time(both, repeats, sync))
        for i, what in enumerate(("forward", "fwd+bwd")):
            a, b = times["ours"][i], times["torchvision"][i]
            print(f"{name:24s} {what:10s} {a * 1e3:9.2f} {b * 1e3:9.2f} {a / b:6.2f}x")
        if device == "cuda":
            moved = (x.numel() + out.numel()) * x.element_size()
            for who in ("ours", "torchvision"):
                tbps = moved / times[who][0] / 1e12
                print(f"{'':24s} {who + ' forward':18s} {tbps:6.3f} TB/s = "
                      f"{100 * tbps / peak_tbps:5.1f} % of {peak_tbps} TB/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--peak-tbps", type=float, default=4.8,
                        help="the GPU's memory bandwidth (H200: 4.8 TB/s)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, 1 thread")
    run("cpu", args.repeats, args.peak_tbps)
    if torch.cuda.is_available():
        run("cuda", args.repeats, args.peak_tbps)
    else:
        print("\n(no CUDA device: Triton vs torchvision CUDA not measured)")


if __name__ == "__main__":
    main()
