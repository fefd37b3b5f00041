#!/usr/bin/env python
"""Lecture mode: a lesson in JupyterLab, dressed for the projector (``make present LESSON=02``).

Opens the lesson on its own (JupyterLab's single-document view, sidebars closed) in large type,
from a scratch copy of notebooks/ — what the lecture runs and types never touches the course
files — on 127.0.0.1 only, offline. Then *Run ▸ Run All Cells* (about 20 s), or Shift+Enter
through it while you talk: the explorers' sliders answer live. *View ▸ Presentation Mode*
makes the type larger still.

    make present LESSON=02          # lesson 2 (a number, or the notebook's name)
    make present                    # JupyterLab on the lessons folder
    .venv/bin/python tools/present.py 02 [--port 8888] [--no-browser] [--dir DIR] [--type 20]

Any other option goes to JupyterLab as it is. Stop it with Ctrl-C (twice). The scratch copy is
``.lecture/`` (not committed), replaced at every start.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"


def find_lesson(key: str) -> Path:
    """A lesson by number ("2", "02"), name ("02_boxes_iou_nms") or path."""
    found = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    stem = Path(key).stem
    match = [p for p in found if p.stem == stem or p.stem.split("_")[0] == stem.zfill(2)]
    if len(match) != 1:
        raise SystemExit(f"no lesson {key!r}; the lessons are:\n  " +
                         "\n  ".join(p.stem for p in found))
    return match[0]


def lecture_settings(type_px: int) -> dict[str, dict]:
    """JupyterLab settings for the lecture (its own settings folder: yours are untouched)."""
    return {
        # large type: text, code and the interface
        "@jupyterlab/apputils-extension/themes": {
            "theme": "JupyterLab Light",
            "overrides": {"content-font-size1": f"{type_px}px",
                          "code-font-size": f"{round(type_px * 0.9)}px",
                          "ui-font-size1": f"{round(type_px * 0.75)}px"}},
        # nothing pops up in front of the class
        "@jupyterlab/apputils-extension/notification": {"fetchNews": "false",
                                                        "checkForUpdates": False},
    }


def prepare(folder: Path, type_px: int) -> tuple[Path, Path, Path]:
    """``folder/notebooks`` (a fresh copy of the lessons), ``folder/settings`` and
    ``folder/workspaces``."""
    lessons = folder / "notebooks"
    if lessons.exists():
        shutil.rmtree(lessons)
    shutil.copytree(NOTEBOOKS, lessons, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    settings = folder / "settings"
    for name, values in lecture_settings(type_px).items():
        path = settings / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values, indent=2))
    workspaces = folder / "workspaces"
    shutil.rmtree(workspaces, ignore_errors=True)   # open as asked, not as last left
    workspaces.mkdir(parents=True)
    return lessons, settings, workspaces


def lecture_command(lesson: Path | None, folder: Path, port: int | None, open_browser: bool,
             type_px: int = 20, extra: list[str] = ()) -> list[str]:
    """Prepare ``folder`` and return the JupyterLab command line for the lecture."""
    lessons, settings, workspaces = prepare(folder, type_px)
    start = f"/doc/tree/{lesson.name}" if lesson else "/lab"   # doc: the lesson on its own
    return [sys.executable, "-m", "jupyterlab",
            "--ServerApp.ip=127.0.0.1",
            *([f"--ServerApp.port={port}"] if port else []),
            f"--ServerApp.root_dir={lessons}",
            f"--LabApp.default_url={start}",
            f"--LabApp.user_settings_dir={settings}",
            f"--LabApp.workspaces_dir={workspaces}",
            *(["--ServerApp.allow_root=True"] if hasattr(os, "geteuid") and os.geteuid() == 0
              else []),
            *([] if open_browser else ["--no-browser"]),
            *extra]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("lesson", nargs="?", help="lesson number or name (default: all)")
    parser.add_argument("--port", type=int, help="default: JupyterLab's (8888, or the next free)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser tab")
    parser.add_argument("--dir", type=Path, default=REPO / ".lecture",
                        help="scratch folder for the copy and the settings (default: .lecture/)")
    parser.add_argument("--type", type=int, default=20, help="text size in pixels (default 20)")
    args, extra = parser.parse_known_args(argv)
    lesson = find_lesson(args.lesson) if args.lesson else None
    command = lecture_command(lesson, args.dir.resolve(), args.port, not args.no_browser,
                              args.type, extra)
    print(f"Lecture mode: {lesson.stem if lesson else 'the lessons'}, from a scratch copy in "
          f"{args.dir}. Run > Run All Cells, or Shift+Enter as you go. Ctrl-C twice stops it.",
          flush=True)
    # the kernels JupyterLab starts, and what they run, find this environment's scripts first
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent),
                                          os.environ.get("PATH", "")])
    os.execv(sys.executable, command)   # JupyterLab takes this process over: Ctrl-C reaches it


if __name__ == "__main__":
    main()
