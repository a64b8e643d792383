"""The flows' pure logic without any server: search spaces, the sweep's parameter checks, the promotion rule.

The same code runs against live Prefect/MLflow servers in test_e2e.py and test_faults.py; here each
decision is checked on its own, in milliseconds, on the real study files and real Optuna distributions.
"""

from __future__ import annotations

import socket
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from flows import names
from flows.space import STUDIES, load_space
from flows.sweep.params import validate
from flows.sweep.registry import decide_alias
from lstm.data.maestro import write_csv
from lstm.seed import SEED
from lstm.train import TrainConfig

optuna.logging.set_verbosity(optuna.logging.WARNING)


def write_space(tmp_path: Path, doc: dict) -> str:
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(doc))
    return str(path)


def sampled_configs(space, n: int = 6) -> list[TrainConfig]:
    """TrainConfigs of `n` trials drawn by Optuna from the space (an in-memory study: no server)."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0), direction="maximize")
    return [TrainConfig(**space.train_config(study.ask(space.distributions).params, seed=7)) for _ in range(n)]


# --- search spaces ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(p.stem for p in STUDIES.glob("*.yaml")))
def test_every_study_file_gives_valid_train_configs(name):
    space = load_space(name)
    assert space.name == name and space.description and space.default_trials >= 1
    assert isinstance(space.pruner(), optuna.pruners.BasePruner)
    for cfg in sampled_configs(space):
        assert cfg.seed == 7
        assert cfg.model_config.kind == space.fixed["model"]


def test_the_seed_space_trains_the_seed_model():
    for cfg in sampled_configs(load_space("seed")):
        h = cfg.hidden_sizes[0]
        assert cfg.hidden_sizes == [h] * SEED.num_layers and h in (256, 512, 768)
        assert (cfg.model, cfg.optimizer, cfg.dropout) == ("seed", SEED.optimizer, SEED.dropout)
        assert cfg.windows_per_epoch == SEED.max_windows


def test_hidden_size_times_num_layers():
    cfg = load_space("wide").train_config({"batch_size": 64, "epochs": 5, "hidden_size": 768, "num_layers": 3}, 1)
    assert cfg["hidden_sizes"] == [768, 768, 768] and "hidden_size" not in cfg and "num_layers" not in cfg
    assert TrainConfig(**cfg).model_config.hidden_sizes == [768, 768, 768]


def test_hidden_sizes_name_each_layer(tmp_path):
    space = load_space(write_space(tmp_path, {"fixed": {"model": "embed", "batch_size": 8, "epochs": 1},
                                              "search": {"hidden_sizes": ["512,256", "128"]}}))
    assert space.distributions["hidden_sizes"] == CategoricalDistribution(["512,256", "128"])
    assert space.train_config({"hidden_sizes": "512,256"}, 0)["hidden_sizes"] == [512, 256]
    assert space.train_config({"hidden_sizes": "128"}, 0)["hidden_sizes"] == [128]


@pytest.mark.parametrize("fixed, message", [
    ({"model": "seed", "hidden_sizes": "512,256"}, "the seed model has 3 LSTM layers of one size"),
    ({"model": "seed", "hidden_size": 64, "num_layers": 2}, "the seed model has 3 LSTM layers, not 2"),
    ({"model": "embed", "hidden_sizes": "64,32", "num_layers": 3}, "2 hidden sizes [64, 32] but 3 layers"),
    ({"model": "embed", "hidden_size": 64, "hidden_sizes": "64,32"}, "not both"),
    ({"model": "gru", "hidden_size": 64}, "unknown model 'gru'"),
])
def test_a_model_the_space_cannot_build_is_one_line(tmp_path, fixed, message):
    with pytest.raises(ValueError, match="^[^\n]*$") as exc:  # refused when loaded (flows/space_check.py)
        load_space(write_space(tmp_path, {"fixed": {"batch_size": 8, "epochs": 1, **fixed}}))
    assert message in str(exc.value)


def test_distributions(tmp_path):
    space = load_space(write_space(tmp_path, {"search": {
        "batch_size": [32, 64], "epochs": {"low": 2, "high": 10, "step": 2}, "hidden_size": {"low": 16, "high": 256,
                                                                                              "log": True},
        "lr": {"low": 1e-4, "high": 1e-2, "log": True}, "dropout": {"low": 0.0, "high": 0.5, "step": 0.1}}}))
    d = space.distributions
    assert d["batch_size"] == CategoricalDistribution([32, 64])
    assert d["epochs"] == IntDistribution(2, 10, step=2)
    assert d["hidden_size"] == IntDistribution(16, 256, log=True)
    assert d["lr"] == FloatDistribution(1e-4, 1e-2, log=True)
    assert d["dropout"] == FloatDistribution(0.0, 0.5, step=0.1)
    assert space.default_trials == 20 and space.fixed == {}


@pytest.mark.parametrize("pruner, kind", [({"type": "median", "n_startup_trials": 2}, optuna.pruners.MedianPruner),
                                          ({"type": "hyperband", "min_resource": 1}, optuna.pruners.HyperbandPruner),
                                          ({"type": "threshold", "lower": 0.01}, optuna.pruners.ThresholdPruner),
                                          ({"type": "none"}, optuna.pruners.NopPruner),
                                          ({}, optuna.pruners.MedianPruner)])
def test_pruners(tmp_path, pruner, kind):
    doc = {"fixed": {"batch_size": 8, "epochs": 1, "hidden_size": 8}, "pruner": pruner}
    assert type(load_space(write_space(tmp_path, doc)).pruner()) is kind


@pytest.mark.parametrize("doc, message", [
    ({"fixed": {"epochs": 1, "hidden_size": 8}}, "must define batch_size"),
    ({"fixed": {"batch_size": 8, "epochs": 1}}, "must define hidden_size"),
    ({"fixed": {"batch_size": 8, "hidden_size": 8}, "search": {"epochs": 3}}, "search entry 'epochs'"),
    ({"fixed": {"batch_size": 8, "epochs": 1, "hidden_size": 8}, "pruner": {"type": "sometimes"}},
     "unknown pruner type 'sometimes'"),
])
def test_bad_space_files(tmp_path, doc, message):
    with pytest.raises(ValueError, match=message):
        load_space(write_space(tmp_path, doc)).pruner()


def test_unknown_space_names_the_known_ones():
    with pytest.raises(ValueError, match="unknown search space 'tiny': choose one of seed, smoke, wide"):
        load_space("tiny")


# --- the sweep's parameters -------------------------------------------------------------------------------


def good(**overrides) -> dict:
    return {"data_dir": "", "space": "smoke", "n_trials": 4, "n_parallel": 2, "study_name": "s-1.a_b",
            "storage": "", "experiment": "maestro-lstm", "seed": 0, **overrides}


def test_good_parameters(tmp_path, monkeypatch):
    monkeypatch.delenv("OPTUNA_STORAGE", raising=False)
    write_csv(tmp_path, [])
    p = validate(**good(data_dir=str(tmp_path), n_parallel=9))
    assert p.data_dir == tmp_path and p.space.name == "smoke" and p.storage == ""
    assert (p.n_trials, p.n_parallel) == (4, 4)  # no more parallel trials than trials
    assert validate(**good()).data_dir is None  # the embedded dataset


def test_n_trials_zero_is_the_space_s_trials(monkeypatch):
    monkeypatch.delenv("OPTUNA_STORAGE", raising=False)
    assert validate(**good(n_trials=0)).n_trials == 4  # smoke.yaml: trials: 4
    assert validate(**good(n_trials=0, space="wide")).n_trials == 60
    assert validate(**good(n_trials=7, space="wide")).n_trials == 7


def test_the_storage_comes_from_the_environment_when_not_given(monkeypatch):
    monkeypatch.setenv("OPTUNA_STORAGE", "sqlite:///x.db")
    with pytest.raises(ValueError, match="storage 'sqlite:///x.db' is not supported"):
        validate(**good())


@pytest.mark.parametrize("overrides, message", [
    ({"n_trials": -1}, "n_trials must be at least 1, got -1"),
    ({"n_parallel": 0}, "n_parallel must be at least 1, got 0"),
    ({"experiment": "  "}, "experiment must not be empty"),
    ({"study_name": "my study"}, "study_name 'my study' may hold only"),
    ({"space": "nowhere"}, "unknown search space 'nowhere'"),
    ({"data_dir": "/nonexistent/maestro"}, "data_dir /nonexistent/maestro does not exist"),
    ({"storage": "mysql://db/optuna"}, "is not supported"),
])
def test_bad_parameters_are_one_line(overrides, message, monkeypatch):
    monkeypatch.delenv("OPTUNA_STORAGE", raising=False)
    with pytest.raises(ValueError, match="^[^\n]*$") as exc:
        validate(**good(**overrides))
    assert message in str(exc.value)


def test_a_directory_without_the_maestro_csv_or_midi_files(tmp_path, monkeypatch):
    monkeypatch.delenv("OPTUNA_STORAGE", raising=False)
    (tmp_path / "notes.txt").write_text("neither a CSV nor MIDI")
    with pytest.raises(ValueError, match="is neither a MAESTRO directory"):
        validate(**good(data_dir=str(tmp_path)))


def test_unreachable_postgresql_is_one_line_without_the_password(monkeypatch):
    monkeypatch.delenv("OPTUNA_STORAGE", raising=False)
    with socket.socket() as s:  # a port nothing listens on: bound, never listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        with pytest.raises(ValueError) as exc:
            validate(**good(storage=f"postgresql://optuna:s3cret@127.0.0.1:{port}/optuna"))
    message = str(exc.value)
    assert "\n" not in message and "is unreachable" in message and f"127.0.0.1:{port}" in message
    assert "s3cret" not in message and "***" in message


# --- promotion ----------------------------------------------------------------------------------------------


def champion(version="3", accuracy="0.25", data_hash="abc", targets="1727") -> tuple[str, dict]:
    """A current champion as MLflow gives it: version and tags are strings."""
    tags = {names.DATA_HASH: data_hash} | ({names.VAL_ACCURACY: accuracy} if accuracy is not None else {})
    return version, tags | ({names.VAL_TARGETS: targets} if targets is not None else {})


@pytest.mark.parametrize("current, new, alias, reason", [
    ((None, {}), ("1", 0.01, "abc", 1727), "champion", "first registered model"),
    (champion(), ("3", 0.10, "abc", 1727), "champion", "already the champion"),
    (champion(), ("4", 0.30, "abc", 1727), "champion", "val_accuracy 0.3000 beats v3's 0.25"),
    (champion(), ("4", 0.20, "abc", 1727), "challenger", "val_accuracy 0.2000 does not beat v3's 0.25"),
    (champion(), ("4", 0.25, "abc", 1727), "challenger", "does not beat"),  # a tie keeps the champion
    (champion(), ("4", 0.90, "other", 1727), "challenger", "champion v3 was trained on other data"),
    (champion(accuracy=None), ("4", 0.0, "abc", 1727), "champion", "beats v3's None"),
    # scored on other targets (before the common ones: no tag), whatever the accuracies say
    (champion(targets="1754"), ("4", 0.90, "abc", 1727), "challenger", "was scored on other targets"),
    (champion(targets=None), ("4", 0.90, "abc", 1727), "challenger", "was scored on other targets"),
])
def test_promotion_decision(current, new, alias, reason):
    version, tags = current
    got_alias, got_reason = decide_alias(version, tags, *new)
    assert got_alias == alias and reason in got_reason


# --- the trial's retry policy, and the one patched library function ---------------------------------------


@pytest.mark.parametrize("exc, retried", [
    (ConnectionError("MLflow tracking server http://x is unreachable"), True),
    (RuntimeError("wrapped"), True),  # caused by a connection error: see below
    (ValueError("dropout must be in [0, 1)"), False),
    (FloatingPointError("training diverged"), False),
    (RuntimeError("a bug"), False),
])
def test_only_transient_failures_are_retried(exc, retried):
    """flows/trial/retry.py's retry_condition_fn, on the Failed state Prefect hands it."""
    from prefect.states import Failed

    from flows.trial.retry import retry_if_transient

    if str(exc) == "wrapped":
        exc.__cause__ = TimeoutError("read timed out")
    assert retry_if_transient(None, None, Failed(data=exc)) is retried


def test_mlflow_still_spawns_its_server_through_exec_cmd():
    """flows/ops/mlflow_server.py replaces mlflow.server._exec_cmd (MLflow has no option to run uvicorn in
    its own process): this fails when a new MLflow no longer spawns uvicorn through it."""
    import inspect

    import mlflow.server

    assert callable(getattr(mlflow.server, "_exec_cmd", None))
    assert inspect.getsource(mlflow.server._run_server).count("_exec_cmd(") == 1
