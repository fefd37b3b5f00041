"""Box ops: lecturelib's CPU path vs torchvision's CPU ops, measured in the same run.

Prints, for each case, the median time of both and the ratio ours / torchvision (< 1.0 means
ours is faster). One thread, as on a lecturer's laptop under load. On a CUDA machine it also
times the Triton kernels against torchvision's CUDA ops.

    python benchmarks/bench_boxes.py [--repeats 15]
"""
from __future__ import annotations

import argparse

import torch
import torchvision

import lecturelib.ops as ops
from timing import median_time  # benchmarks/timing.py


def random_boxes(n: int, seed: int, image: float = 1000.0, device="cpu") -> torch.Tensor:
    """Detector-like boxes: corners uniform in the image, sides 10..200 px."""
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * image
    wh = torch.rand(n, 2, generator=g) * 190 + 10
    return torch.cat([xy, xy + wh], dim=1).to(device)



def cases(device: str):
    for n in (1000, 5000):
        a, b = random_boxes(n, 1, device=device), random_boxes(n, 2, device=device)
        yield f"box_iou {n}x{n}", (lambda a=a, b=b: ops.box_iou(a, b)), \
            (lambda a=a, b=b: torchvision.ops.box_iou(a, b))
    for n in (1000, 10000):
        boxes = random_boxes(n, 3, device=device)
        scores = torch.rand(n, generator=torch.Generator().manual_seed(4)).to(device)
        yield f"nms {n} boxes", (lambda b=boxes, s=scores: ops.nms(b, s, 0.5)), \
            (lambda b=boxes, s=scores: torchvision.ops.nms(b, s, 0.5))
        idxs = torch.randint(0, 10, (n,), generator=torch.Generator().manual_seed(5)).to(device)
        yield f"batched_nms {n} boxes, 10 classes", \
            (lambda b=boxes, s=scores, i=idxs: ops.batched_nms(b, s, i, 0.5)), \
            (lambda b=boxes, s=scores, i=idxs: torchvision.ops.batched_nms(b, s, i, 0.5))


def run(device: str, repeats: int) -> list[float]:
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    peer = "torchvision CUDA" if device == "cuda" else "torchvision CPU (C++)"
    ours = "Triton" if device == "cuda" else "lecturelib CPU path"
    print(f"\n{ours} vs {peer}, median of {repeats}:")
    print(f"{'case':34s} {'ours ms':>9s} {'peer ms':>9s} {'ratio':>7s}")
    ratios = []
    for name, mine, theirs in cases(device):
        t_ours, t_peer = median_time(mine, repeats, sync), median_time(theirs, repeats, sync)
        ratios.append(t_ours / t_peer)
        print(f"{name:34s} {t_ours * 1e3:9.3f} {t_peer * 1e3:9.3f} {t_ours / t_peer:6.2f}x")
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
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
