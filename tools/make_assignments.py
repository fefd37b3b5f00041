#!/usr/bin/env python
"""Build the student release of every lesson with nbgrader (``make assignments``).

For each lesson ``notebooks/NN_name.ipynb`` this

1. copies it (and any assets beside it in notebooks/) into nbgrader's course layout,
   ``source/NN_name/NN_name.ipynb`` (rebuilt from notebooks/ every time: never edit source/);
2. runs ``nbgrader generate_assignment NN_name --force``, which writes the student version
   ``release/NN_name/NN_name.ipynb``: solutions replaced by stubs, hidden tests removed, outputs
   cleared, graded cells locked and checksummed.

Usage::

    python tools/make_assignments.py                     # every lesson, into ./release
    python tools/make_assignments.py 02                  # one lesson (by number or name)
    python tools/make_assignments.py --root /tmp/course  # another course folder (tests use it)

The course folder gets ``nbgrader_config.py`` (copied from the repository when it is elsewhere)
and nbgrader's gradebook, ``gradebook.db``. source/, release/ and the gradebook are not committed.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"
CONFIG = REPO / "nbgrader_config.py"


def lessons(selection: list[str] | None = None) -> list[Path]:
    """The lesson notebooks, in order; ``selection`` picks some by number or name."""
    found = sorted(p for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if not selection:
        return found
    picked = []
    for key in selection:
        key = Path(key).stem
        match = [p for p in found if p.stem == key or p.stem.split("_")[0] == key.zfill(2)]
        if not match:
            raise SystemExit(f"no lesson {key!r} in {NOTEBOOKS} (have: "
                             f"{', '.join(p.stem for p in found)})")
        picked += match
    return picked


def assets() -> list[Path]:
    """What the lessons may need beside them (images, data): everything in notebooks/ that is
    not a notebook, a checkpoint or a hidden file."""
    return [p for p in NOTEBOOKS.iterdir()
            if p.suffix != ".ipynb" and not p.name.startswith(".") and p.name != "__pycache__"]


def build_source(root: Path, lesson: Path) -> Path:
    """``root/source/<lesson>/``: a fresh copy of the lesson and its assets."""
    folder = root / "source" / lesson.stem
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    shutil.copy2(lesson, folder / lesson.name)
    for asset in assets():
        if asset.is_dir():
            shutil.copytree(asset, folder / asset.name)
        else:
            shutil.copy2(asset, folder / asset.name)
    return folder


def nbgrader_env() -> dict:
    """The environment for nbgrader: this Python's scripts first on PATH (nbgrader runs the
    ``alembic`` command of its own environment to set up the gradebook)."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env


def nbgrader(root: Path, *args: str) -> subprocess.CompletedProcess:
    """Run ``nbgrader ARGS`` in the course folder ``root`` (output captured)."""
    command = [sys.executable, "-m", "nbgrader", *args, f"--CourseDirectory.root={root}"]
    return subprocess.run(command, cwd=root, env=nbgrader_env(), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True)


def generate(root: Path, lesson: Path) -> Path:
    """Run nbgrader's generate_assignment on one lesson; returns the student notebook."""
    done = nbgrader(root, "generate_assignment", lesson.stem, "--force")
    released = root / "release" / lesson.stem / lesson.name
    if done.returncode != 0 or not released.exists():
        raise SystemExit(f"nbgrader generate_assignment {lesson.stem} failed "
                         f"(exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    return released


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("lessons", nargs="*", help="lesson numbers or names (default: all)")
    parser.add_argument("--root", type=Path, default=REPO,
                        help="course folder for source/, release/ and the gradebook "
                             "(default: the repository)")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    root.mkdir(parents=True, exist_ok=True)
    if root != REPO:
        shutil.copy2(CONFIG, root / CONFIG.name)
    for lesson in lessons(args.lessons):
        build_source(root, lesson)
        released = generate(root, lesson)
        print(f"{lesson.stem}: student version {released.relative_to(root)}")
    print(f"student releases in {root / 'release'} (not committed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
