"""RoI pooling: lecturelib's CPU path vs torchvision's C++ roi_pool, measured in the same run.

The Fast R-CNN case of the issue: 512 RoIs × 256 channels on a 50×50 feature map (an 800×800
image at stride 16), 7×7 output; forward and backward timed separately, one thread, median of
repeats, ratio ours / torchvision (< 1.0: ours is faster). With CUDA, also Triton vs
torchvision CUDA.

    python benchmarks/bench_roi_pool.py [--repeats 9]
"""
from __future__ import annotations

import argparse

import torch
import torchvision

import lecturelib.ops as ops
from timing import median_time  # benchmarks/timing.py


def make_case(device: str, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1, 256, 50, 50, generator=g).to(device).requires_grad_()
    xy = torch.rand(512, 2, generator=g) * 700
    wh = torch.rand(512, 2, generator=g) * 300 + 16
    rois = torch.cat([torch.zeros(512, 1), xy, (xy + wh).clamp(max=799)], dim=1).to(device)
    return x, rois



def run(device: str, repeats: int) -> None:
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    x, rois = make_case(device)
    pool = {"ours": lambda: ops.roi_pool(x, rois, 7, 1 / 16),
            "torchvision": lambda: torchvision.ops.roi_pool(x, rois, 7, 1 / 16)}
    assert torch.equal(pool["ours"](), pool["torchvision"]())
    results = {}
    for name, fn in pool.items():
        out = fn()
        grad = torch.randn_like(out)
        forward = median_time(fn, repeats, sync)
        backward = median_time(lambda: torch.autograd.grad(out, x, grad, retain_graph=True), repeats, sync)
        results[name] = (forward, backward)
    label = "Triton vs torchvision CUDA" if device == "cuda" else "CPU path vs torchvision CPU (C++)"
    print(f"\nroi_pool, 512 RoIs x 256 ch, 50x50 map, 7x7 output — {label}, median of {repeats}")
    print(f"{'pass':10s} {'ours ms':>9s} {'peer ms':>9s} {'ratio':>7s}")
    for i, name in enumerate(("forward", "backward")):
        a, b = results["ours"][i], results["torchvision"][i]
        print(f"{name:10s} {a * 1e3:9.2f} {b * 1e3:9.2f} {a / b:6.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}, 1 thread")
    run("cpu", args.repeats)
    if torch.cuda.is_available():
        run("cuda", args.repeats)
    else:
        print("\n(no CUDA device: Triton vs torchvision CUDA not measured)")


if __name__ == "__main__":
    main()
