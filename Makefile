# Two commands on a fresh machine: `make run` starts everything, `make test` passes the tests.
# Both create .venv, install the pinned dependencies and generate the gRPC stubs first.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PROTOS := $(wildcard protos/users/v1/*.proto)
GEN    := users/v1/.generated
# Every dependency, transitive ones included, comes pinned with its hashes from the requirements*.lock files
# (`make lock` regenerates them from pyproject.toml; see README "Dependencies").
LOCK_FLAGS := --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links \
              $(if $(UPGRADE),--upgrade,)

.PHONY: install protos lock run run-command run-projector run-query test fuzz lint bench chaos clean

install: $(VENV)/.installed

$(VENV)/.tools: requirements-dev.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --require-hashes -r requirements-dev.lock
	touch $@

# Generated code is built here, never committed: setup.py's build hook, the same one that puts
# the stubs into every wheel and sdist.
$(GEN): $(VENV)/.tools $(PROTOS) setup.py
	$(BIN)/python setup.py -q stubs
	touch $@

# The project itself, editable; its dependencies are already there from the lock.
$(VENV)/.installed: $(GEN) pyproject.toml
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	touch $@

protos: $(GEN)

# Re-resolves the lock files after a change to pyproject.toml; UPGRADE=1 also moves every
# transitive pin to its newest release. Each file is constrained by the runtime one, so all agree.
lock: $(VENV)/.tools
	$(BIN)/pip-compile $(LOCK_FLAGS) -o requirements.lock pyproject.toml
	$(BIN)/pip-compile $(LOCK_FLAGS) -c requirements.lock --only-build-deps --build-deps-for wheel \
	  -o requirements-build.lock pyproject.toml
	$(BIN)/pip-compile $(LOCK_FLAGS) -c requirements.lock --extra dev --all-build-deps \
	  -o requirements-dev.lock pyproject.toml
	$(BIN)/pip-compile $(LOCK_FLAGS) -c requirements-dev.lock --extra bench -o requirements-bench.lock pyproject.toml

# PostgreSQL and the three services until Ctrl-C; writes what it uses to .run/ (env, *.pid).
run: install
	$(BIN)/python -m devtools.run

# One service in the foreground, joining the stack `make run` runs (its DSNs and ports from .run/env);
# it stops when `make run` does.
run-command run-projector run-query: run-%: install
	$(BIN)/python -m devtools.run --service $*_service

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The hostile-input property test with 4,000 generated requests per RPC test (32,000 in all), not 400.
fuzz: install
	USERS_FUZZ_PROFILE=fuzz $(BIN)/python -m pytest -q -p no:cacheprovider --hypothesis-show-statistics tests/e2e/test_hostile_input_property.py

# ruff (lint and format), mypy over the services and tools, and buf lint over the API.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	MYPYPATH=. $(BIN)/mypy
	cd protos && ../$(BIN)/buf lint

# The bench extra (the eventsourcing peer and matplotlib) is installed only for `make bench`.
$(VENV)/.bench: $(VENV)/.installed requirements-bench.lock
	$(BIN)/pip install -q --require-hashes -r requirements-bench.lock
	touch $@

# The bench's own unit tests (a second), then the benchmark.
bench: install $(VENV)/.bench
	$(BIN)/python -m pytest -q -p no:cacheprovider bench/tests
	$(BIN)/python -m bench $(if $(QUICK),--quick,) $(if $(SCALE),--scale,)

# The fault suite (RELIABILITY.md): two of each service under load while a seeded nemesis injects
# FAULTS faults; 0 violations or it fails. SOAK=1: CHAOS_SECONDS of steady load with faults that keep
# the processes alive, sampling their memory, descriptors and connections. Plots need matplotlib.
SEED          ?= 1
FAULTS        ?= 200
CHAOS_SECONDS ?= 1800
CHAOS_RESULTS ?= tests/chaos/results
chaos: install $(VENV)/.bench
	$(BIN)/python -m tests.chaos --seed $(SEED) --faults $(FAULTS) --seconds $(CHAOS_SECONDS) \
		--out $(CHAOS_RESULTS) $(if $(SOAK),--soak,)

clean:
	rm -rf $(VENV) users build *.egg-info .pytest_cache
