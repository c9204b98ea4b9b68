# Every target creates .venv and installs the project into it first, so a fresh machine needs
# nothing but Python 3.11+ and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install run test lint format bench soak clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

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
