# Two commands on a fresh machine: `make run` starts everything, `make test` passes the tests.
# Both create .venv, install the pinned dependencies and generate the gRPC stubs first.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PROTOS := $(wildcard protos/users/v1/*.proto)
GEN    := users/v1/.generated

.PHONY: install protos run run-command run-projector run-query test lint bench clean

install: $(VENV)/.installed

$(VENV)/.tools:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q grpcio-tools==1.85.1 protobuf==7.36.2
	touch $@

# Generated code is built here, never committed.
$(GEN): $(VENV)/.tools $(PROTOS)
	$(BIN)/python -m grpc_tools.protoc -Iprotos --python_out=. --pyi_out=. --grpc_python_out=. $(PROTOS)
	touch $@

$(VENV)/.installed: $(GEN) pyproject.toml
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

protos: $(GEN)

# PostgreSQL and the three services until Ctrl-C; writes what it uses to .run/ (env, *.pid).
run: install
	$(BIN)/python -m devtools.run

# One service in the foreground, joining the stack `make run` runs (its DSNs and ports from .run/env);
# it stops when `make run` does.
run-command run-projector run-query: run-%: install
	$(BIN)/python -m devtools.run --service $*_service

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# ruff (lint and format), mypy over the services and tools, and buf lint over the API.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	MYPYPATH=. $(BIN)/mypy
	cd protos && ../$(BIN)/buf lint

# The bench extra (the eventsourcing peer and matplotlib) is installed only for `make bench`.
$(VENV)/.bench: $(VENV)/.installed pyproject.toml
	$(BIN)/pip install -q -e '.[dev,bench]'
	touch $@

# The bench's own unit tests (a second), then the benchmark.
bench: install $(VENV)/.bench
	$(BIN)/python -m pytest -q -p no:cacheprovider bench/tests
	$(BIN)/python -m bench $(if $(QUICK),--quick,)

clean:
	rm -rf $(VENV) users build *.egg-info .pytest_cache
