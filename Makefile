# podium: make demo | make test | make lint | make bench
# Each target installs what it needs into $(VENV) first (a fresh machine needs only Python and pip).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PODIUM ?= $(BIN)/podium
STAMP := $(VENV)/.podium-installed
# SKIP_INSTALL=1 runs a target with whatever is already installed (the e2e test uses it).
INSTALL := $(if $(SKIP_INSTALL),,$(STAMP))

.PHONY: demo scale-demo test test-fast lint format bench install clean mutate

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[all,dev]'
	touch $(STAMP)

install: $(STAMP)

# the triage example on the emulators of Bedrock, Vertex and Azure, then with no cloud: examples/demo.py
demo: $(INSTALL)
	$(BIN)/python examples/demo.py

# the research example on Temporal: two workers, a PostgreSQL store, the Bedrock emulator (offline)
scale-demo: $(INSTALL)
	$(BIN)/python examples/scale_demo.py

test: $(INSTALL)
	$(BIN)/python -m pytest -q

test-fast: $(INSTALL)
	$(BIN)/python -m pytest -q -m "not slow"

lint: $(INSTALL)
	$(BIN)/ruff check podium tests bench examples
	$(BIN)/ruff format --check podium tests bench examples

format: $(INSTALL)
	$(BIN)/ruff format podium tests bench examples
	$(BIN)/ruff check --fix podium tests bench examples

bench: $(INSTALL)
	$(BIN)/python -m pip install --quiet --upgrade -r bench/requirements.txt
	$(BIN)/python bench/run.py

# mutation testing of the engine core with mutmut (docs/testing.md); not part of CI (an hour or more
# on 2 cores). MODULE=scheduler (or steps, store.*, ...) runs one module; JOBS sets the workers.
# mutants/ must exist before mutmut starts: PYTHONPATH points into it, for the tests' subprocesses.
MODULE ?=
JOBS ?= 2
mutate: $(INSTALL)
	mkdir -p mutants
	PYTHONPATH=$(CURDIR)/mutants nice -n 10 $(BIN)/mutmut run --max-children $(JOBS) "podium.core.$(MODULE)*"
	$(BIN)/mutmut results

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache mutants
