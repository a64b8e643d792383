"""Where state lives and which servers to talk to; every value can be overridden by environment."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def state_dir() -> Path:
    """Prepared data, trial run directories, the Optuna journal: `$MAESTRO_LSTM_HOME` or `.state/`."""
    return Path(os.environ.get("MAESTRO_LSTM_HOME", REPO / ".state"))


def tracking_uri() -> str:
    return os.environ.get("MLFLOW_TRACKING_URI", "http://127.0.0.1:5000")


def prefect_ui() -> str:
    return os.environ.get("PREFECT_API_URL", "http://127.0.0.1:4200/api").removesuffix("/api")


def dashboard_url() -> str:
    """optuna-dashboard, which the stacks serve over the study storage (flows/ops/dashboard.py)."""
    return os.environ.get("OPTUNA_DASHBOARD_URL", "http://127.0.0.1:8080")
