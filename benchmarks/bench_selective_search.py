"""Selective search: lecturelib's "fast" mode vs OpenCV's (``cv2.ximgproc``), same images, one thread.

Prints, per image set, the time ratio ours / OpenCV (median of alternating runs per image, summed
over the images) and recall at IoU 0.5 with the first N boxes of each (N = 10 … 2000, and all of
them) with the ratio ours / OpenCV, plus MABO. Both are their libraries' "fast" settings:

- ours: the paper's — HSV and Lab × k = 50, 100 × {C+T+S+F, T+S+F} (8 groupings);
- OpenCV's ``switchToSelectiveSearchFast()``: HSV and Lab × k = 150, 300, 450 × the same two
  similarity sets (12 groupings), its region order inverted from the paper's (see its source).

Images: the course's synthetic test scenes (128 × 128, with their boxes); six photos bundled
with scikit-image, resized to 500 px on the long side as R-CNN did, with the boxes below; and
some of the scenes enlarged to 500 × 500 (R-CNN's protocol, the scale the paper's ``k`` was
chosen for).

    python benchmarks/bench_selective_search.py [--scenes 30] [--enlarged 10] [--repeats 3]

``opencv-contrib-python-headless`` comes with the test extra (``pip install -e '.[test]'``).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
import torch

from lecturelib.data import SyntheticShapes, load_photo
from lecturelib.metrics import mean_average_best_overlap, proposal_recall
from lecturelib.selective_search import selective_search

# Objects in the bundled photos, boxed by hand for this benchmark (x1, y1, x2, y2) in the
# photos' own pixels, from figures with a 25-pixel grid: about ±5 px. Coins: every coin.
PHOTO_BOXES: dict[str, list[tuple[int, int, int, int]]] = {
    # person, head, helmet in hand, model shuttle, flag, mission patch
    "astronaut": [(20, 22, 385, 512), (150, 22, 302, 210), (292, 345, 512, 512),
                  (355, 0, 470, 285), (0, 0, 95, 460), (128, 342, 205, 412)],
    # cup, saucer, spoon
    "coffee": [(175, 18, 408, 305), (75, 72, 480, 392), (325, 68, 425, 325)],
    # rocket, left tower, right tower, two lightning masts, launch pad
    "rocket": [(306, 125, 340, 395), (5, 0, 92, 427), (560, 0, 640, 427), (178, 125, 205, 427),
               (440, 125, 475, 427), (265, 395, 375, 427)],
    # motorcycle, front wheel, rear wheel, bench, red bin, two cardboard boxes
    "motorcycle": [(150, 40, 685, 448), (508, 300, 685, 448), (122, 240, 275, 395),
                   (40, 105, 280, 305), (527, 183, 620, 258), (533, 28, 600, 100),
                   (620, 185, 690, 270)],
    # 24 coins, row by row
    "coins": [(132, 29, 179, 74), (193, 30, 239, 73), (305, 16, 364, 72), (22, 35, 65, 74),
              (81, 39, 120, 74), (257, 34, 295, 72), (25, 104, 67, 145), (84, 107, 122, 145),
              (134, 110, 174, 145), (186, 105, 227, 144), (245, 95, 296, 144),
              (317, 105, 356, 145), (25, 178, 63, 217), (80, 175, 124, 217),
              (135, 179, 174, 217), (189, 170, 237, 217), (251, 172, 297, 217),
              (315, 156, 379, 218), (18, 233, 75, 288), (92, 245, 136, 287),
              (144, 236, 201, 288), (220, 240, 269, 288), (276, 239, 326, 288),
              (336, 248, 384, 289)],
    # man, head, camera, tripod
    "camera": [(0, 92, 332, 512), (155, 92, 265, 210), (262, 138, 325, 182),
               (232, 200, 408, 512)],
}
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
    return small, np.array(PHOTO_BOXES[name], np.float32) * factors


def enlarged_scene(image: np.ndarray, boxes: np.ndarray, size: int = LONG_SIDE):
    """A scene resized (bilinear) to ``size × size``, its boxes scaled with it."""
    import cv2

    scale = size / image.shape[0]
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_LINEAR), boxes * scale


def opencv_fast(image: np.ndarray) -> np.ndarray:
    """OpenCV's fast mode on an RGB image -> Float32[N, 4] (x1, y1, x2, y2), in its order."""
    import cv2

    search = cv2.ximgproc.segmentation.createSelectiveSearchSegmentation()
    search.setBaseImage(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    search.switchToSelectiveSearchFast()
    xywh = search.process().reshape(-1, 4).astype(np.float32)
    return np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1)


def ours_fast(image: np.ndarray, seed: int = 0) -> np.ndarray:
    return selective_search(image, "fast", seed=seed)


def measure(items, repeats: int) -> dict:
    """Alternate ours and OpenCV on each image (so both see the same machine load). Keep the
    median time of each per image, and the proposals of every run: both rankings are random
    (ours seeded 0, 1, …; OpenCV's from C's ``rand()``, which moves on with every call), so
    recall is averaged over the runs."""
    out = {"ours_s": [], "opencv_s": [], "ours": [[] for _ in range(repeats)],
           "opencv": [[] for _ in range(repeats)], "gt": []}
    for image, gt in items:
        times = {"ours": [], "opencv": []}
        for run in range(repeats):
            for name, fn in (("ours", lambda im: ours_fast(im, seed=run)),
                             ("opencv", opencv_fast)):
                t0 = time.perf_counter()
                boxes = fn(image)
                times[name].append(time.perf_counter() - t0)
                out[name][run].append(boxes)
        out["ours_s"].append(statistics.median(times["ours"]))
        out["opencv_s"].append(statistics.median(times["opencv"]))
        out["gt"].append(gt)
    return out


def mean_over_runs(metric, runs, gt) -> np.ndarray:
    return np.mean([np.atleast_1d(metric(boxes, gt)) for boxes in runs], axis=0)


def report(title: str, m: dict) -> dict:
    ours_t, cv_t = sum(m["ours_s"]), sum(m["opencv_s"])
    gt, runs = m["gt"], len(m["ours"])
    n_ours = np.mean([len(b) for b in m["ours"][0]])
    n_cv = np.mean([len(b) for b in m["opencv"][0]])
    print(f"\n{title}: {len(gt)} images, {sum(len(g) for g in gt)} objects, "
          f"{runs} runs per image")
    print(f"  time per image     ours {1e3 * ours_t / len(gt):8.1f} ms   OpenCV "
          f"{1e3 * cv_t / len(gt):8.1f} ms   ours / OpenCV = {ours_t / cv_t:.2f}x")
    print(f"  boxes per image    ours {n_ours:8.0f}      OpenCV {n_cv:8.0f}")
    print(f"  {'recall@0.5 with N':18s} {'ours':>7s} {'OpenCV':>7s} {'ours / OpenCV':>14s}"
          f"   (mean of the runs)")
    curve = lambda boxes, g: proposal_recall(boxes, g, 0.5, COUNTS)      # noqa: E731
    everything = lambda boxes, g: proposal_recall(boxes, g, 0.5)         # noqa: E731
    r_ours = list(mean_over_runs(curve, m["ours"], gt)) + [
        float(mean_over_runs(everything, m["ours"], gt)[0])]
    r_cv = list(mean_over_runs(curve, m["opencv"], gt)) + [
        float(mean_over_runs(everything, m["opencv"], gt)[0])]
    ratios = {}
    for n, a, b in zip(list(COUNTS) + ["all"], r_ours, r_cv):
        ratios[n] = a / b if b > 0 else float("inf")
        print(f"  N = {str(n):14s} {a:7.3f} {b:7.3f} {ratios[n]:14.2f}")
    mabo = (float(mean_over_runs(mean_average_best_overlap, m["ours"], gt)[0]),
            float(mean_over_runs(mean_average_best_overlap, m["opencv"], gt)[0]))
    print(f"  {'MABO (all boxes)':18s} {mabo[0]:7.3f} {mabo[1]:7.3f} {mabo[0] / mabo[1]:14.2f}")
    return {"time_ratio": ours_t / cv_t, "recall_ratios": ratios, "mabo": mabo}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=30, help="synthetic test scenes")
    parser.add_argument("--enlarged", type=int, default=10,
                        help="scenes also run enlarged to 500 × 500 (0: none)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per image and side")
    args = parser.parse_args(argv)
    try:
        import cv2
        cv2.ximgproc.segmentation.createSelectiveSearchSegmentation  # noqa: B018
    except (ImportError, AttributeError):
        print("OpenCV with ximgproc is not installed (pip install opencv-contrib-python-headless);"
              " nothing to compare against.")
        return 0
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    print(f"selective search, fast mode: lecturelib vs OpenCV {cv2.__version__} (one thread)")
    dataset = SyntheticShapes("test", num_images=args.scenes)
    scenes = [(image, target["boxes"]) for image, target in map(dataset.scene, range(len(dataset)))]
    photos = [resized_photo(name) for name in PHOTO_BOXES]
    selective_search(scenes[0][0])                     # numba compiles (or loads) its kernels
    opencv_fast(scenes[0][0])
    results = {
        "synthetic scenes (128 px)": report("synthetic scenes (128 px)",
                                            measure(scenes, args.repeats)),
        f"photos ({LONG_SIDE} px)": report(f"photos ({LONG_SIDE} px long side)",
                                           measure(photos, args.repeats)),
    }
    if args.enlarged > 0:
        title = f"scenes enlarged to {LONG_SIDE} px"
        enlarged = [enlarged_scene(image, boxes) for image, boxes in scenes[:args.enlarged]]
        results[title] = report(title, measure(enlarged, args.repeats))
    print("\nsummary: time ours / OpenCV, and recall@0.5 ours / OpenCV at N = 50, 200, 1000, all")
    for name, r in results.items():
        rr = r["recall_ratios"]
        print(f"  {name:26s} time {r['time_ratio']:.2f}x   recall "
              + "  ".join(f"{rr[n]:.2f}" for n in (50, 200, 1000, "all")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
