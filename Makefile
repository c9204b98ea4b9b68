# Every target creates .venv and installs the project into it first, so a fresh machine needs
# nothing but Python 3.11+ and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

# Installs are pinned: exact versions with sha256 hashes, for Linux, macOS and Windows on
# CPython 3.11+ (a universal resolution). The image installs the runtime lock: the project's
# dependencies and the `postgres` extra (asyncpg), so one image runs on SQLite or PostgreSQL;
# `make install` (and so CI) the test lock: the same runtime pins, plus the test extra, pip and
# the build backend. `make lock` re-resolves both to the newest releases pyproject.toml allows;
# `make lock LOCK_UPGRADE=` keeps every pin that still fits and only adds what changed.
RUNTIME_LOCK := requirements/runtime.lock
TEST_LOCK    := requirements/test.lock
UV_VERSION   := 0.13.9
LOCK_UPGRADE ?= --upgrade
UV_COMPILE    = $(BIN)/uv pip compile --quiet --universal --python-version 3.11 \
                --generate-hashes $(LOCK_UPGRADE) --custom-compile-command 'make lock'

.PHONY: install lock run test lint format bench soak clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Every package from the lock, each checked against its hashes; then the project alone, built
# by the locked setuptools (no isolated build environment fetching its own); then `pip check`,
# which fails when a dependency in pyproject.toml is missing from the lock or out of its range
# (run `make lock`; tests/test_deploy_files.py checks the test extra too).
$(STAMP): pyproject.toml $(TEST_LOCK) | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r $(TEST_LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m pip check
	touch $(STAMP)

install: $(STAMP)

# The runtime lock first; the test lock is constrained to its pins, so the image runs exactly
# the versions that CI tested.
lock: | $(BIN)/python
	$(BIN)/python -m pip install --quiet 'uv==$(UV_VERSION)'
	$(UV_COMPILE) pyproject.toml --extra postgres -o $(RUNTIME_LOCK)
	$(UV_COMPILE) pyproject.toml requirements/build.in --extra postgres --extra test \
		--constraints $(RUNTIME_LOCK) -o $(TEST_LOCK)

run: install
	$(BIN)/python -m bot run

lint: install
	$(BIN)/ruff check bot tests bench
	$(BIN)/ruff format --check bot tests bench
	$(BIN)/mypy bot

format: install
	$(BIN)/ruff format bot tests bench
	$(BIN)/ruff check --fix bot tests bench

test: lint
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python -m bench

# Ten minutes of mixed load through the fake Discord; not part of `make test`.
soak: install
	$(BIN)/python -m bench.soak --minutes 10 --servers 1000

clean:
	rm -rf $(VENV) build *.egg-info
