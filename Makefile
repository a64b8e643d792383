# maestro-lstm. `make demo`: the whole study on the embedded data with the real local stack.
# `make test`: lint, every test, and the fast tier again on perturbed arithmetic (what CI runs).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
export MAESTRO_LSTM_HOME ?= $(CURDIR)/.state
export PREFECT_API_URL ?= http://127.0.0.1:4200/api
export MLFLOW_TRACKING_URI ?= http://127.0.0.1:5000
export OPTUNA_DASHBOARD_URL ?= http://127.0.0.1:8080
export PREFECT_HOME ?= $(MAESTRO_LSTM_HOME)/prefect
export PREFECT_LOCAL_STORAGE_PATH ?= $(MAESTRO_LSTM_HOME)/prefect/results
SPACE ?= smoke
TRIALS ?= 4
TRIALS_PER_GPU ?= 1

.PHONY: venv lint test test-fast test-perturbed demo up down status deploy sweep report clean compose-base \
	compose-build compose-smoke

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "make: $(PYTHON) not found (Python 3.11 is needed)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

venv: $(VENV)/.installed

lint: venv
	$(BIN)/ruff check lstm flows tests

# Tiers by the real components a test starts (pyproject.toml's markers): e2e (Prefect and MLflow servers),
# postgres (a PostgreSQL server), docker (docker compose), slow (`lstm bench`). test-fast starts none of them.
FAST := not e2e and not postgres and not docker and not slow

# --durations=30: every log says where the time went
test: lint
	$(BIN)/pytest -q --durations=30
	$(MAKE) --no-print-directory test-perturbed

test-fast: lint
	$(BIN)/pytest -q -m "$(FAST)"

# The fast tier on other float results, as another processor would give them: other SIMD kernels
# (ATEN_CPU_CAPABILITY), two threads, deterministic algorithms. A test that holds only on one machine's
# arithmetic fails here.
test-perturbed: venv
	ATEN_CPU_CAPABILITY=default MAESTRO_LSTM_TEST_THREADS=2 MAESTRO_LSTM_TEST_DETERMINISTIC=1 \
		$(BIN)/pytest -q -p no:cacheprovider -m "$(FAST)"
	ATEN_CPU_CAPABILITY=avx2 $(BIN)/pytest -q -p no:cacheprovider -m "$(FAST)"

# TRIALS_PER_GPU: trials each trial worker (one per GPU) runs at once, its `--limit`; how to pick it: README.md
up: venv
	$(BIN)/python -m flows.ops.stack up --trials-per-gpu $(TRIALS_PER_GPU)

down:
	@test -x $(BIN)/python && $(BIN)/python -m flows.ops.stack down || true

status: venv
	$(BIN)/python -m flows.ops.stack status

deploy: up
	$(BIN)/python -m flows.ops.deploy

sweep: deploy
	$(BIN)/prefect deployment run study/sweep --watch -p space=$(SPACE) -p n_trials=$(TRIALS)

report: venv  # STUDY=NAME: that study; else the sweep that finished last
	$(BIN)/python -m flows.ops.report $(if $(STUDY),--study $(STUDY))

demo: sweep report

clean: down
	rm -rf $(VENV) $(MAESTRO_LSTM_HOME)

# The docker stack (docker/README.md). compose-build: the images, TORCH=cuda|cpu, on BASE_IMAGE (python:3.11-slim;
# a local Debian base when no registry answers), CA_BUNDLE as a build secret. compose-smoke: the CPU stack brought
# up, a 2-trial sweep through its workers, checked, taken down. compose-base: the local Debian base image alone.
TORCH ?= cuda
BASE_IMAGE ?= python:3.11-slim
CA_BUNDLE ?= /etc/ssl/certs/ca-certificates.crt
export TORCH BASE_IMAGE CA_BUNDLE

compose-base:
	bash docker/base-image.sh

compose-build:
	PIP="$(BIN)/pip" bash docker/images.sh

compose-smoke:
	PIP="$(BIN)/pip" bash docker/smoke.sh
