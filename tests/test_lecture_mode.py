"""Lecture mode: ``make present LESSON=02`` opens a lesson in JupyterLab, dressed for a projector.

The test starts the very command behind ``make present`` (``tools/present.py``) with a
temporary scratch folder, on a free port of 127.0.0.1, without a browser or a token; checks
that it serves the lesson in JupyterLab's single-document view with the lecture's large type,
from a copy; then (with Chromium) opens that page as the lecturer's browser would, runs the
lesson from the menu and drags the IoU explorer's threshold, as tests/test_browser.py does.
"""
from __future__ import annotations

import json
import os
import re
import sys

import pytest

from lab_browser import (EXPLORER_CHECKS, NOTEBOOKS, ROOT, LabNotebook, Screenshots, Server,
                         announce, free_port)

sys.path.insert(0, str(ROOT / "tools"))
import present  # noqa: E402

LESSON = "02_boxes_iou_nms.ipynb"    # the lesson with the IoU explorer


def test_present_finds_lessons_by_number_and_name():
    for key in ("2", "02", "02_boxes_iou_nms", "notebooks/02_boxes_iou_nms.ipynb"):
        assert present.find_lesson(key).name == LESSON
    with pytest.raises(SystemExit, match="the lessons are"):
        present.find_lesson("99")


def test_lecture_runs_locally_in_large_type_from_a_scratch_copy(tmp_path):
    before = (NOTEBOOKS / LESSON).read_bytes()
    argv = present.lecture_command(NOTEBOOKS / LESSON, tmp_path, 8888, open_browser=False,
                                   type_px=24)
    assert "--ServerApp.ip=127.0.0.1" in argv and "--no-browser" in argv
    assert f"--LabApp.default_url=/doc/tree/{LESSON}" in argv
    assert f"--ServerApp.root_dir={tmp_path / 'notebooks'}" in argv
    assert (tmp_path / "notebooks" / LESSON).read_bytes() == before
    themes = json.loads((tmp_path / "settings" / "@jupyterlab" / "apputils-extension" /
                         "themes.jupyterlab-settings").read_text())
    assert themes["overrides"]["content-font-size1"] == "24px"
    (tmp_path / "notebooks" / LESSON).write_text("{}")     # the lecture scribbles on its copy
    present.lecture_command(NOTEBOOKS / LESSON, tmp_path, None, True)
    assert (tmp_path / "notebooks" / LESSON).read_bytes() == before, "a fresh copy each time"
    assert (NOTEBOOKS / LESSON).read_bytes() == before


@pytest.fixture(scope="module")
def lecture(tmp_path_factory):
    if not (NOTEBOOKS / LESSON).exists():
        pytest.skip(f"{LESSON} is not in notebooks/")
    work = tmp_path_factory.mktemp("lecture")
    port = free_port()
    argv = [sys.executable, str(ROOT / "tools" / "present.py"), LESSON.split("_")[0],
            "--dir", str(work), "--port", str(port), "--no-browser",
            # for the test only: no token to type, and the page's app reachable from the test
            "--IdentityProvider.token=", "--ServerApp.password=", "--ServerApp.port_retries=0",
            "--LabApp.expose_app_in_browser=True"]
    (work / "runtime").mkdir()
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(work / "runtime"))
    with Server(argv, port, work / "present.log", cwd=ROOT, ready_path="/api/status", env=env,
                name="make present") as server:
        yield server


def test_make_present_serves_the_lesson_on_localhost(lecture):
    status, page = lecture.get(f"/doc/tree/{LESSON}")
    assert status == 200 and "JupyterLab" in page
    status, model = lecture.get(f"/api/contents/{LESSON}?content=0")
    assert status == 200 and json.loads(model)["type"] == "notebook"
    assert re.search(rf"http://127\.0\.0\.1:{lecture.port}/", lecture.log_tail(200)), \
        "JupyterLab should say it serves on 127.0.0.1"


def test_lecture_page_runs_the_lesson_and_its_iou_slider_answers(lecture, browser, request):
    checks = [c for c in EXPLORER_CHECKS if c.notebook == LESSON and c.explorer == "iou_explorer("]
    assert checks, f"no browser check for the IoU explorer of {LESSON} in EXPLORER_CHECKS"
    shots = Screenshots.shared()
    name = "present-" + LESSON.removesuffix(".ipynb")
    lesson = LabNotebook(browser.new_page(), shots, name)
    lesson.kind = "present"
    try:
        lesson.open(f"{lecture.url}/doc/tree/{LESSON}")
        assert lesson.page.evaluate("window.jupyterapp.shell.mode") == "single-document"
        type_px = lesson.page.evaluate("getComputedStyle(document.body)"
                                       ".getPropertyValue('--jp-content-font-size1').trim()")
        assert type_px == "20px", f"the lecture's type is {type_px!r}, not 20px"
        shots.take(lesson.page, f"{name}-0-opened")
        lesson.run_all()
        for check in checks:
            lesson.check(check)
    except BaseException:
        shots.take(lesson.page, f"{name}-FAILED", full_page=True)
        raise
    assert not browser.unexpected_outside(), \
        f"the lecture asked for pages outside localhost: {browser.unexpected_outside()}"
    announce(request, shots)
