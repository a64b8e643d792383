"""The servers' credentials, through each server's own mechanism, set by the clients' own variables.

- Prefect: the server takes PREFECT_SERVER_API_AUTH_STRING and answers 401 to any API call without it (its
  health check excepted); every client and worker sends PREFECT_API_AUTH_STRING (HTTP Basic). One value, both.
- MLflow: `mlflow server --app-name basic-auth`, whose users live in an auth database of their own
  (MLFLOW_AUTH_CONFIG_PATH names it); the admin is created at the first start from MLFLOW_AUTH_ADMIN_USERNAME
  and _PASSWORD. Clients send MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD.

`make up` uses them when those client variables are set in its environment (`Credentials.from_env`), and
then every process it starts, the workers' flow runs included, carries them; unset, the local stack runs
without (loopback only). docker/compose.yaml always requires them, from docker/.env.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

PREFECT_CLIENT_AUTH = "PREFECT_API_AUTH_STRING"
PREFECT_SERVER_AUTH = "PREFECT_SERVER_API_AUTH_STRING"
MLFLOW_USER, MLFLOW_PASSWORD = "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"
MLFLOW_MIN_PASSWORD = 12  # MLflow 3.17's rule for the admin it creates (mlflow.server.auth)


@dataclass(frozen=True)
class Credentials:
    prefect_auth: str = ""  # empty: the Prefect server asks for none
    mlflow_user: str = ""  # both empty: MLflow without its basic-auth app
    mlflow_password: str = ""

    def __post_init__(self) -> None:
        if bool(self.mlflow_user) != bool(self.mlflow_password):
            raise ValueError(f"{MLFLOW_USER} and {MLFLOW_PASSWORD} go together: set both or neither")
        if self.mlflow_password and len(self.mlflow_password) < MLFLOW_MIN_PASSWORD:
            # else the server would fail at start, and `make up` would wait out its timeout to say so
            raise ValueError(f"{MLFLOW_PASSWORD} is too short: MLflow's basic-auth app takes "
                             f"{MLFLOW_MIN_PASSWORD} characters or more")

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Credentials:
        return cls(env.get(PREFECT_CLIENT_AUTH, ""), env.get(MLFLOW_USER, ""), env.get(MLFLOW_PASSWORD, ""))

    def client_env(self) -> dict[str, str]:
        """What a client of the stack needs in its environment (workers pass it on to their flow runs)."""
        env = {PREFECT_CLIENT_AUTH: self.prefect_auth} if self.prefect_auth else {}
        if self.mlflow_user:
            env |= {MLFLOW_USER: self.mlflow_user, MLFLOW_PASSWORD: self.mlflow_password}
        return env

    def prefect_server_env(self) -> dict[str, str]:
        return {PREFECT_SERVER_AUTH: self.prefect_auth} if self.prefect_auth else {}

    def mlflow_server(self, data: Path) -> tuple[list[str], dict[str, str]]:
        """`mlflow server`'s extra arguments and environment: the basic-auth app, its user database under `data`."""
        if not self.mlflow_user:
            return [], {}
        config = data / "basic_auth.ini"
        # READ, MLflow's default, for users the admin adds later; the password stays out of the file
        config.write_text(f"[mlflow]\ndefault_permission = READ\ndatabase_uri = sqlite:///{data / 'basic_auth.db'}\n"
                          f"admin_username = {self.mlflow_user}\n")
        return ["--app-name", "basic-auth"], {"MLFLOW_AUTH_CONFIG_PATH": str(config),
                                              "MLFLOW_AUTH_ADMIN_USERNAME": self.mlflow_user,
                                              "MLFLOW_AUTH_ADMIN_PASSWORD": self.mlflow_password}
