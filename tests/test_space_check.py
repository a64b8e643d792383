"""A search space is checked when it is loaded, before a sweep prepares anything (flows/space_check.py,
docs/studies.md): unknown keys, mistyped values and ranges, values no training run takes, `enqueue:`."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from optuna.distributions import FloatDistribution, IntDistribution

from flows.settings import REPO
from flows.space import STUDIES, load_space
from flows.space_check import KEY_TYPES
from flows.sweep.params import validate
from lstm.seed import SEED
from lstm.train import TrainConfig

BASE = {"fixed": {"model": "embed", "batch_size": 8, "epochs": 1, "hidden_size": 8}}


def space_file(tmp_path: Path, doc: dict, name: str = "x") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def refused(tmp_path: Path, doc: dict) -> str:
    with pytest.raises(ValueError, match="^[^\n]*$") as exc:
        load_space(str(space_file(tmp_path, doc)))
    return str(exc.value)


def test_an_unknown_key_is_refused_with_the_known_ones(tmp_path):
    message = refused(tmp_path, {**BASE, "search": {"hiden_size": [64, 128]}})
    assert message.startswith("unknown key `hiden_size` in x.yaml; known: batch_size, dropout, ")
    assert "hidden_size" in message and "num_layers" in message and ", seed" not in message
    assert "unknown key `trails` in x.yaml; known: checkpoint_minutes, description, enqueue, fixed" in refused(tmp_path, {**BASE,
                                                                                                    "trails": 3})
    assert "unknown range key (of `lr`) `hi`" in refused(tmp_path, {**BASE, "search": {"lr": {"low": 0.1,
                                                                                            "high": 1, "hi": 2}}})


@pytest.mark.parametrize("fixed, message", [
    ({"dropout": 1.5}, "no valid training configuration with its fixed values: dropout must be in [0, 1), not 1.5"),
    ({"epochs": 0}, "epochs must be at least 1"),
    ({"optimizer": "adam"}, "optimizer must be sgd or adamw, not 'adam'"),
    ({"epochs": "ten"}, "epochs = 'ten' (fixed in x.yaml): epochs takes an integer"),
    ({"lr": True}, "lr = True (fixed in x.yaml): lr takes a number"),
    ({"seed": 3}, "unknown key `seed` in x.yaml"),  # each trial gets its own
])
def test_a_fixed_value_no_run_takes_is_refused(tmp_path, fixed, message):
    assert message in refused(tmp_path, {"fixed": {**BASE["fixed"], **fixed}})


@pytest.mark.parametrize("search, message", [
    ({"dropout": {"low": 0.0, "high": 1.5}}, "with search dropout = 1.5"),  # the upper bound
    ({"batch_size": [8, 0]}, "with search batch_size = 0"),  # one choice
    ({"lr": {"low": 0.1, "high": 0.01}}, "search `lr` in x.yaml: "),  # Optuna's own: low > high
    ({"epochs": {"low": 1, "high": 2.5}}, "epochs = 2.5 (the range's high in x.yaml): epochs takes an integer"),
    ({"model": {"low": 0, "high": 1}}, "model takes a string: give a list of choices, not a range"),
    ({"batch_size": []}, "the list of choices is empty"),
    ({"dropout": 0.3}, "search entry 'dropout' in x.yaml: use a list of choices or {low, high}"),
])
def test_a_searched_value_no_run_takes_is_refused(tmp_path, search, message):
    fixed = {k: v for k, v in BASE["fixed"].items() if k not in search}
    assert message in refused(tmp_path, {"fixed": fixed, "search": search})


def test_parameters_that_clash_only_together_are_refused(tmp_path):
    doc = {"fixed": {"batch_size": 8, "epochs": 1}, "search": {"model": ["embed", "seed"], "num_layers": [1, 3],
                                                               "hidden_size": [8]}}
    assert "the seed model has 3 LSTM layers, not 1" in refused(tmp_path, doc)


def test_a_range_takes_its_parameter_s_type(tmp_path):
    """`{low: 0, high: 1}` is ambiguous in YAML; the parameter decides: dropout is a float, num_layers an int."""
    doc = {**BASE, "search": {"dropout": {"low": 0, "high": 0}, "num_layers": {"low": 1, "high": 2},
                              "lr": {"low": 1, "high": 2, "step": 1}}}
    d = load_space(str(space_file(tmp_path, doc))).distributions
    assert d["dropout"] == FloatDistribution(0.0, 0.0)
    assert d["num_layers"] == IntDistribution(1, 2)
    assert d["lr"] == FloatDistribution(1.0, 2.0, step=1.0)


def test_both_fixed_and_searched_is_refused(tmp_path):
    assert "x.yaml both fixes and searches batch_size" in refused(tmp_path, {**BASE, "search": {"batch_size": [8]}})


@pytest.mark.parametrize("doc, message", [
    ({**BASE, "search": ["lr"]}, "`search` in x.yaml must be a mapping, not ['lr']"),
    ({**BASE, "pruner": "median"}, "`pruner` in x.yaml must be a mapping, not 'median'"),
    ({**BASE, "trials": 0}, "`trials` in x.yaml must be a whole number of at least 1, not 0"),
])
def test_a_section_of_the_wrong_shape_is_one_line(tmp_path, doc, message):
    assert message in refused(tmp_path, doc)


def test_a_pruner_option_it_does_not_take_is_one_line(tmp_path):
    assert refused(tmp_path, {**BASE, "pruner": {"type": "median", "warmup": 3}}).startswith("pruner of x.yaml: ")


@pytest.mark.parametrize("enqueue, message", [
    ([{"lr": 0.5}], "lr = 0.5 (enqueue entry 1) is outside x.yaml's range [0.001, 0.1]"),
    ([{"lr": 0.01}, {"batch_size": 16}], "unknown parameter (enqueue entry 2 sets it; searched ones) `batch_size`"),
    ([{"lr": 0.01, "hidden_size": 16}], "`hidden_size` in x.yaml; known: lr"),
    ({"lr": 0.01}, "`enqueue` in x.yaml must be a list of parameter mappings"),
])
def test_enqueued_trials_are_checked(tmp_path, enqueue, message):
    doc = {**BASE, "search": {"lr": {"low": 0.001, "high": 0.1, "log": True}}, "enqueue": enqueue}
    assert message in refused(tmp_path, doc)


def test_the_seed_space_enqueues_the_report_s_three_runs():
    space = load_space("seed")
    runs = [(e["batch_size"], e["epochs"]) for e in space.enqueue]
    assert runs == [(32, 30), (64, 85), (128, 100)]
    for e in space.enqueue:
        cfg = TrainConfig(**space.train_config(e, seed=0))
        assert cfg.hidden_sizes == [SEED.hidden_size] * SEED.num_layers and cfg.lr == SEED.lr


def test_every_key_a_space_may_set_is_documented():
    doc = (REPO / "docs" / "studies.md").read_text()
    assert all(f"`{key}`" in doc for key in KEY_TYPES)
    for path in STUDIES.glob("*.yaml"):
        assert "docs/studies.md" in "".join(path.read_text().splitlines(keepends=True)[:3]), path.name


def test_the_sweep_refuses_a_bad_space_before_anything_runs(tmp_path, monkeypatch):
    monkeypatch.delenv("OPTUNA_STORAGE", raising=False)
    path = space_file(tmp_path, {"fixed": {**BASE["fixed"], "dropout": 1.5}})
    with pytest.raises(ValueError, match="dropout must be in"):
        validate("", str(path), 1, 1, "", "", "maestro-lstm", 0)
