"""The course in a real browser: JupyterLab on localhost, driven in headless Chromium.

Used by ``tests/test_browser.py`` (every explorer), ``tests/test_lecture_mode.py`` (the
lecture set-up of ``make present``) and ``tests/test_assignments.py`` (the student's view). It
starts JupyterLab on 127.0.0.1 with a free port and no token, in a temporary copy of the
lessons; opens a lesson in Debian's Chromium through Playwright (no browser download); runs it
as a reader would (Run ▸ Run All Cells); then moves sliders with the mouse and checks that the
explorer answers. The browser resolves no host name but localhost, and requests that try to
leave are recorded: the course must work offline.

Screenshots of every key state (the run lesson, each explorer before and after its slider
moved, and the page at any failure) go to one temporary folder per run, printed by the tests
(or to ``$LECTURELIB_SCREENSHOTS`` when set).

**Adding an explorer to the browser checks is one line in ``EXPLORER_CHECKS`` below.**
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"


@dataclasses.dataclass(frozen=True)
class ExplorerCheck:
    """Move one slider of one explorer; the explorer must redraw its figure, and show ``expect``
    (a regular expression over the explorer's text) afterwards but not before."""
    notebook: str          # the lesson, a file in notebooks/
    explorer: str          # how its cell calls it: the text that finds the cell in JupyterLab
    slider: str            # the slider's label, as the reader sees it
    to: float | str        # where to move it: a value, or "NN%" of its range (data-dependent)
    expect: str | None = None   # what the explorer's text must then say (None: the figure only)

    @property
    def id(self) -> str:
        return f"{Path(self.notebook).stem}-{self.explorer.rstrip('(')}-{slug(self.slider)}"


# One line per explorer. tests/test_browser.py fails when a lesson calls an explorer that has no
# line here. The IoU candidate starts at IoU 0.429, "ignored" between 0.3 and 0.7; lowering the
# positive threshold to 0.40 makes it positive.
EXPLORER_CHECKS = [
    ExplorerCheck("01_types_of_convolution.ipynb", "conv_explorer(", "stride s", 1),
    ExplorerCheck("01_types_of_convolution.ipynb", "receptive_field_explorer(", "layers", 2),
    ExplorerCheck("02_boxes_iou_nms.ipynb", "iou_explorer(", "positive if IoU ≥", 0.40,
                  r"→ positive \(positive if ≥ 0\.40"),
    ExplorerCheck("02_boxes_iou_nms.ipynb", "nms_explorer(", "IoU threshold", 0.30,
                  r"(>|≤) 0\.30\b"),
    ExplorerCheck("03_selective_search.ipynb", "felzenszwalb_explorer(", "k", 300),
    ExplorerCheck("03_selective_search.ipynb", "grouping_explorer(", "merge step", 0),
    ExplorerCheck("03_selective_search.ipynb", "proposals_explorer(", "top N", 10,
                  r"Showing the 10 best-ranked"),
    ExplorerCheck("04_rcnn.ipynb", "proposal_label_explorer(", "positive if IoU ≥", 0.7),
    ExplorerCheck("04_rcnn.ipynb", "detection_explorer(", "score threshold", "60%"),
    ExplorerCheck("05_fast_rcnn.ipynb", "roi_pool_explorer(", "output size", 2),
    ExplorerCheck("06_faster_rcnn.ipynb", "anchors_explorer(", "sizes (×2 each)", 1,
                  r"A = 3 per cell"),
    ExplorerCheck("06_faster_rcnn.ipynb", "anchor_label_explorer(", "positive if IoU ≥", 0.5),
    ExplorerCheck("06_faster_rcnn.ipynb", "rpn_proposals_explorer(", "keep N after NMS", 5,
                  r"5 proposals, the first 5 drawn"),
    ExplorerCheck("07_roi_align.ipynb", "roi_align_explorer(", "samples/side (0: auto)", 3,
                  r"samples 9 points per bin"),
    ExplorerCheck("08_mask_rcnn.ipynb", "mask_explorer(", "mask threshold", 0.9,
                  r"cells ≥ 0\.90"),
]

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 # offline, as in a lecture hall without network: no host name resolves but
                 # localhost (pages come from 127.0.0.1 itself)
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"]
RUN_TIMEOUT_S = 420        # a lesson runs in ~20 s on 2 idle cores; CI may be loaded
REDRAW_TIMEOUT_S = 90


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def explorer_calls(notebook: Path) -> set[str]:
    """The explorers a lesson shows: ``name(`` for every statement that calls ``*_explorer``."""
    calls = set()
    for cell in json.loads(notebook.read_text())["cells"]:
        if cell["cell_type"] == "code":
            text = "".join(cell["source"])
            calls |= {m + "(" for m in re.findall(
                r"^[ \t]*(?:\w+[ \t]*=[ \t]*)?(\w+_explorer)\(", text, re.M)}
    return calls


# ------------------------------------------------------------------------------------------
# the browser
def find_chromium() -> str | None:
    """``$LECTURELIB_CHROMIUM``, else Debian's chromium (or another Chromium/Chrome on PATH)."""
    explicit = os.environ.get("LECTURELIB_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).exists() else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


def browser_unavailable() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return ("the Python package playwright is not installed (it comes with the "
                "instructor extra: pip install -e '.[instructor]', or `make test`)")
    if find_chromium() is None:
        return ("no Chromium: `make test` installs Debian's `chromium` package when run as "
                "root; elsewhere install it (apt-get install chromium) or set "
                "LECTURELIB_CHROMIUM=/path/to/chromium")
    return None


def need_browser() -> None:
    """Skip the calling test, with the reason, when the browser cannot be had here; fail it
    instead when ``LECTURELIB_REQUIRE_BROWSER=1`` (for a CI that must run it)."""
    import pytest
    reason = browser_unavailable()
    if reason is None:
        return
    if os.environ.get("LECTURELIB_REQUIRE_BROWSER") == "1":
        pytest.fail(f"LECTURELIB_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(f"browser test skipped: {reason}")


def announce(request, shots: "Screenshots") -> None:
    """Print where the screenshots are, past pytest's output capture."""
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(f"\n[browser screenshots: {len(shots.taken)} so far in {shots.folder}]")


class Browser:
    """Headless Chromium with a fresh profile, offline: requests outside localhost fail (no
    host name resolves) and are kept in ``outside``. (Not with Playwright's request
    interception, which stalled long streamed responses here now and then.)"""

    def __init__(self, shots: "Screenshots"):
        self.shots = shots
        self.outside: list[str] = []

    def __enter__(self) -> "Browser":
        from playwright.sync_api import sync_playwright
        self._pw = sync_playwright().start()
        try:
            self._browser = self._pw.chromium.launch(executable_path=find_chromium(),
                                                     headless=True, args=CHROMIUM_ARGS)
            self.context = self._browser.new_context(viewport={"width": 1400, "height": 1000})
            self.context.set_default_timeout(60_000)
            self.context.on("request", self._request)
        except BaseException:
            self._pw.stop()
            raise
        return self

    def _request(self, request):
        url = request.url
        if not (re.match(r"(https?|wss?)://(127\.0\.0\.1|localhost)[:/]", url) or
                url.startswith(("data:", "blob:", "file:"))):
            self.outside.append(url)

    def unexpected_outside(self) -> list[str]:
        return list(self.outside)

    def new_page(self):
        return self.context.new_page()

    def __exit__(self, *exc):
        try:
            self._browser.close()
        finally:
            self._pw.stop()


class Screenshots:
    """One folder per run for the screenshots the tests take."""
    _shared: "Screenshots | None" = None

    @classmethod
    def shared(cls) -> "Screenshots":
        """The folder of this test run, the same for every test module."""
        if cls._shared is None:
            cls._shared = cls()
        return cls._shared

    def __init__(self, folder: Path | None = None):
        given = os.environ.get("LECTURELIB_SCREENSHOTS")
        self.folder = Path(folder or given or tempfile.mkdtemp(prefix="lecturelib-browser-"))
        self.folder.mkdir(parents=True, exist_ok=True)
        self.taken: list[Path] = []

    def take(self, target, name: str, full_page: bool = False) -> Path | None:
        """Screenshot a page or a locator; never raises (a screenshot must not hide the
        failure it documents)."""
        path = self.folder / f"{slug(name)}.png"
        try:
            if full_page:
                target.screenshot(path=str(path), full_page=True)
            else:
                target.screenshot(path=str(path))
        except Exception as err:  # noqa: BLE001
            print(f"screenshot {path.name} failed: {err}", file=sys.stderr)
            return None
        self.taken.append(path)
        return path


# ------------------------------------------------------------------------------------------
# the servers
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux /proc; empty elsewhere)."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parents[int(stat.parent.name)] = int(fields[1])
        except (OSError, IndexError, ValueError):
            continue
    found, frontier = [], [pid]
    while frontier:
        p = frontier.pop()
        kids = [c for c, parent in parents.items() if parent == p]
        found += kids
        frontier += kids
    return found


class Server:
    """A server process on 127.0.0.1, ready once ``ready_path`` answers 200 (or, when it is
    None, once the port accepts connections). Stopping it (always, in ``__exit__``) sends
    SIGTERM, which shuts its kernels down, then kills what is left of the processes it
    started."""

    def __init__(self, argv: list[str], port: int, log: Path, cwd: Path,
                 ready_path: str | None = None, env: dict | None = None,
                 name: str = "server"):
        self.argv, self.port, self.log_path, self.cwd = argv, port, log, cwd
        self.url = f"http://127.0.0.1:{port}"
        self.ready_path, self.env, self.name = ready_path, env, name
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "Server":
        self.log = open(self.log_path, "w")
        env = dict(os.environ if self.env is None else self.env)
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        self.proc = subprocess.Popen(self.argv, cwd=self.cwd, env=env, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        try:
            self._wait_ready(timeout=180)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n"
                                   f"{self.log_tail()}")
            try:
                if self.ready_path is None:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=10):
                        return
                with urllib.request.urlopen(self.url + self.ready_path, timeout=10) as reply:
                    if reply.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.5)
        raise TimeoutError(f"{self.name} did not answer on {self.url} within {timeout:.0f} s:\n"
                           f"{self.log_tail()}")

    def get(self, path: str, timeout: float = 120) -> tuple[int, str]:
        with urllib.request.urlopen(self.url + path, timeout=timeout) as reply:
            return reply.status, reply.read().decode("utf-8", "replace")

    def log_tail(self, n: int = 40) -> str:
        self.log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def __exit__(self, *exc) -> None:
        proc = self.proc
        if proc is None:
            return
        below = _children(proc.pid)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)   # jupyter servers shut their kernels down on it
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        for pid in below:                      # what it started and left behind, by id
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        self.log.close()
        self.proc = None


def jupyterlab(work: Path, source: Path = NOTEBOOKS) -> Server:
    """JupyterLab on a free port of 127.0.0.1, no token, no browser, in a temporary copy of
    ``source`` (JupyterLab saves outputs into what it opens), with its own settings (no news
    pop-up, every cell in the page) and workspace."""
    root = work / "notebooks"
    shutil.copytree(source, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    settings = work / "lab-settings"
    for name, text in {
        "@jupyterlab/notebook-extension/tracker": '{"windowingMode": "none"}',
        "@jupyterlab/apputils-extension/notification":
            '{"fetchNews": "false", "checkForUpdates": false}',
    }.items():
        path = settings / f"{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (work / "runtime").mkdir(exist_ok=True)
    port = free_port()
    argv = [sys.executable, "-m", "jupyterlab", "--no-browser",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
            "--IdentityProvider.token=", "--ServerApp.password=", "--ServerApp.allow_root=True",
            f"--ServerApp.root_dir={root}", "--LabApp.expose_app_in_browser=True",
            f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={work / 'ws'}",
            "--LabApp.news_url=None"]
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(work / "runtime"))
    return Server(argv, port, work / "jupyterlab.log", cwd=root, ready_path="/api/status",
                  env=env, name="JupyterLab")


# ------------------------------------------------------------------------------------------
# a lesson's page
_KERNEL_IDLE = """() => {
  const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
  return !!k && k.status === 'idle';
}"""

# Every code cell has run (an execution count) or one failed (an error output), from the
# notebook's model: what the prompts show, without depending on how the page draws them.
_RUN_STATE = """() => {
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const cells = panel && panel.content && panel.content.model && panel.content.model.cells;
  if (!cells) return null;
  let pending = 0;
  for (let i = 0; i < cells.length; i++) {
    const cell = cells.get(i);
    if (cell.type !== 'code') continue;
    const error = cell.outputs.toJSON().find(o => o.output_type === 'error');
    if (error) return {status: 'error', cell: i, source: cell.sharedModel.getSource(),
                       error: error.ename + ': ' + error.evalue};
    if (cell.executionCount === null) pending++;
  }
  return pending === 0 ? {status: 'done'} : null;
}"""

_STATE = """(area) => ({
  text: area.innerText,
  figures: Array.from(area.querySelectorAll('img')).map(i => i.currentSrc || i.src),
})"""


@dataclasses.dataclass
class ExplorerState:
    text: str
    figures: list[str]

    @property
    def figure_key(self) -> str:
        return hashlib.sha1("\n".join(self.figures).encode()).hexdigest()


class LessonPage:
    """A lesson's page: find an explorer, move its slider, wait for the redraw, compare."""

    kind = "page"

    def __init__(self, page, shots: Screenshots, name: str):
        self.page, self.shots, self.name = page, shots, name

    def explorer_area(self, check: ExplorerCheck):
        raise NotImplementedError

    def state(self, area) -> ExplorerState:
        return ExplorerState(**area.evaluate(_STATE))

    def slider(self, area, label: str):
        sliders = area.locator(".widget-slider").filter(
            has=self.page.locator(".widget-label").get_by_text(label, exact=True))
        if sliders.count() != 1:
            labels = area.locator(".widget-slider .widget-label").all_inner_texts()
            raise AssertionError(f"expected one slider labelled {label!r} in the explorer, "
                                 f"found {sliders.count()}; its sliders are {labels}")
        return sliders.first

    def move_slider(self, area, label: str, to: float | str) -> tuple[float, float]:
        """Drag the slider's handle to ``to`` (a value, or "NN%" of the range) with the mouse,
        as a person would; if the drag lands a step off a value, type the value into the
        slider's readout (which ipywidgets lets a reader edit). Returns the slider's values
        before and after."""
        slider = self.slider(area, label)
        slider.scroll_into_view_if_needed()
        handle = slider.locator(".noUi-handle")
        value = lambda: float(handle.get_attribute("aria-valuenow"))  # noqa: E731
        lo, hi = (float(handle.get_attribute(a)) for a in ("aria-valuemin", "aria-valuemax"))
        start = value()
        fraction = isinstance(to, str)
        if fraction:
            to = lo + (hi - lo) * float(to.rstrip("%")) / 100
        if not lo <= to <= hi:
            raise AssertionError(f"{label!r} goes from {lo} to {hi}; cannot move it to {to}")
        width = slider.locator(".noUi-base").bounding_box()["width"]
        grip = handle.bounding_box()
        x, y = grip["x"] + grip["width"] / 2, grip["y"] + grip["height"] / 2
        self.page.mouse.move(x, y)
        self.page.mouse.down()
        self.page.mouse.move(x + width * (to - value()) / (hi - lo), y, steps=8)
        self.page.mouse.up()
        tolerance = 1e-6 * max(1.0, hi - lo)
        if not fraction and abs(value() - to) > tolerance:
            readout = slider.locator(".widget-readout")
            readout.click()
            self.page.keyboard.press("Control+A")
            self.page.keyboard.type(f"{to:g}")
            self.page.keyboard.press("Enter")
            self.page.wait_for_function(
                "([h, to, tol]) => "
                "Math.abs(parseFloat(h.getAttribute('aria-valuenow')) - to) <= tol",
                arg=[handle.element_handle(), to, tolerance], timeout=30_000)
        return start, value()

    def wait_for_redraw(self, area, before: ExplorerState, expect: str | None,
                        timeout: float = REDRAW_TIMEOUT_S) -> ExplorerState:
        """Wait until the figure changed (and ``expect`` shows, if given) and the explorer has
        been still for a second: the kernel got the new value, redrew, and the page shows it."""
        deadline = time.monotonic() + timeout
        last, still_since = None, None
        while time.monotonic() < deadline:
            now = self.state(area)
            changed = now.figure_key != before.figure_key and \
                (expect is None or re.search(expect, now.text) is not None)
            if now == last:
                if changed and still_since and time.monotonic() - still_since >= 1.0:
                    return now
            else:
                last, still_since = now, time.monotonic()
            time.sleep(0.25)
        return self.state(area)

    def check(self, check: ExplorerCheck) -> tuple[ExplorerState, ExplorerState]:
        """Run one registry line; screenshots before and after; AssertionError if the explorer
        did not answer as it should."""
        area = self.explorer_area(check)
        area.scroll_into_view_if_needed()
        before = self.state(area)
        assert before.figures, f"{check.explorer} shows no figure before the slider moved"
        if check.expect:
            assert not re.search(check.expect, before.text), \
                f"{check.expect!r} already shows before the slider moved:\n{before.text}"
        self.shots.take(area, f"{self.kind}-{check.id}-1-before")
        start, value = self.move_slider(area, check.slider, check.to)
        after = self.wait_for_redraw(area, before, check.expect)
        self.shots.take(area, f"{self.kind}-{check.id}-2-after")
        if isinstance(check.to, str):
            assert value != start, f"{check.slider!r} did not move from {start}"
        else:
            assert abs(value - check.to) < 1e-6 * max(1.0, abs(check.to)), (value, check.to)
        assert after.figures, f"{check.explorer} lost its figure after the slider moved"
        assert after.figure_key != before.figure_key, \
            f"the figure did not change after {check.slider!r} moved to {check.to}"
        if check.expect:
            assert re.search(check.expect, after.text), \
                f"after {check.slider!r} -> {check.to}, expected {check.expect!r} in:\n{after.text}"
        return before, after


class LabNotebook(LessonPage):
    """A lesson opened in JupyterLab."""
    kind = "lab"

    def open(self, url: str) -> "LabNotebook":
        """Open a notebook's page (``…/lab/tree/NB.ipynb``, or ``…/doc/tree/NB.ipynb`` for the
        single-document view) and wait for its kernel."""
        self.page.goto(url)
        self.page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
        self.page.wait_for_function(_KERNEL_IDLE, timeout=180_000, polling=500)
        return self

    def run_all_cells(self, timeout: float = RUN_TIMEOUT_S) -> dict:
        """*Run ▸ Run All Cells*, from the menu; wait until every cell has run, or one failed
        (JupyterLab then stops). Returns ``{"status": "done"}`` or ``{"status": "error",
        "cell": index, "source": ..., "error": "Name: message"}``."""
        self.page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        self.page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        return self.page.wait_for_function(_RUN_STATE, timeout=timeout * 1000,
                                           polling=500).json_value()

    def run_all(self, timeout: float = RUN_TIMEOUT_S) -> None:
        """Run the whole lesson and wait for the kernel to be idle; raises with the failing
        cell if one fails."""
        state = self.run_all_cells(timeout)
        if state["status"] == "error":
            raise AssertionError(f"{self.name}: cell {state['cell']} failed when run in "
                                 f"JupyterLab with {state['error']}\n{state['source']}")
        self.page.wait_for_function(_KERNEL_IDLE, timeout=timeout * 1000, polling=500)

    def explorer_area(self, check: ExplorerCheck):
        cells = self.page.locator(".jp-CodeCell").filter(
            has=self.page.locator(".jp-InputArea .cm-content", has_text=check.explorer))
        if cells.count() < 1:
            raise AssertionError(f"no cell in {check.notebook} calls {check.explorer!r}")
        area = cells.first.locator(".jp-Cell-outputArea")
        area.locator(".widget-slider").first.wait_for(state="visible", timeout=120_000)
        area.locator("img").first.wait_for(state="visible", timeout=120_000)
        return area
