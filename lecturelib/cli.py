"""``python -m lecturelib train MODEL`` and ``python -m lecturelib evaluate MODEL``.

Training is deterministic from ``--seed``, shows a progress bar, and writes the checkpoint
atomically into ``lecturelib/checkpoints/`` with its SHA-256 and this command in the manifest.
Evaluation prints one JSON object on its last line of output.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from .checkpoints import load_checkpoint, save_checkpoint


def _train_backbone(args) -> dict:
    from .models.backbone import pretrain
    model, summary = pretrain(seed=args.seed)
    command = "python -m lecturelib train backbone" + (f" --seed {args.seed}" if args.seed else "")
    save_checkpoint("backbone", {"state_dict": model.state_dict(), "meta": summary}, command)
    return summary


def _evaluate_backbone(args) -> dict:
    from .models.backbone import accuracy, object_crops
    from .models import load_backbone
    model = load_backbone()
    crops, labels = object_crops(128, seed=0, jitter=0.0, split=args.split)
    return {"model": "backbone", "split": args.split, "accuracy": accuracy(model, crops, labels),
            "crops": len(crops)}


def _train_rcnn(args) -> dict:
    from .models.rcnn_train import train_rcnn
    return train_rcnn(seed=args.seed)


def _evaluate_rcnn(args) -> dict:
    from .models.rcnn import evaluate_rcnn
    return evaluate_rcnn(split=args.split, num_images=args.num_images)


def _train_fast_rcnn(args) -> dict:
    from .models.fast_rcnn import train_fast_rcnn
    return train_fast_rcnn(seed=args.seed)


def _evaluate_fast_rcnn(args) -> dict:
    from .models.fast_rcnn import evaluate_fast_rcnn
    return evaluate_fast_rcnn(split=args.split, num_images=args.num_images)


MODELS = {
    "backbone": (_train_backbone, _evaluate_backbone),
    "rcnn": (_train_rcnn, _evaluate_rcnn),
    "fast_rcnn": (_train_fast_rcnn, _evaluate_fast_rcnn),
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lecturelib", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train a model and write its checkpoint")
    train.add_argument("model", choices=sorted(MODELS))
    train.add_argument("--seed", type=int, default=0)
    evaluate = commands.add_parser("evaluate", help="evaluate a shipped checkpoint")
    evaluate.add_argument("model", choices=sorted(MODELS))
    evaluate.add_argument("--split", choices=("train", "val", "test"), default="test")
    evaluate.add_argument("--num-images", type=int, default=None,
                          help="evaluate on the first N images of the split (default: all)")
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    start = time.perf_counter()
    train_fn, evaluate_fn = MODELS[args.model]
    result = (train_fn if args.command == "train" else evaluate_fn)(args)
    result = {"command": args.command, "model": args.model,
              "wall_seconds": round(time.perf_counter() - start, 2), **result}
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
