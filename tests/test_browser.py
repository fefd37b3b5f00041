"""The explorers in a real browser: every lesson with an explorer is opened in JupyterLab
(started on 127.0.0.1 with a free port, no token, in a temporary copy of notebooks/), run with
Run ▸ Run All Cells in headless Chromium, and each explorer's slider is dragged with the mouse;
the figure must redraw and the printed value follow. The checks are the one-line entries of
``EXPLORER_CHECKS`` in ``tests/lab_browser.py``; a lesson that calls an explorer without an
entry fails ``test_every_explorer_has_a_browser_check``.

Needs Chromium (``make test`` installs Debian's ``chromium`` when absent) and the Python package
playwright (instructor extra); without them the browser tests are skipped with the reason, or
fail when ``LECTURELIB_REQUIRE_BROWSER=1``. Screenshots: see the path printed at the end.
"""
from __future__ import annotations

import pytest

from lab_browser import (EXPLORER_CHECKS, NOTEBOOKS, Browser, LabNotebook, Screenshots, announce,
                         explorer_calls, jupyterlab)


def test_every_explorer_has_a_browser_check():
    registered = {(c.notebook, c.explorer) for c in EXPLORER_CHECKS}
    missing = sorted((nb.name, call) for nb in sorted(NOTEBOOKS.glob("*.ipynb"))
                     for call in explorer_calls(nb) if (nb.name, call) not in registered)
    assert not missing, (
        "explorers without a browser check; add one line per explorer to EXPLORER_CHECKS in "
        "tests/lab_browser.py, e.g. ExplorerCheck(notebook, 'name_explorer(', 'slider label', "
        f"new value, r'text it then shows'): {missing}")


def test_browser_checks_name_explorers_the_lessons_call():
    for check in EXPLORER_CHECKS:
        path = NOTEBOOKS / check.notebook
        if path.exists():
            assert check.explorer in explorer_calls(path), \
                f"{check.notebook} does not call {check.explorer!r} (stale line in EXPLORER_CHECKS)"


class LabSession:
    """JupyterLab + Chromium for this test process; each lesson is opened and run once, and
    closed (page and kernel) after its last check, so that a process that runs every lesson
    does not keep eight kernels in memory."""

    def __init__(self, server, browser: Browser, shots: Screenshots):
        self.server, self.browser, self.shots = server, browser, shots
        self._lessons: dict[str, LabNotebook | BaseException] = {}

    def lesson(self, notebook: str) -> LabNotebook:
        if notebook not in self._lessons:
            name = "lab-" + notebook.removesuffix(".ipynb")
            page = LabNotebook(self.browser.new_page(), self.shots, name)
            try:
                page.open(f"{self.server.url}/lab/tree/{notebook}?reset").run_all()
                self.shots.take(page.page, f"{name}-0-ran")
                self._lessons[notebook] = page
            except BaseException as err:  # remembered: the lesson's other checks fail at once
                self.shots.take(page.page, f"{name}-FAILED", full_page=True)
                self._lessons[notebook] = err
        found = self._lessons[notebook]
        if isinstance(found, BaseException):
            raise AssertionError(f"{notebook} did not run in JupyterLab: {found}\n"
                                 f"server log:\n{self.server.log_tail(15)}") from found
        return found

    def done_with(self, notebook: str) -> None:
        """Shut the lesson's kernel down and close its page (JupyterLab keeps a kernel running
        after its page is gone)."""
        found = self._lessons.pop(notebook, None)
        if isinstance(found, LabNotebook):
            found.page.evaluate("() => window.jupyterapp.shell.currentWidget"
                                ".sessionContext.shutdown()")
            found.page.close()
            _, sessions = self.server.get("/api/sessions")
            assert notebook not in sessions, f"{notebook}'s kernel is still running: {sessions}"


@pytest.fixture(scope="session")   # one JupyterLab per test process, whichever lessons it runs
def lab(request, tmp_path_factory, browser):
    shots = Screenshots.shared()
    work = tmp_path_factory.mktemp("jupyterlab")
    with jupyterlab(work) as server:
        yield LabSession(server, browser, shots)
    announce(request, shots)


@pytest.mark.parametrize("check", EXPLORER_CHECKS, ids=lambda c: c.id)
def test_explorer_answers_its_slider_in_jupyterlab(lab, check):
    if not (NOTEBOOKS / check.notebook).exists():
        pytest.skip(f"{check.notebook} is not in notebooks/ yet")
    lesson = lab.lesson(check.notebook)
    try:
        before, after = lesson.check(check)
    except BaseException:
        lab.shots.take(lesson.page, f"lab-{check.id}-FAILED", full_page=True)
        raise
    finally:
        if check == [c for c in EXPLORER_CHECKS if c.notebook == check.notebook][-1]:
            lab.done_with(check.notebook)
    assert not lab.browser.unexpected_outside(), \
        f"JupyterLab asked for pages outside localhost: {lab.browser.unexpected_outside()}"
