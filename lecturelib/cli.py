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

from .checkpoints import save_weights
from .models import MODELS


def _train(name: str, args) -> dict:
    model, summary = MODELS[name].build(seed=args.seed)
    save_weights(name, model, summary, args.seed)
    return summary


def _evaluate(name: str, args) -> dict:
    recipe = MODELS[name]
    return recipe.evaluate(recipe.load(), split=args.split, num_images=args.num_images)


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
    result = (_train if args.command == "train" else _evaluate)(args.model, args)
    result = {"command": args.command, "model": args.model,
              "wall_seconds": round(time.perf_counter() - start, 2), **result}
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
