"""Selective search: lecturelib's "fast" mode vs OpenCV's (``cv2.ximgproc``), same images, one thread.

Prints, per image set, the time ratio ours / OpenCV (median of alternating runs per image, summed
over the images) and recall at IoU 0.5 with the first N boxes of each (N = 10 … 2000, and all of
them) with the ratio ours / OpenCV, plus MABO. Both are their libraries' "fast" settings:

- ours: the paper's — HSV and Lab × k = 50, 100 × {C+T+S+F, T+S+F} (8 groupings);
- OpenCV's ``switchToSelectiveSearchFast()``: HSV and Lab × k = 150, 300, 450 × the same two
  similarity sets (12 groupings), its region order inverted from the paper's (see its source).

Beside our default (the paper's ranking) it prints the recall of the same hierarchies in our two
other orders, ``ranking="level"`` (OpenCV's) and ``"persistence"``, and, last, our code run with
OpenCV's own settings on the scenes — where the two implementations should agree.

Images: the course's synthetic test scenes (128 × 128, with their boxes); six photos bundled
with scikit-image, resized to 500 px on the long side as R-CNN did, with the boxes of
``lecturelib.data.PHOTO_BOXES``; and some of the scenes enlarged to 500 × 500 (R-CNN's
protocol, the scale the paper's ``k`` was chosen for).

    python benchmarks/bench_selective_search.py [--scenes 30] [--enlarged 10] [--repeats 3]
                                                [--no-parity]

``opencv-contrib-python-headless`` comes with the test extra (``pip install -e '.[test]'``).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
import torch

from lecturelib.data import PHOTO_BOXES, SyntheticShapes, load_photo, photo_boxes
from lecturelib.metrics import mean_average_best_overlap, proposal_recall
from lecturelib.selective_search import selective_search
from lecturelib.selective_search.opencv import OPENCV_FAST, opencv_available, opencv_fast

COUNTS = (10, 20, 50, 100, 200, 500, 1000, 2000)
LONG_SIDE = 500


def resized_photo(name: str, long_side: int = LONG_SIDE):
    """The photo with its long side at ``long_side`` pixels (area averaging) and its boxes
    scaled with it."""
    import cv2

    image = load_photo(name)
    h, w = image.shape[:2]
    scale = long_side / max(h, w)
    size = (round(w * scale), round(h * scale))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    factors = np.array([size[0] / w, size[1] / h] * 2, np.float32)
    return small, photo_boxes(name) * factors


def enlarged_scene(image: np.ndarray, boxes: np.ndarray, size: int = LONG_SIDE):
    """A scene resized (bilinear) to ``size × size``, its boxes scaled with it."""
    import cv2

    scale = size / image.shape[0]
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_LINEAR), boxes * scale


def ours(image: np.ndarray, seed: int = 0, **settings):
    """Our search (default: the paper's fast mode), with the merge histories."""
    return selective_search(image, **({"mode": "fast"} | settings), seed=seed,
                            return_result=True)


def measure(items, repeats: int, rankings=("level", "persistence"), **settings) -> dict:
    """Alternate ours and OpenCV on each image (so both see the same machine load). Keep the
    median time of each per image, and the proposals of every run: both rankings are random
    (ours seeded 0, 1, …; OpenCV's from C's ``rand()``, which moves on with every call), so
    recall is averaged over the runs. ``rankings``: our other orders of the same hierarchies
    (``SelectiveSearchResult.ranked``, no new search), recorded as ``ours/<ranking>``."""
    names = ["ours", "opencv"] + [f"ours/{r}" for r in rankings]
    out = {"ours_s": [], "opencv_s": [], "gt": []} | {n: [[] for _ in range(repeats)]
                                                      for n in names}
    for image, gt in items:
        times = {"ours": [], "opencv": []}
        for run in range(repeats):
            t0 = time.perf_counter()
            result = ours(image, seed=run, **settings)
            times["ours"].append(time.perf_counter() - t0)
            out["ours"][run].append(result.boxes)
            t0 = time.perf_counter()
            out["opencv"][run].append(opencv_fast(image))
            times["opencv"].append(time.perf_counter() - t0)
            for r in rankings:
                out[f"ours/{r}"][run].append(result.ranked(r, seed=run))
        out["ours_s"].append(statistics.median(times["ours"]))
        out["opencv_s"].append(statistics.median(times["opencv"]))
        out["gt"].append(gt)
    return out


def mean_over_runs(metric, runs, gt) -> np.ndarray:
    return np.mean([np.atleast_1d(metric(boxes, gt)) for boxes in runs], axis=0)


def report(title: str, m: dict, ours_name: str = "ours") -> dict:
    ours_t, cv_t = sum(m["ours_s"]), sum(m["opencv_s"])
    gt, runs = m["gt"], len(m["ours"])
    others = [k for k in m if k.startswith("ours/")]
    n_ours = np.mean([len(b) for b in m["ours"][0]])
    n_cv = np.mean([len(b) for b in m["opencv"][0]])
    print(f"\n{title}: {len(gt)} images, {sum(len(g) for g in gt)} objects, "
          f"{runs} runs per image; {ours_name}")
    print(f"  time per image     ours {1e3 * ours_t / len(gt):8.1f} ms   OpenCV "
          f"{1e3 * cv_t / len(gt):8.1f} ms   ours / OpenCV = {ours_t / cv_t:.2f}x")
    print(f"  boxes per image    ours {n_ours:8.0f}      OpenCV {n_cv:8.0f}")
    print(f"  {'recall@0.5 with N':18s} {'ours':>7s} {'OpenCV':>7s} {'ours / OpenCV':>14s}"
          + "".join(f" {k[5:] + ' / OpenCV':>22s}" for k in others) + "   (mean of the runs)")
    curve = lambda boxes, g: proposal_recall(boxes, g, 0.5, COUNTS)      # noqa: E731
    everything = lambda boxes, g: proposal_recall(boxes, g, 0.5)         # noqa: E731
    recall = {k: list(mean_over_runs(curve, m[k], gt))
              + [float(mean_over_runs(everything, m[k], gt)[0])]
              for k in ["ours", "opencv"] + others}
    ratio = lambda a, b: a / b if b > 0 else float("inf")                 # noqa: E731
    ratios = {}
    for i, n in enumerate(list(COUNTS) + ["all"]):
        a, b = recall["ours"][i], recall["opencv"][i]
        ratios[n] = ratio(a, b)
        print(f"  N = {str(n):14s} {a:7.3f} {b:7.3f} {ratios[n]:14.2f}" + "".join(
            f" {recall[k][i]:9.3f} = {ratio(recall[k][i], b):5.2f}x  " for k in others))
    mabo = (float(mean_over_runs(mean_average_best_overlap, m["ours"], gt)[0]),
            float(mean_over_runs(mean_average_best_overlap, m["opencv"], gt)[0]))
    print(f"  {'MABO (all boxes)':18s} {mabo[0]:7.3f} {mabo[1]:7.3f} {mabo[0] / mabo[1]:14.2f}"
          "   (the same for every order)")
    return {"time_ratio": ours_t / cv_t, "recall_ratios": ratios, "mabo": mabo,
            "other_ratios": {k[5:]: {n: ratio(recall[k][i], recall["opencv"][i])
                                     for i, n in enumerate(list(COUNTS) + ["all"])}
                             for k in others}}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=30, help="synthetic test scenes")
    parser.add_argument("--enlarged", type=int, default=10,
                        help="scenes also run enlarged to 500 × 500 (0: none)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per image and side")
    parser.add_argument("--no-parity", dest="parity", action="store_false",
                        help="skip the run of our code with OpenCV's settings")
    args = parser.parse_args(argv)
    if not opencv_available():
        print("OpenCV with ximgproc is not installed (pip install opencv-contrib-python-headless);"
              " nothing to compare against.")
        return 0
    import cv2
    torch.set_num_threads(1)
    print(f"selective search, fast mode: lecturelib vs OpenCV {cv2.__version__} (one thread)")
    dataset = SyntheticShapes("test", num_images=args.scenes)
    scenes = [(image, target["boxes"]) for image, target in map(dataset.scene, range(len(dataset)))]
    photos = [resized_photo(name) for name in PHOTO_BOXES]
    ours(scenes[0][0]).ranked("persistence")           # numba compiles (or loads) its kernels
    opencv_fast(scenes[0][0])
    results = {
        "synthetic scenes (128 px)": report("synthetic scenes (128 px)",
                                            measure(scenes, args.repeats),
                                            "ours = the paper's fast mode"),
        f"photos ({LONG_SIDE} px)": report(f"photos ({LONG_SIDE} px long side)",
                                           measure(photos, args.repeats),
                                           "ours = the paper's fast mode"),
    }
    if args.enlarged > 0:
        title = f"scenes enlarged to {LONG_SIDE} px"
        enlarged = [enlarged_scene(image, boxes) for image, boxes in scenes[:args.enlarged]]
        results[title] = report(title, measure(enlarged, args.repeats),
                                "ours = the paper's fast mode")
    if args.parity:
        results["scenes, OpenCV's settings"] = report(
            "synthetic scenes (128 px), both with OpenCV's settings",
            measure(scenes, args.repeats, rankings=(), **OPENCV_FAST),
            "ours = our code with OpenCV's fast settings (HSV, Lab x k 150, 300, 450 x "
            "CTSF, TSF; min_size 100; level order)")
    print("\nsummary: time ours / OpenCV, and recall@0.5 ours / OpenCV at N = 10, 50, 200, "
          "1000, all")
    for name, r in results.items():
        rr = r["recall_ratios"]
        print(f"  {name:26s} time {r['time_ratio']:.2f}x   recall "
              + "  ".join(f"{rr[n]:.2f}" for n in (10, 50, 200, 1000, "all")))
        for ranking, other in r["other_ratios"].items():
            print(f"  {'  ranking=' + ranking:26s} {'':11s} recall "
                  + "  ".join(f"{other[n]:.2f}" for n in (10, 50, 200, 1000, "all")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
