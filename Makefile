# Two commands: `make lab` (set up + open the course) and `make test` (set up + every test).
# Both create the virtual environment in .venv on first use and are quick afterwards.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: setup lab test unit notebooks bench clean browser assignments present checkpoints gpu-check

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -e ".[lab,test,instructor]"
	touch $(STAMP)

setup: $(STAMP)

# As root (a container, a CI box) Jupyter refuses to start unless told it may, as tools/present.py does.
lab: setup
	$(VENV)/bin/jupyter lab notebooks/ $$([ "$$(id -u)" = 0 ] && echo --allow-root)

# The tests run on every core, up to 4 (pytest-xdist; conftest.py keeps each lesson's notebook,
# homework and browser checks together and queues the longest first).
# JOBS=0 runs them in this one process.
JOBS   ?= $(shell n=$$(nproc 2>/dev/null || echo 2); echo $$(( n > 4 ? 4 : n )))
PYTEST  = $(PY) -m pytest -n $(JOBS)

# Everything: unit tests, every lesson under nbval, the homework round trip, the browser checks.
test: setup browser
	$(PYTEST)

# The inner loop: unit tests only (no notebook, no nbgrader, no browser).
unit: setup
	$(PYTEST) tests -m "not browser and not nbgrader and not notebook"

notebooks: setup
	$(PYTEST) notebooks

bench: setup
	for f in benchmarks/bench_*.py; do $(PY) $$f || exit 1; done

# The Triton kernels checked on a GPU, every figure in one report (README "On a GPU"). No
# set-up step: a GPU machine's image has what it needs and no network. Runs with .venv's python
# when there is one, else python3; without CUDA it is the dry run (a rehearsal at small sizes).
# ARGS="--report PATH" writes the report elsewhere than outputs/gpu_check.json.
gpu-check:
	$$(test -x $(PY) && echo $(PY) || echo python3) tools/gpu_check.py $(ARGS)

# Rebuild the shipped weights from scratch (deterministic from the seed; ~25 min on 2 cores).
# Each command updates lecturelib/checkpoints/MANIFEST.json with the new SHA-256.
checkpoints: setup
	$(PY) -m lecturelib train backbone
	$(PY) -m lecturelib train rcnn
	$(PY) -m lecturelib train fast_rcnn
	$(PY) -m lecturelib train faster_rcnn
	$(PY) -m lecturelib train faster_rcnn --schedule alternating
	$(PY) -m lecturelib train mask_rcnn

# The browser tests drive the system's Chromium (Playwright downloads no browser of its own).
# Installs Debian's `chromium` package when none is found and this runs as root with apt;
# otherwise says why the browser tests will be skipped. Instant once Chromium is there.
browser:
	@if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
	    || [ -n "$$LECTURELIB_CHROMIUM" ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "Installing Chromium for the browser tests (apt-get install chromium)..."; \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	        chromium </dev/null >/dev/null; } \
	    || echo "Could not install Chromium: the browser tests will be skipped."; \
	else \
	    echo "No Chromium (apt-get install chromium, or set LECTURELIB_CHROMIUM=/path):" \
	         "the browser tests will be skipped."; \
	fi

# Homework: the student version of every lesson, with nbgrader, into release/ (not committed).
assignments: setup
	$(PY) tools/make_assignments.py

# Lecture mode: a lesson in JupyterLab for the projector (large type, the lesson alone, a
# scratch copy in .lecture/, 127.0.0.1 only): make present LESSON=02
present: setup
	$(PY) tools/present.py $(LESSON)

clean:
	rm -rf $(VENV) .pytest_cache
