# Two entry points: `make run` (the main study) and `make test` (the suite). Both set up .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# In this workspace the faces live beside the repo (the library never copies them in); elsewhere dpmi uses
# $DPMI_DATA or the cache that `dpmi data fetch` fills.
SHARED_FACES := $(abspath ../shared/datasets/att_faces)
ifneq ($(wildcard $(SHARED_FACES)/s1/1.pgm),)
export DPMI_DATA ?= $(SHARED_FACES)
endif
STAMP := $(VENV)/.installed

.PHONY: setup data run frontier test lint bench clean

setup: $(STAMP)

# Torch is pinned to the CPU wheel first: pyproject says torch>=2.2, and a bare resolve would pull a CUDA build.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "torch==2.13.0"
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# The faces, before the study needs them: a valid copy (at $DPMI_DATA, else the cache) is verified and kept;
# where none is found, the archive is downloaded (with a progress bar), every image's SHA-256 checked against
# the list shipped with dpmi, and the copy installed. FACES_URL=... fetches from a mirror.
FACES_URL ?=
data: $(STAMP)
	$(VENV)/bin/dpmi data fetch $(if $(FACES_URL),--url "$(FACES_URL)")

run: data
	$(VENV)/bin/dpmi run --jobs 2

# The full utility-leakage frontier: every defense at its documented grid (examples/frontier.toml, minutes).
frontier: data
	$(VENV)/bin/dpmi run --config examples/frontier.toml --seeds 3 --jobs 2 --out runs/frontier-softmax-3seed

# Lint and type checks first (seconds), then the suite on both cores: pytest-xdist keeps each test file on one
# worker (--dist loadfile), so module-scoped fixtures (a Ray cluster, a trained target) are built once.
test: lint browser
	$(PY) -m pytest -q -n 2 --dist loadfile

# Headless Chromium and its driver for the lineup page's browser test (tests/test_lineup_browser.py).
.PHONY: browser
browser:
	command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium chromium-driver)

lint: $(STAMP)
	$(VENV)/bin/ruff check src benchmarks
	$(VENV)/bin/ruff format --check src benchmarks
	$(VENV)/bin/mypy

bench: $(STAMP)
	for b in benchmarks/*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) runs build src/*.egg-info
