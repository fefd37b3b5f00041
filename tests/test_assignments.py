"""Homework: nbgrader turns every lesson into a student release that fails until it is solved.

Each lesson's course folder is built once per run, in a temporary folder, by the command
behind ``make assignments`` (``tools/make_assignments.py``: nbgrader's own
``generate_assignment``).
Then, for every lesson in notebooks/:

- its exercises carry nbgrader's markers and metadata, and every assertion in a graded cell
  says what went wrong (a message, not a bare ``AssertionError``);
- the student release has stubs instead of solutions, no hidden test and no output, and its
  graded cells are locked (read-only) — checked by searching the release for every line that
  only the solutions and hidden tests contain;
- the release, executed by nbgrader's ``Validator``, fails *every* graded cell (so
  ``nbgrader validate --invert`` has nothing to report) with a readable error;
- a student who fills in the solutions and submits gets full marks from ``nbgrader autograde``,
  with the hidden tests put back: the solutions pass all their checks.
"""
from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("nbgrader", reason="nbgrader is not installed: `make test` installs the "
                                       "instructor extra (pip install -e '.[instructor]')")

from nbgrader.api import Gradebook  # noqa: E402
from nbgrader.validator import Validator  # noqa: E402
from traitlets.config.loader import PyFileConfigLoader  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import make_assignments  # noqa: E402
from lab_browser import LabNotebook, Screenshots, browser_unavailable, jupyterlab  # noqa: E402

LESSONS = make_assignments.lessons()
STUB_MESSAGE = "Exercise not done yet"
REGION = re.compile(r"^[ \t]*### BEGIN (SOLUTION|HIDDEN TESTS)[ \t]*\n(.*?)"
                    r"^[ \t]*### END \1[ \t]*$", re.M | re.S)
MARKER = re.compile(r"^[ \t]*### (BEGIN|END) (SOLUTION|HIDDEN TESTS)[ \t]*\n?", re.M)


def read(path: Path) -> dict:
    return json.loads(path.read_text())


def source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def nbgrader_meta(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def graded_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if nbgrader_meta(c).get("grade")]


def solution_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if nbgrader_meta(c).get("solution")]


@pytest.fixture(scope="session")
def courses(tmp_path_factory):
    """``courses(lesson)``: a course folder with source/ and release/ for that lesson, as `make
    assignments` builds it (but in a temporary folder). Built once per test run, on first use:
    one folder per lesson, so that the lessons' homework checks can run on different cores
    (tests/conftest.py groups them by lesson) without sharing a gradebook."""
    built: dict[str, Path] = {}

    def build(lesson: Path) -> Path:
        if lesson.stem not in built:
            root = tmp_path_factory.mktemp(f"course-{lesson.stem}")
            make_assignments.main(["--root", str(root), lesson.stem])
            built[lesson.stem] = root
        return built[lesson.stem]
    return build


@pytest.fixture
def course(courses, lesson) -> Path:
    """The course folder of the test's lesson."""
    return courses(lesson)


def release_of(course: Path, lesson: Path) -> Path:
    return course / "release" / lesson.stem / lesson.name


ids = [p.stem for p in LESSONS]


def test_there_are_lessons_to_release():
    assert LESSONS, "no lesson notebooks found in notebooks/"


@pytest.mark.parametrize("lesson", LESSONS, ids=ids)
def test_exercises_carry_nbgrader_metadata(lesson):
    nb = read(lesson)
    graded = graded_cells(nb)
    assert graded, f"{lesson.name}: no graded exercise (a cell with nbgrader metadata grade=True)"
    grade_ids = [nbgrader_meta(c).get("grade_id") for c in nb["cells"] if nbgrader_meta(c)]
    assert all(grade_ids) and len(set(grade_ids)) == len(grade_ids), \
        f"{lesson.name}: every nbgrader cell needs its own grade_id, got {grade_ids}"
    for cell in graded:
        meta = nbgrader_meta(cell)
        assert meta.get("points", 0) > 0, f"{meta['grade_id']}: a graded cell needs points"
        assert meta.get("locked"), f"{meta['grade_id']}: a graded test cell must be locked"
    for cell in solution_cells(nb):
        text = source(cell)
        if cell["cell_type"] == "code":
            assert text.count("### BEGIN SOLUTION") == text.count("### END SOLUTION") >= 1, \
                f"{nbgrader_meta(cell)['grade_id']}: a solution cell needs BEGIN/END SOLUTION"
    for cell in nb["cells"]:
        text = source(cell)
        assert text.count("### BEGIN HIDDEN TESTS") == text.count("### END HIDDEN TESTS")
        if "HIDDEN TESTS" in text:
            assert nbgrader_meta(cell).get("grade"), "hidden tests belong in a graded cell"


@pytest.mark.parametrize("lesson", LESSONS, ids=ids)
def test_graded_checks_fail_with_a_message(lesson):
    """A wrong answer must read as a sentence, not a bare AssertionError."""
    for cell in graded_cells(read(lesson)):
        if cell["cell_type"] != "code":
            continue
        code = MARKER.sub("", source(cell))
        tree = ast.parse("\n".join(line for line in code.splitlines()
                                   if not line.lstrip().startswith(("%", "!"))))
        bare = [node.lineno for node in ast.walk(tree)
                if isinstance(node, ast.Assert) and node.msg is None]
        assert not bare, (f"{lesson.name} [{nbgrader_meta(cell)['grade_id']}]: the assert(s) on "
                          f"line(s) {bare} have no message; write `assert ok, f\"what was "
                          f"expected, what came\"` so a student reads why it failed")


@pytest.mark.parametrize("lesson", LESSONS, ids=ids)
def test_release_has_stubs_and_no_solution_or_hidden_test(course, lesson):
    nb = read(lesson)
    released = read(release_of(course, lesson))
    released_text = "\n".join(source(c) for c in released["cells"])
    # every line that only the solutions and hidden tests contain must be gone
    outside = REGION.sub("", "\n".join(source(c) for c in nb["cells"]))
    outside_lines = {line.strip() for line in outside.splitlines()}
    secret = {line.strip() for c in nb["cells"] for match in REGION.finditer(source(c))
              for line in match.group(2).splitlines()} - outside_lines - {""}
    assert secret, f"{lesson.name}: found no solution or hidden-test text to search for"
    released_lines = {line.strip() for line in released_text.splitlines()}
    leaked = sorted(secret & released_lines)
    assert not leaked, f"solution or hidden-test lines in the student version: {leaked}"
    assert "BEGIN SOLUTION" not in released_text and "HIDDEN TESTS" not in released_text
    for cell in released["cells"]:
        assert not cell.get("outputs"), "the student version must have no outputs"
    # each solution became a stub that says what to do
    for cell in solution_cells(released):
        if cell["cell_type"] == "code":
            assert STUB_MESSAGE in source(cell), source(cell)
    # the same exercises, in the same places
    assert [nbgrader_meta(c).get("grade_id") for c in released["cells"]] == \
           [nbgrader_meta(c).get("grade_id") for c in nb["cells"]]


@pytest.mark.parametrize("lesson", LESSONS, ids=ids)
def test_release_locks_graded_cells(course, lesson):
    released = read(release_of(course, lesson))
    for cell in released["cells"]:
        meta = nbgrader_meta(cell)
        if meta.get("grade") or meta.get("locked"):
            assert cell["metadata"].get("editable") is False, meta["grade_id"]
            assert cell["metadata"].get("deletable") is False, meta["grade_id"]
            assert meta.get("checksum"), f"{meta['grade_id']}: no checksum to detect edits"
        if meta.get("solution"):
            assert cell["metadata"].get("editable", True), f"{meta['grade_id']} must stay editable"


def nbgrader_config():
    return PyFileConfigLoader("nbgrader_config.py", path=str(ROOT)).load_config()


@pytest.mark.parametrize("lesson", LESSONS, ids=ids)
def test_release_executes_and_fails_every_check_until_solved(course, lesson):
    """nbgrader's Validator executes the student version: every graded cell fails, none passes
    (what `nbgrader validate` reports for an unsolved notebook, and why `validate --invert`,
    which complains about any passing graded cell, is satisfied), each with a readable error."""
    released = release_of(course, lesson)
    results = Validator(config=nbgrader_config()).validate(str(released))
    assert "changed" not in results and "type_changed" not in results, results
    failed = results.get("failed", [])
    graded = [source(c).strip() for c in graded_cells(read(released))]
    assert sorted(f["source"] for f in failed) == sorted(graded), \
        "every graded check must fail in the unsolved student version"
    for f in failed:
        error = f["raw_error"]
        assert STUB_MESSAGE in error or re.search(r"AssertionError: \S", error), \
            f"an unreadable failure:\n{error}"


def solve(released: dict, instructor: dict) -> dict:
    """The student version with each solution cell filled in as a student would: the
    instructor's solution, without nbgrader's markers."""
    answers = {nbgrader_meta(c)["grade_id"]: MARKER.sub("", source(c))
               for c in solution_cells(instructor)}
    solved = json.loads(json.dumps(released))
    for cell in solution_cells(solved):
        cell["source"] = answers[nbgrader_meta(cell)["grade_id"]]
    return solved


@pytest.mark.parametrize("lesson", LESSONS, ids=ids)
def test_solved_submission_autogrades_to_full_marks(course, lesson, request):
    """The TA's round: a submission in submitted/<student>/<lesson>/ -> `nbgrader autograde`
    (which restores the hidden tests from the gradebook) -> full marks in the gradebook."""
    student = "solved-student"
    submitted = course / "submitted" / student / lesson.stem
    if submitted.parent.exists():
        shutil.rmtree(submitted.parent)
    shutil.copytree(course / "release" / lesson.stem, submitted)
    (submitted / lesson.name).write_text(json.dumps(
        solve(read(release_of(course, lesson)), read(lesson)), indent=1))
    done = make_assignments.nbgrader(course, "autograde", lesson.stem, "--create", "--force",
                                     f"--student={student}")
    assert done.returncode == 0, done.stdout + done.stderr
    points = sum(nbgrader_meta(c)["points"] for c in graded_cells(read(lesson)))
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "lecturelib") as gradebook:
        submission = gradebook.find_submission(lesson.stem, student)
        lost = {g.name: (g.score, g.max_score) for notebook in submission.notebooks
                for g in notebook.grades if g.score != g.max_score}
        assert not lost, f"autograde took points off the instructor's solutions: {lost}"
        assert submission.max_score == points and submission.score == points, \
            (submission.score, submission.max_score, points)
    # what goes back to the student (and what the TA reads): nbgrader's HTML feedback
    done = make_assignments.nbgrader(course, "generate_feedback", lesson.stem, "--force",
                                     f"--student={student}")
    feedback = course / "feedback" / student / lesson.stem / f"{lesson.stem}.html"
    assert done.returncode == 0 and feedback.exists(), done.stdout + done.stderr
    assert f"Score: {points:.1f} / {points:.1f}" in feedback.read_text()
    if browser_unavailable() is None:
        page = request.getfixturevalue("browser").new_page()
        page.goto(feedback.as_uri())
        Screenshots.shared().take(page, f"feedback-{lesson.stem}-solved-student")
        page.close()


STUDENT_VIEW = "02_boxes_iou_nms"     # the lesson whose student version is opened in JupyterLab


@pytest.mark.parametrize("lesson", [p for p in LESSONS if p.stem == STUDENT_VIEW], ids=lambda p: p.stem)
def test_student_version_in_jupyterlab_stops_at_the_first_check_with_a_readable_message(
        course, lesson, browser, tmp_path):
    """What a student sees: the release in JupyterLab, Run All, and the first graded check
    stops the run with the stub's sentence; the check cell is read-only."""
    shots = Screenshots.shared()
    notebook = f"{STUDENT_VIEW}.ipynb"
    with jupyterlab(tmp_path, source=course / "release" / STUDENT_VIEW) as server:
        lesson = LabNotebook(browser.new_page(), shots, f"student-{STUDENT_VIEW}")
        try:
            lesson.open(f"{server.url}/lab/tree/{notebook}?reset")
            state = lesson.run_all_cells()
            released = read(course / "release" / STUDENT_VIEW / notebook)
            first_check = next(i for i, c in enumerate(released["cells"])
                               if nbgrader_meta(c).get("grade"))
            assert state["status"] == "error" and state["cell"] == first_check, state
            assert state["error"].startswith(f"NotImplementedError: {STUB_MESSAGE}"), state
            cell = lesson.page.locator(".jp-Notebook .jp-Cell").nth(first_check)
            cell.scroll_into_view_if_needed()
            assert STUB_MESSAGE in cell.inner_text()
            editor = cell.locator(".cm-content")   # CodeMirror 6: not editable, or read-only
            assert (editor.get_attribute("contenteditable") == "false"
                    or editor.get_attribute("aria-readonly") == "true"), \
                "the graded check must be read-only for the student"
            lesson.page.locator(".jp-Notebook .jp-Cell").nth(first_check - 1) \
                .scroll_into_view_if_needed()
            shots.take(lesson.page, f"student-{STUDENT_VIEW}-first-check")
        except BaseException:
            shots.take(lesson.page, f"student-{STUDENT_VIEW}-FAILED", full_page=True)
            raise
        finally:
            lesson.page.close()


def test_release_folders_are_not_committed():
    git = shutil.which("git")
    if git is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    paths = ["release/02_x/02_x.ipynb", "source/02_x/02_x.ipynb", "gradebook.db",
             "submitted/a/02_x/02_x.ipynb", "autograded/a/02_x/02_x.ipynb",
             "feedback/a/02_x/02_x.html"]
    done = subprocess.run([git, "check-ignore", *paths], cwd=ROOT, capture_output=True, text=True)
    assert sorted(done.stdout.split()) == sorted(paths), f"not ignored: " \
        f"{sorted(set(paths) - set(done.stdout.split()))}"
