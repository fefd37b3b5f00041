"""Proposals per image: the RPN of the shipped Faster R-CNN vs selective search (fast mode), on
the same test scenes, one thread, in the same run — the paper's "10 ms vs 1.5 s" on one machine.

Times (median over the images, each after a warm-up): selective search on the image; the RPN
alone (head, decoding, filtering at the test-time 1000 / 1000 proposals: the shared conv map is
computed once for the detector anyway, as the paper's timing table counts it); the RPN with the
backbone. Prints the ratios
selective search / RPN (> 1: the RPN is faster).

    python benchmarks/bench_rpn.py [--images 16] [--repeats 5]
"""
from __future__ import annotations

import argparse
import statistics

import torch

from lecturelib.data import SyntheticShapes
from lecturelib.models import load_faster_rcnn
from lecturelib.selective_search import selective_search
from timing import median_time  # benchmarks/timing.py


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = load_faster_rcnn()
    data = SyntheticShapes("test", num_images=args.images)
    search, rpn, with_backbone = [], [], []
    with torch.no_grad():
        for i in range(len(data)):
            image, _ = data[i]
            scene = data.scene(i)[0]
            conv = model.backbone.features(image[None])
            size = image.shape[-2:]
            search.append(median_time(lambda: selective_search(scene, mode="fast", min_box_size=4),
                                      repeats=max(1, args.repeats // 2)))
            rpn.append(median_time(lambda: model.propose(conv, size), args.repeats))
            with_backbone.append(median_time(
                lambda: model.propose(model.backbone.features(image[None]), size), args.repeats))
    s, r, b = (statistics.median(t) for t in (search, rpn, with_backbone))
    print(f"{len(data)} test scenes of 128 x 128, one thread, median per image")
    print(f"selective search (fast)   {s * 1000:8.2f} ms")
    print(f"RPN (head + filtering)    {r * 1000:8.2f} ms   selective search / RPN = {s / r:6.1f}x")
    print(f"RPN with the backbone     {b * 1000:8.2f} ms   selective search / RPN = {s / b:6.1f}x")


if __name__ == "__main__":
    main()
