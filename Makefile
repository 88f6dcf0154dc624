# The two commands a newcomer needs:
#   make demo   installs what is needed and runs the real experiment, ending in a report
#   make test   installs what is needed and runs the tests
# Both create ./.venv on first use and reuse it afterwards.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
# The CPU build of torch; set TORCH_PIP_ARGS (e.g. an --index-url for CPU wheels) on machines
# where plain PyPI would pull the CUDA build.
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=
STAMP := $(VENV)/.tunesafe-installed
DEMO_ARGS ?=
PYTEST_ARGS ?=

.PHONY: demo demo-quick test test-fast lint install clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	$(PY) -m pip install -q -e ".[train,dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/tunesafe demo $(DEMO_ARGS)

demo-quick: $(STAMP)
	$(VENV)/bin/tunesafe demo --quick $(DEMO_ARGS)

test: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(PY) -m pytest -q $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not real_model" $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
