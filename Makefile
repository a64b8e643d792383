# maestro-lstm: `make demo` runs the whole study locally; `make test` is what CI runs.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STATE ?= $(CURDIR)/.state

.PHONY: venv test lint demo up down clean

$(BIN)/lstm: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "make: $(PYTHON) not found (Python 3.11 is needed)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

venv: $(BIN)/lstm

lint: venv
	$(BIN)/ruff check lstm flows tests

test: lint
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) $(STATE)
