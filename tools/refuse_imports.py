"""A pytest plugin that makes some modules unimportable, as on a machine that lacks them.

    LECTURELIB_REFUSE_IMPORTS=pycocotools,ipywidgets,nbval \
        python -m pytest -p refuse_imports -p no:nbval ...      (with tools/ on PYTHONPATH)

Importing this module puts a finder first on ``sys.meta_path`` that raises
``ModuleNotFoundError`` for those top-level names (and their submodules). pytest-xdist's
workers load ``-p`` plugins too, so they refuse the same imports. A pytest plugin that is
itself refused must also be switched off (``-p no:nbval``): pytest imports plugins through its
own assertion-rewriting finder, ahead of this one. Each refused import is appended, one name a
line, to the file ``LECTURELIB_REFUSED_LOG`` names, if any. ``tools/gpu_check.py`` uses this
to run the op tests as on the GPU machine's image.
"""
from __future__ import annotations

import importlib
import importlib.abc
import os
import sys

NAMES = frozenset(filter(None, os.environ.get("LECTURELIB_REFUSE_IMPORTS", "").split(",")))


class RefuseImports(importlib.abc.MetaPathFinder):
    """Refuses the top-level modules ``names`` and everything under them."""

    def __init__(self, names) -> None:
        self.names = frozenset(names)

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] not in self.names:
            return None
        log = os.environ.get("LECTURELIB_REFUSED_LOG")
        if log:
            with open(log, "a") as out:
                out.write(name + "\n")
        raise ModuleNotFoundError(f"No module named {name!r} (refused: not on the GPU image)",
                                  name=name)


def probe(names=NAMES) -> dict[str, str]:
    """``{name: "refused" | "imported"}``: whether each name can still be imported here."""
    result = {}
    for name in sorted(names):
        try:
            importlib.import_module(name)
            result[name] = "imported"
        except ImportError:
            result[name] = "refused"
    return result


if NAMES and not any(isinstance(f, RefuseImports) for f in sys.meta_path):
    sys.meta_path.insert(0, RefuseImports(NAMES))
