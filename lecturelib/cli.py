"""``python -m lecturelib train MODEL`` and ``python -m lecturelib evaluate MODEL``.

Training is deterministic from ``--seed``, shows a progress bar, and writes the checkpoint
atomically into ``lecturelib/checkpoints/`` with its SHA-256 and this command in the manifest
(which is checked before training starts: a broken one stops it at once, not after minutes).
Evaluation prints one JSON object on its last line of output.

Numbers are checked as argparse checks choices: ``--seed`` from 0 to 2**31 - 1 (what every
random generator of the training accepts, with room for the offsets it adds), ``--num-images``
from 1 to the split's size (512 train, 128 val / test). A value out of range, or a checkpoint
or manifest that cannot be used, is a one-line message (exit status 2 and 1), not a traceback.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from .checkpoints import CheckpointError, checkpoint_name, manifest, save_weights, train_command
from .data.dataset import DEFAULT_SIZES
from .models import MODELS

DEFAULT_SCHEDULE = "joint"
MAX_SEED = 2**31 - 1


def integer_in(low: int, high: int, high_text: str | None = None):
    """An argparse ``type=``: an integer from ``low`` to ``high`` (described as ``high_text``
    in messages, if given); argparse names the option in front of the message."""
    expected = f"expected an integer from {low} to {high_text or high}"

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"invalid value {text!r}: {expected}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is out of range: {expected}")
        return value
    return parse


def _schedule(name: str, args) -> dict:
    """``{"schedule": ...}`` for a model trained another way than the default, else ``{}``."""
    return {} if args.schedule in (None, DEFAULT_SCHEDULE) else {"schedule": args.schedule}


def _train(name: str, args) -> dict:
    schedule = _schedule(name, args)
    command = train_command(name, args.seed, **schedule)
    manifest(rebuild=command)          # a broken manifest stops here, before minutes of training
    model, summary = MODELS[name].build(seed=args.seed, **schedule)
    save_weights(checkpoint_name(name, **schedule), model, summary, command)
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
    train.add_argument("--seed", type=integer_in(0, MAX_SEED), default=0,
                       help=f"random seed, 0 to {MAX_SEED} (default 0: the shipped checkpoints)")
    schedules = sorted({DEFAULT_SCHEDULE, *(s for r in MODELS.values() for s in r.schedules)})
    train.add_argument("--schedule", choices=schedules, default=None,
                       help="how to train faster_rcnn: joint (default) or the paper's "
                            "four-step alternating training")
    evaluate = commands.add_parser("evaluate", help="evaluate a shipped checkpoint")
    evaluate.add_argument("model", choices=sorted(MODELS))
    evaluate.add_argument("--split", choices=("train", "val", "test"), default="test")
    split_sizes = ", ".join(f"{split} {size}" for split, size in DEFAULT_SIZES.items())
    evaluate.add_argument("--num-images", type=integer_in(1, max(DEFAULT_SIZES.values()),
                                                          f"the split's size ({split_sizes})"),
                          default=None, help="evaluate on the first N images of the split, 1 to "
                          "its size (default: all)")
    evaluate.add_argument("--schedule", choices=schedules, default=None,
                          help="which faster_rcnn checkpoint: joint (default) or alternating")
    args = parser.parse_args(argv)
    if args.command == "evaluate" and args.num_images is not None \
            and args.num_images > DEFAULT_SIZES[args.split]:
        evaluate.error(f"argument --num-images: {args.num_images} is out of range: the "
                       f"{args.split} split has {DEFAULT_SIZES[args.split]} images "
                       f"({split_sizes})")
    if _schedule(args.model, args) and args.schedule not in MODELS[args.model].schedules:
        parser.error(f"--schedule {args.schedule} is not a schedule of {args.model}; models "
                     f"with schedules: {sorted(n for n, r in MODELS.items() if r.schedules)}")
    torch.set_num_threads(max(1, torch.get_num_threads()))
    start = time.perf_counter()
    try:
        result = (_train if args.command == "train" else _evaluate)(args.model, args)
    except CheckpointError as exc:
        parser.exit(1, f"{parser.prog} {args.command}: error: {exc}\n")
    result = {"command": args.command, "model": args.model,
              "wall_seconds": round(time.perf_counter() - start, 2), **result}
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
