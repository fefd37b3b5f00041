"""What RoI pooling's rounding costs in detection: lesson 7's ablation, in the manner of Mask
R-CNN's Table 2c / 2d (RoIPool vs RoIAlign, at stride 16 and 32).

The course's Fast R-CNN is trained three ways — RoIPool, RoIAlign (``aligned=False``, the
paper's and torchvision's models') and RoIAlign with ``aligned=True`` (the half-pixel fix of
Detectron2) — with everything else equal: the same seed, schedule, proposals and sampled RoIs.
Each at the backbone's own stride 4 and on the conv map max-pooled to a coarser stride, where
a cell is larger than many objects' parts and the rounding moves boxes by whole cells.

    python -m lecturelib.models.roi_ablation [--seeds 0 1] [--strides 4 16]

writes ``lecturelib/checkpoints/roi_ablation.json`` (a few KB: the COCO metrics on the test
split of every run, its seed, stride, training seconds, and this command); lesson 7 reads it.
No weights are kept: each model takes about two minutes to retrain.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

VARIANTS = {"RoIPool": dict(pooling="roi_pool"),
            "RoIAlign": dict(pooling="roi_align", aligned=False),
            "RoIAlign, aligned": dict(pooling="roi_align", aligned=True)}
RESULTS = Path(__file__).parents[1] / "checkpoints" / "roi_ablation.json"


def run(seeds=(0, 1), strides=(4, 16), progress: bool = True) -> dict:
    """Train and evaluate every (variant, stride, seed); returns the table as a dict."""
    from .detector import evaluate_detector
    from .fast_rcnn import DEFAULTS, build_fast_rcnn
    runs = []
    for stride in strides:
        for seed in seeds:
            for name, options in VARIANTS.items():
                model, summary = build_fast_rcnn(seed=seed, progress=progress,
                                                 feature_stride=stride, **options)
                metrics = evaluate_detector(model, "test", progress=False)
                runs.append({"variant": name, "stride": stride, "seed": seed,
                             **{k: metrics[k] for k in ("AP", "AP50", "AP75")},
                             "train_seconds": summary["seconds"]})
                if progress:
                    print(json.dumps(runs[-1]), file=sys.stderr)
    return {"command": "python -m lecturelib.models.roi_ablation "
                       f"--seeds {' '.join(map(str, seeds))} "
                       f"--strides {' '.join(map(str, strides))}",
            "config": {k: v for k, v in DEFAULTS.items()
                       if k not in ("pooling", "aligned", "feature_stride")},
            "split": "test", "runs": runs}


def load_results() -> dict:
    """The shipped table (``roi_ablation.json``)."""
    from ..checkpoints import load_table
    return load_table(RESULTS)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--strides", type=int, nargs="+", default=[4, 16])
    args = parser.parse_args(argv)
    table = run(tuple(args.seeds), tuple(args.strides))
    from ..checkpoints import save_table
    print(json.dumps({"wrote": str(save_table(RESULTS, table)), "runs": len(table["runs"])}))


if __name__ == "__main__":
    main()
