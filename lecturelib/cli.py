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

from .checkpoints import checkpoint_name, save_weights, train_command
from .models import MODELS

DEFAULT_SCHEDULE = "joint"


def _schedule(name: str, args) -> dict:
    """``{"schedule": ...}`` for a model trained another way than the default, else ``{}``."""
    return {} if args.schedule in (None, DEFAULT_SCHEDULE) else {"schedule": args.schedule}


def _train(name: str, args) -> dict:
    schedule = _schedule(name, args)
    model, summary = MODELS[name].build(seed=args.seed, **schedule)
    save_weights(checkpoint_name(name, **schedule), model, summary,
                 train_command(name, args.seed, **schedule))
    return summary


def _evaluate(name: str, args) -> dict:
    recipe, schedule = MODELS[name], _schedule(name, args)
    return {**recipe.evaluate(recipe.load(**schedule), split=args.split,
                              num_images=args.num_images), **schedule}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lecturelib", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train a model and write its checkpoint")
    train.add_argument("model", choices=sorted(n for n, r in MODELS.items() if r.build))
    train.add_argument("--seed", type=int, default=0)
    schedules = sorted({DEFAULT_SCHEDULE, *(s for r in MODELS.values() for s in r.schedules)})
    train.add_argument("--schedule", choices=schedules, default=None,
                       help="how to train faster_rcnn: joint (default) or the paper's "
                            "four-step alternating training")
    evaluate = commands.add_parser("evaluate", help="evaluate a shipped checkpoint")
    evaluate.add_argument("model", choices=sorted(MODELS))
    evaluate.add_argument("--split", choices=("train", "val", "test"), default="test")
    evaluate.add_argument("--num-images", type=int, default=None,
                          help="evaluate on the first N images of the split (default: all)")
    evaluate.add_argument("--schedule", choices=schedules, default=None,
                          help="which faster_rcnn checkpoint: joint (default) or alternating")
    args = parser.parse_args(argv)
    if _schedule(args.model, args) and args.schedule not in MODELS[args.model].schedules:
        parser.error(f"--schedule {args.schedule} is not a schedule of {args.model}; models "
                     f"with schedules: {sorted(n for n, r in MODELS.items() if r.schedules)}")
    torch.set_num_threads(max(1, torch.get_num_threads()))
    start = time.perf_counter()
    result = (_train if args.command == "train" else _evaluate)(args.model, args)
    result = {"command": args.command, "model": args.model,
              "wall_seconds": round(time.perf_counter() - start, 2), **result}
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
