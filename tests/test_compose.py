"""docker/compose.yaml renders with docker/.env.example, binds loopback by default, holds no secrets, and wires
the workers: sweeps on pool `cpu`, trials on pool `gpu` one at a time per GPU, GPUs only with compose.gpu.yaml.

Validated with `docker-compose config` (Debian 12's v1, 1.29) or `docker compose config` (v2): neither needs a
Docker engine. Without either, the tests skip on a developer's machine and fail in CI (CI=true). The stack
brought up for real is `make compose-smoke` (docker/smoke.sh), which needs an engine.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from flows import names

pytestmark = pytest.mark.docker
REPO = Path(__file__).resolve().parents[1]
DOCKER = REPO / "docker"
COMPOSE = DOCKER / "compose.yaml"
COMPOSE_GPU = DOCKER / "compose.gpu.yaml"
ENV_EXAMPLE = DOCKER / ".env.example"
TRIAL_WORKERS = ("worker-gpu", "worker-gpu-1")
SERVICES = {"postgres", "prefect-server", "mlflow", "optuna-dashboard", "worker-cpu", *TRIAL_WORKERS, "deploy"}
STACK_VARS = {"STACK_PREFECT_API_URL", "STACK_MLFLOW_URI", "STACK_POSTGRES", "GPU_0", "GPU_1", "WORKER_NAME"}
SECRET_KEY = re.compile(r"PASSWORD|SECRET|TOKEN|AUTH_STRING", re.I)


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _works(cmd: list[str]) -> bool:
    try:
        return subprocess.run([*cmd, "version"], capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@pytest.fixture(scope="module")
def compose_cmd() -> list[str]:
    if shutil.which("docker-compose") and _works(["docker-compose"]):
        return ["docker-compose"]
    if shutil.which("docker") and _works(["docker", "compose"]):
        return ["docker", "compose"]
    reason = "neither `docker-compose` nor `docker compose` is available (bash .ci/install-system-deps.sh)"
    if _in_ci():
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


def _env_file(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            out[k.strip()] = v.strip().strip("'\"")
    return out


def _clean_env(**overrides: str) -> dict[str, str]:
    """The test's environment without any variable the compose file reads (the shell would override the file)."""
    names = set(_env_file(ENV_EXAMPLE)) | STACK_VARS | {"COMPOSE_FILE", "COMPOSE_PROJECT_NAME",
                                                         "MLFLOW_CORS_ALLOWED_ORIGINS", "MAESTRO_IMAGE",
                                                         "POSTGRES_IMAGE"}
    env = {k: v for k, v in os.environ.items() if k not in names}
    env.update(overrides)
    return env


def _config(compose_cmd, env_file: Path = ENV_EXAMPLE, files=(COMPOSE,), **env) -> subprocess.CompletedProcess:
    argv = [*compose_cmd, *(a for f in files for a in ("-f", str(f))), "--env-file", str(env_file), "config"]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=REPO, env=_clean_env(**env))


def _host_ips(ports: list) -> list[str | None]:
    """host_ip of each published port, in v1's short form ('127.0.0.1:5000:5000/tcp') or v2's long form."""
    ips = []
    for p in ports:
        if isinstance(p, dict):
            ips.append(p.get("host_ip"))
        else:
            parts = str(p).split("/", 1)[0].rsplit(":", 2)
            ips.append(parts[0] if len(parts) == 3 else None)
    return ips


@pytest.fixture(scope="module")
def rendered(compose_cmd) -> dict:
    out = _config(compose_cmd)
    assert out.returncode == 0, f"{' '.join(compose_cmd)} config failed:\n{out.stderr}"
    return yaml.safe_load(out.stdout)


def test_config_names_every_service(rendered):
    assert SERVICES <= set(rendered["services"]), sorted(rendered["services"])


def test_published_ports_bind_loopback_by_default(rendered):
    published = {name: svc["ports"] for name, svc in rendered["services"].items() if svc.get("ports")}
    assert {"postgres", "prefect-server", "mlflow"} <= set(published)
    for name, ports in published.items():
        assert _host_ips(ports) == ["127.0.0.1"] * len(ports), (name, ports)


def test_bind_address_is_an_opt_in(compose_cmd):
    out = _config(compose_cmd, BIND_ADDRESS="10.11.12.13")
    assert out.returncode == 0, out.stderr
    services = yaml.safe_load(out.stdout)["services"]
    for name in ("postgres", "prefect-server", "mlflow"):
        assert _host_ips(services[name]["ports"]) == ["10.11.12.13"], (name, services[name]["ports"])


@pytest.mark.parametrize("key", ["POSTGRES_PASSWORD", "PREFECT_AUTH_STRING", "MLFLOW_ADMIN_USER",
                                 "MLFLOW_ADMIN_PASSWORD"])
def test_missing_credentials_are_refused(compose_cmd, tmp_path, key):
    """Without any one of the servers' credentials compose renders nothing, on loopback or beyond it."""
    env = tmp_path / "no-credential.env"
    env.write_text("".join(f"{k}={v}\n" for k, v in _env_file(ENV_EXAMPLE).items() if k != key))
    for bind in ("127.0.0.1", "10.11.12.13"):
        out = _config(compose_cmd, env_file=env, BIND_ADDRESS=bind)
        assert out.returncode != 0
        assert f"set {key} in docker/.env" in out.stderr + out.stdout


def test_every_server_takes_credentials(rendered):
    """Prefect's auth string, MLflow's basic-auth admin: what the servers require is what every client sends."""
    services = rendered["services"]
    prefect_auth = services["prefect-server"]["environment"]["PREFECT_SERVER_API_AUTH_STRING"]
    mlflow = services["mlflow"]
    admin = (mlflow["environment"]["MLFLOW_AUTH_ADMIN_USERNAME"], mlflow["environment"]["MLFLOW_AUTH_ADMIN_PASSWORD"])
    assert prefect_auth == _env_file(ENV_EXAMPLE)["PREFECT_AUTH_STRING"] and all(admin)
    for name in ("worker-cpu", *TRIAL_WORKERS, "deploy"):
        env = services[name]["environment"]
        assert env["PREFECT_API_AUTH_STRING"] == prefect_auth, name
        assert (env["MLFLOW_TRACKING_USERNAME"], env["MLFLOW_TRACKING_PASSWORD"]) == admin, name
    assert _flag(mlflow["command"], "--app-name") == "basic-auth"
    config = mlflow["environment"]["MLFLOW_AUTH_CONFIG_PATH"]
    assert f"{DOCKER / 'mlflow-auth.ini'}:{config}:ro" in _vols(mlflow)
    ini = (DOCKER / "mlflow-auth.ini").read_text()
    assert "database_uri = sqlite:////mlflow-auth/" in ini and "admin_password" not in ini
    assert any(v.startswith("mlflow-auth:/mlflow-auth") for v in _vols(mlflow))  # not under the artifacts


def test_no_password_literal_in_compose_file():
    text = COMPOSE.read_text()
    secrets = {k: v for k, v in _env_file(ENV_EXAMPLE).items() if SECRET_KEY.search(k)}
    assert secrets, "docker/.env.example should hold the (placeholder) credentials"
    for key, value in secrets.items():
        assert value and value not in text, f"the value of {key} from .env.example is written in compose.yaml"
    # every mention of a credential in compose.yaml is an interpolation, never a literal
    for m in re.finditer(r"(\w*(?:PASSWORD|SECRET|TOKEN)\w*)\s*[:=]\s*(\S+)", text, re.I):
        assert m.group(2).startswith("${"), m.group(0)
    assert "docker/.env" in (REPO / ".gitignore").read_text().split(), "docker/.env must be git-ignored"


def _vols(service: dict) -> list[str]:
    return [v if isinstance(v, str) else f"{v.get('source')}:{v['target']}:{'ro' if v.get('read_only') else 'rw'}"
            for v in service["volumes"]]


def _flag(command: list[str], name: str) -> str | None:
    return command[command.index(name) + 1] if name in command else None


def test_workers_are_wired(rendered):
    services = rendered["services"]
    for name in ("worker-cpu", *TRIAL_WORKERS):
        w = services[name]
        env = w["environment"]
        assert env["PREFECT_API_URL"] == "http://prefect-server:4200/api"
        assert env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
        assert env[names.STORAGE_ENV].startswith("postgresql+psycopg2://")
        assert env[names.STORAGE_ENV].endswith("@postgres:5432/optuna")
        assert env["MAESTRO_LSTM_HOME"] == "/data" and env[names.WORKER_ENV] == name
        # the zombie automation (flows/ops/deploy.py) waits for five of these heartbeats
        assert int(env["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"]) == names.FLOW_RUN_HEARTBEAT_SECONDS
        assert int(env["PREFECT_CLIENT_MAX_RETRIES"]) == names.PREFECT_CLIENT_RETRIES  # a server restart's patience
        if name == "worker-gpu-1":  # shares nothing with the servers' machine: no dataset, a /data of its own
            assert all("/maestro" not in v for v in _vols(w)), _vols(w)
            assert any("lstm-data-gpu-1" in v and ":/data" in v for v in _vols(w)), _vols(w)
        else:
            assert any(v.endswith(":/maestro:ro") for v in _vols(w)), _vols(w)
            assert any(":/data" in v for v in _vols(w)), _vols(w)
        assert w["image"] == services["deploy"]["image"]


def test_trial_workers_pass_sigterm_on_and_wait_for_their_trials(rendered):
    for name in TRIAL_WORKERS:
        w = rendered["services"][name]
        assert w["command"][:3] == ["python", "-m", "flows.ops.worker"], w["command"]
        assert str(w["stop_grace_period"]).startswith("40"), w["stop_grace_period"]  # 40s: the trials' time


def test_sweeps_and_trials_have_their_pools(rendered):
    services = rendered["services"]
    sweeps = services["worker-cpu"]["command"]
    assert _flag(sweeps, "--pool") == names.SWEEP_POOL and "--limit" not in sweeps  # a sweep only waits on its trials
    assert "CUDA_VISIBLE_DEVICES" not in services["worker-cpu"]["environment"]
    devices = []
    for name in TRIAL_WORKERS:
        cmd = services[name]["command"]
        assert _flag(cmd, "--pool") == names.TRIAL_POOL and _flag(cmd, "--limit") == "1", cmd
        devices.append(str(services[name]["environment"]["CUDA_VISIBLE_DEVICES"]))
    assert devices == ["0", "1"]  # each trial worker on its own GPU
    # the second GPU's worker only where asked for (COMPOSE_PROFILES=two-gpus): on one GPU it would use the CPU
    assert "profiles" not in services["worker-gpu"] and services["worker-gpu-1"]["profiles"] == ["two-gpus"]
    assert services["deploy"]["command"][-2:] == ["-m", "flows.ops.deploy"]  # creates both pools, deploys to them


def test_gpus_only_with_the_gpu_file(compose_cmd, rendered):
    # the base file runs on any machine (make compose-smoke, CPU-only); compose.gpu.yaml adds the GPU requests
    assert not any("deploy" in svc for svc in rendered["services"].values())
    out = _config(compose_cmd, files=(COMPOSE, COMPOSE_GPU))
    assert out.returncode == 0, out.stderr
    services = yaml.safe_load(out.stdout)["services"]
    for name in TRIAL_WORKERS:
        (device,) = services[name]["deploy"]["resources"]["reservations"]["devices"]
        assert device["driver"] == "nvidia" and "gpu" in device["capabilities"], device
    assert "deploy" not in services["worker-cpu"]


def test_a_second_machine_points_its_workers_at_the_first(compose_cmd):
    out = _config(compose_cmd, STACK_PREFECT_API_URL="http://10.0.0.5:4200/api",
                  STACK_MLFLOW_URI="http://10.0.0.5:5000", STACK_POSTGRES="10.0.0.5:5432", GPU_0="3",
                  WORKER_NAME="box2-gpu")
    assert out.returncode == 0, out.stderr
    w = yaml.safe_load(out.stdout)["services"]["worker-gpu"]
    assert w["environment"]["PREFECT_API_URL"] == "http://10.0.0.5:4200/api"
    assert w["environment"]["MLFLOW_TRACKING_URI"] == "http://10.0.0.5:5000"
    assert w["environment"]["OPTUNA_STORAGE"].endswith("@10.0.0.5:5432/optuna")
    assert str(w["environment"]["CUDA_VISIBLE_DEVICES"]) == "3"
    assert _flag(w["command"], "--name") == "box2-gpu"


def test_servers_use_their_own_databases(rendered):
    services = rendered["services"]
    prefect_url = services["prefect-server"]["environment"]["PREFECT_API_DATABASE_CONNECTION_URL"]
    assert prefect_url.startswith("postgresql+asyncpg://") and prefect_url.endswith("@postgres:5432/prefect")
    cmd = services["mlflow"]["command"]
    store = cmd[cmd.index("--backend-store-uri") + 1]
    assert store.startswith("postgresql+psycopg2://") and store.endswith("@postgres:5432/mlflow")
    assert "--allowed-hosts" in cmd and "mlflow:*" in cmd[cmd.index("--allowed-hosts") + 1]
    init = (DOCKER / "postgres-init.sql").read_text()
    for db in ("prefect", "optuna", "mlflow"):
        assert f"CREATE DATABASE {db};" in init
    assert services["deploy"]["restart"] == "no"
    # the servers are the releases their clients use: the workers' image
    assert services["prefect-server"]["image"] == services["mlflow"]["image"] == services["worker-cpu"]["image"]


def test_light_servers(rendered):
    """MLflow's job runner and consumers (≈1.4 GB at rest) are off; one server worker each (README: ~0.6 GB)."""
    mlflow = rendered["services"]["mlflow"]
    assert mlflow["environment"]["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] == "false"
    assert _flag(mlflow["command"], "--workers") == "1"


def test_trials_per_gpu_is_each_trial_workers_limit(compose_cmd):
    out = _config(compose_cmd, TRIALS_PER_GPU="2")
    assert out.returncode == 0, out.stderr
    services = yaml.safe_load(out.stdout)["services"]
    assert [_flag(services[name]["command"], "--limit") for name in TRIAL_WORKERS] == ["2", "2"]
    assert "--limit" not in services["worker-cpu"]["command"]


def test_dashboard_serves_the_study_storage_on_loopback_only(compose_cmd):
    """optuna-dashboard has no authentication: loopback even where BIND_ADDRESS opens the servers."""
    out = _config(compose_cmd, BIND_ADDRESS="10.11.12.13")
    assert out.returncode == 0, out.stderr
    services = yaml.safe_load(out.stdout)["services"]
    dashboard = services["optuna-dashboard"]
    assert dashboard["command"][:3] == ["python", "-m", "flows.ops.dashboard"]
    assert _host_ips(dashboard["ports"]) == ["127.0.0.1"]
    assert dashboard["environment"][names.STORAGE_ENV] == services["worker-cpu"]["environment"][names.STORAGE_ENV]
