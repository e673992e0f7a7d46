# Two entry points: `make run` (the main study) and `make test` (the suite). Both set up .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The faces live beside the repo; the library never copies them in.
export DPMI_DATA ?= $(abspath ../shared/datasets/att_faces)
STAMP := $(VENV)/.installed

.PHONY: setup run test bench clean

setup: $(STAMP)

# Torch is pinned to the CPU wheel first: pyproject says torch>=2.2, and a bare resolve would pull a CUDA build.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "torch==2.13.0"
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/dpmi run --data "$(DPMI_DATA)"

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	for b in benchmarks/*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) runs build src/*.egg-info
