"""How a test run is organised; pytest loads this file for every run, whatever paths it is given.

**Kinds.** A test is marked ``browser`` when it drives JupyterLab in Chromium (it uses the
fixture ``lab``, ``lecture`` or ``browser``), ``nbgrader`` when it builds, validates or grades a
student release (fixture ``course``), ``notebook`` when it is a cell of a lesson run by nbval.
The rest are unit tests: ``make unit`` runs those alone. The marks come from what a test uses,
so a new test is classed without anyone remembering a label.

**Two cores.** ``make test`` runs the tests in parallel (pytest-xdist, ``-n``). Tests go to the
workers in *groups*, each group whole and in order on one worker:

- a lesson under nbval is one group: its cells share one kernel and run in order;
- the tests about one lesson (parametrized by it: their id starts with the notebook's name, e.g.
  ``[02_boxes_iou_nms]``) are one group per test module, so its student release is built once
  and its browser checks share one run of the lesson in JupyterLab;
- every other test module is one group, so its module-scoped fixtures are set up once.

Fixtures shared by the groups of one module are session-scoped (one per worker). The groups are
queued in the order the tests are collected, which ``pytest_collection_modifyitems`` sorts:
browser, homework and notebook runs first (later lessons first: they run longest), unit tests
last, so the two workers finish together.
"""
from __future__ import annotations

import os
import re

import pytest

# A worker's share of the cores. torch, OpenMP and numba start a thread per core in every
# process by default, and OpenMP's idle threads spin: two workers (and the kernels and servers
# they start, which inherit this) then fight over two cores, and every test ran 3-5x slower
# than alone (lesson 8 under nbval: 99 s beside another worker, 21 s alone). Set here, in the
# worker, before anything imports torch; a value already in the environment wins.
if os.environ.get("PYTEST_XDIST_WORKER"):
    _threads = max(1, len(os.sched_getaffinity(0)) //
                   int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
    for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                  "NUMBA_NUM_THREADS"):
        os.environ.setdefault(_name, str(_threads))

# A test parametrized by a lesson: its id starts with the lesson's notebook name.
_LESSON_ID = re.compile(r"\[(\d\d_[a-z0-9_]+)")
_ORDER = {"browser": 0, "nbgrader": 1, "notebook": 2, "unit": 3}


def group_of(nodeid: str) -> str:
    """The group a test runs in (see above), from its node id alone: the scheduler runs in
    pytest-xdist's controller, which sees node ids, not tests."""
    path, _, rest = nodeid.partition("::")
    if not path.endswith(".ipynb"):
        lesson = _LESSON_ID.search(rest)
        if lesson:
            return f"{path}[{lesson.group(1)}]"
    return path


def kind_of(item) -> str:
    fixtures = set(getattr(item, "fixturenames", ()))
    if item.path.suffix == ".ipynb":
        return "notebook"
    if fixtures & {"lab", "lecture", "browser"}:
        return "browser"
    if "course" in fixtures:
        return "nbgrader"
    return "unit"


def _later_first(name: str) -> str:
    """A sort key that puts names in reverse order (lesson 08's groups before lesson 01's)."""
    return "".join(chr(0x10FFFF - ord(c)) for c in name)


@pytest.hookimpl(tryfirst=True)   # before -m deselects by these marks
def pytest_collection_modifyitems(config, items):
    kinds = {}
    for item in items:
        kinds[item.nodeid] = kind = kind_of(item)
        if kind != "unit":
            item.add_marker(getattr(pytest.mark, kind))
    # sort is stable: the cells of a lesson and the tests of a module keep their order
    items.sort(key=lambda item: (_ORDER[kinds[item.nodeid]],
                                 _later_first(group_of(item.nodeid))
                                 if kinds[item.nodeid] != "unit" else ""))


@pytest.hookimpl(optionalhook=True)   # a hook of pytest-xdist, when it is installed
def pytest_xdist_make_scheduler(config, log):
    """Whole groups to the workers, in collection order (``-n N`` with the default ``--dist
    load`` or with ``loadgroup``; other ``--dist`` modes are left to pytest-xdist)."""
    if config.getvalue("dist") not in ("load", "loadgroup"):
        return None
    from xdist.scheduler import LoadScopeScheduling

    class LessonGroups(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return group_of(nodeid)

    config.option.loadscopereorder = False   # keep our order, not "most tests first"
    return LessonGroups(config, log)
