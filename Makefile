# Every target installs what it needs first, so each works on a fresh machine.
UV ?= $(shell command -v uv 2>/dev/null || echo $(HOME)/.local/bin/uv)
PYTEST_ARGS ?=
# Extra arguments of `updatedesk dev`, e.g. `make dev DEV_ARGS=--reset` to start over.
DEV_ARGS ?=

.PHONY: help uv install install-runtime dev test test-fast lint format schema bench reliability services

help:
	@echo "make dev          run the service on the embedded default (SQLite, in-process queue);"
	@echo "                  installs only the runtime dependencies; DEV_ARGS=--reset starts over"
	@echo "make test         run the whole test suite on SQLite and PostgreSQL"
	@echo "make test-fast    SQLite only, no slow or browser tests, stop at the first failure"
	@echo "make lint         ruff check, ruff format --check, mypy"
	@echo "make format       format the code"
	@echo "make schema       re-export schema.graphql from the code"
	@echo "make bench        benchmarks (PostgreSQL + Redis)"
	@echo "make reliability  fault, race, fuzz and attack trials at full counts"

uv:
	@command -v $(UV) >/dev/null 2>&1 || python3 -m pip install --quiet --user uv

# Everything, the dev tools too (pytest, Playwright, mypy, ruff): for tests and lint.
install: uv
	$(UV) sync --frozen

# Only what the service needs. --inexact keeps dev tools that `make install` put there.
install-runtime: uv
	$(UV) sync --frozen --no-dev --inexact

services:
	@bash .ci/services.sh

dev: install-runtime
	$(UV) run --no-sync updatedesk dev $(DEV_ARGS)

test: install services
	@bash .ci/install-chromium.sh >/dev/null
	@bash .ci/install-caddy.sh >/dev/null
	$(UV) run pytest $(PYTEST_ARGS)

test-fast: install
	UPDATEDESK_TEST_BACKENDS=sqlite $(UV) run pytest -x -m "not slow and not browser" $(PYTEST_ARGS)

lint: install
	$(UV) run ruff check .
	$(UV) run ruff format --check .
	$(UV) run mypy

format: install
	$(UV) run ruff check --fix .
	$(UV) run ruff format .

schema: install
	$(UV) run python -m schema > schema.graphql

bench: install services
	$(UV) run python -m bench

reliability: install services
	UPDATEDESK_RELIABILITY_FULL=1 $(UV) run pytest -m reliability -p no:randomly $(PYTEST_ARGS)
