# The two commands a newcomer needs:
#   make demo   installs what is needed and runs the real experiment, ending in a report
#   make test   installs what is needed and runs the tests
# Both create ./.venv on first use and reuse it afterwards.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# pyproject.toml gives version ranges; constraints.txt pins the exact versions the demo and CI use.
CONSTRAINTS := constraints.txt
# torch is installed first, pinned by constraints.txt; set TORCH_PIP_ARGS (e.g. an --index-url for
# CPU wheels) on machines where plain PyPI would pull the CUDA build. TORCH_SPEC may name a local
# build of the pinned version (torch==2.13.0+cpu); another version means editing constraints.txt.
TORCH_SPEC ?= $(shell sed -n 's/^\(torch==[^ ;#]*\).*/\1/p' $(CONSTRAINTS))
TORCH_PIP_ARGS ?=
# llama-cpp-python has no binary wheels on PyPI: its wheel is built from the sdist once per machine
# (about 2 min on 2 cores) and kept here with the sdist (tunesafe reads the GGUF converters from it).
LLAMA_WHEELHOUSE ?= $(HOME)/.cache/tunesafe-wheels
LLAMA_CPP_VERSION := $(shell sed -n 's/^llama-cpp-python==\([^ ;#]*\).*/\1/p' $(CONSTRAINTS))
LLAMA_SDIST := $(LLAMA_WHEELHOUSE)/llama_cpp_python-$(LLAMA_CPP_VERSION).tar.gz
NPROC := $(shell nproc 2>/dev/null || echo 2)
# tunesafe audits text models only: llama-cpp-python's multimodal library (mtmd) is not built, nor
# llama.cpp's common library that only mtmd and llama.cpp's own tools use (cmake/llama-cpp-text-only.cmake).
LLAMA_CMAKE_ARGS ?= -DLLAVA_BUILD=OFF -DCMAKE_PROJECT_llama.cpp_INCLUDE_BEFORE=$(CURDIR)/cmake/llama-cpp-text-only.cmake
# The wheel is kept in a subfolder named by a hash of these flags and of cmake/*.cmake, so a wheel
# built with other flags (say, before cmake/llama-cpp-text-only.cmake left out ggml's AMX kernels,
# which segfault on CPUs with AMX) is never reused: changing them builds and installs a new wheel.
LLAMA_BUILD_ID := $(shell { echo '$(subst $(CURDIR),.,$(LLAMA_CMAKE_ARGS))'; cat cmake/*.cmake; } | sha256sum | cut -c1-12)
LLAMA_WHEELS := $(LLAMA_WHEELHOUSE)/llama-cpp-python-$(LLAMA_CPP_VERSION)-$(LLAMA_BUILD_ID)
LLAMA_STAMP := $(VENV)/.llama-cpp-$(LLAMA_CPP_VERSION)-$(LLAMA_BUILD_ID)
# tunesafe finds the sdist's GGUF converters (LoRA adapters for the llama.cpp backend) there too.
export TUNESAFE_WHEELHOUSE ?= $(LLAMA_WHEELHOUSE)
STAMP := $(VENV)/.tunesafe-installed
DEMO_ARGS ?=
PYTEST_ARGS ?=

.PHONY: demo demo-quick test test-fast lint install llama-wheel clean

# The llama-cpp-python wheel builds (compiling on every core) while torch and the other packages
# install (mostly unpacking on one), then the last install adds it.
$(STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(MAKE) --no-print-directory llama-wheel & wheel=$$!; \
	$(PIP) install -q -c $(CONSTRAINTS) $(TORCH_PIP_ARGS) "$(TORCH_SPEC)" \
		&& $(PIP) install -q -c $(CONSTRAINTS) -e ".[train,dev,integrations]"; installed=$$?; \
	wait $$wheel && test $$installed -eq 0
	$(PIP) install -q -c $(CONSTRAINTS) --find-links $(LLAMA_WHEELS) -e ".[train,dev,llamacpp,integrations]"
	touch $(STAMP)

# The wheel built with these flags, in place of one built with others (the version is the same, so
# the install above keeps whichever is there). Named by LLAMA_BUILD_ID: a change of flags reinstalls.
$(LLAMA_STAMP): | $(STAMP)
	$(MAKE) --no-print-directory llama-wheel
	$(PIP) install -q --no-deps --force-reinstall $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl
	rm -f $(VENV)/.llama-cpp-*
	touch $@

install: $(STAMP) $(LLAMA_STAMP)

# The llama-cpp-python sdist in LLAMA_WHEELHOUSE and the wheel built from it with these flags in
# LLAMA_WHEELS; reused when present.
llama-wheel:
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	mkdir -p $(LLAMA_WHEELHOUSE)
	test -f $(LLAMA_SDIST) || \
		$(PIP) download -q --no-deps --no-binary :all: -d $(LLAMA_WHEELHOUSE) llama-cpp-python==$(LLAMA_CPP_VERSION)
	@if ls $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl >/dev/null 2>&1; then \
		echo "llama-cpp-python $(LLAMA_CPP_VERSION): reusing the wheel in $(LLAMA_WHEELS)"; \
	else \
		echo "llama-cpp-python $(LLAMA_CPP_VERSION): building its wheel once, about 2 min on 2 cores ($(LLAMA_WHEELS))"; \
		rm -rf $(LLAMA_WHEELS).tmp && \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=$(NPROC) \
			$(PIP) wheel -q --no-deps -w $(LLAMA_WHEELS).tmp $(LLAMA_SDIST) && \
		rm -rf $(LLAMA_WHEELS) && mv $(LLAMA_WHEELS).tmp $(LLAMA_WHEELS); \
	fi

demo: install
	$(VENV)/bin/tunesafe demo $(DEMO_ARGS)

demo-quick: install
	$(VENV)/bin/tunesafe demo --quick $(DEMO_ARGS)

test: install
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy
	$(PY) -m pytest -q $(PYTEST_ARGS)

test-fast: install
	$(PY) -m pytest -q -m "not real_model" $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/ruff format --check src tests benchmarks

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache
