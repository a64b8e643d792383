"""How a sweep starts and stops, without servers: warm starts from another study (on the real Optuna
journal storage the sweep uses), the trials a new study queues, and the time budget's decision."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import yaml
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import TrialState, create_trial

from flows import names
from flows.space import load_space
from flows.storage import make_storage
from flows.sweep.budget import Budget
from flows.sweep.params import validate
from flows.sweep.summary import StudySummary
from flows.sweep.warm_start import enqueue_first, load_warm_start

optuna.logging.set_verbosity(optuna.logging.WARNING)
SMOKE = {"batch_size": CategoricalDistribution([32, 64]), "epochs": IntDistribution(2, 3),
         "hidden_size": CategoricalDistribution([64, 128]), "lr": FloatDistribution(0.001, 0.1, log=True)}  # the other study's space


class Log:
    """A logger that keeps its lines: what the sweep would log."""

    def __init__(self):
        self.lines = []

    def info(self, fmt, *args):
        self.lines.append(fmt % args)


@pytest.fixture
def storage(tmp_path, monkeypatch):
    """The sweep's own journal storage, in a state directory of this test."""
    monkeypatch.setenv("MAESTRO_LSTM_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("OPTUNA_STORAGE", raising=False)
    return make_storage("")


def finished_study(storage, name: str, values: dict[float, dict], data_hash: str = "a" * 64) -> optuna.Study:
    """A study of the smoke space whose completed trials have these values and parameters."""
    study = optuna.create_study(study_name=name, storage=storage, direction="maximize")
    study.set_user_attr(names.DATA_HASH, data_hash)
    for value, params in values.items():
        study.add_trial(create_trial(params=params, distributions={k: SMOKE[k] for k in params}, value=value))
    study.add_trial(create_trial(params={"batch_size": 64}, distributions={"batch_size": SMOKE["batch_size"]},
                                 state=TrialState.FAIL))
    return study


def a_space(tmp_path: Path) -> str:
    """A space that searches batch size and lr over a wider range than smoke, and not hidden_size."""
    path = tmp_path / "wider.yaml"
    path.write_text(yaml.safe_dump({
        "fixed": {"model": "embed", "epochs": 2, "hidden_size": 64, "seq_len": 32},
        "search": {"batch_size": [32, 64, 128], "lr": {"low": 0.001, "high": 0.05, "log": True}},
        "enqueue": [{"batch_size": 128, "lr": 0.02}]}))
    return str(path)


def test_a_warm_start_takes_the_best_configurations_of_the_other_study(tmp_path, storage):
    finished_study(storage, "smoke-a", {0.30: {"batch_size": 32, "epochs": 2, "hidden_size": 64, "lr": 0.004},
                                        0.50: {"batch_size": 64, "epochs": 3, "hidden_size": 128, "lr": 0.005},
                                        0.40: {"batch_size": 32, "epochs": 3, "hidden_size": 64, "lr": 0.008}})
    p = validate("", a_space(tmp_path), 5, 1, "wider-b", "", "maestro-lstm", 0, warm_start="smoke-a",
                 warm_start_top=2)
    # best first; epochs and hidden_size are fixed in the new space, so they are dropped
    assert p.warm_start.configs == [{"batch_size": 64, "lr": 0.005}, {"batch_size": 32, "lr": 0.008}]
    p.warm_start.check_data("a" * 64, "maestro-lstm")
    with pytest.raises(ValueError, match="^warm_start study smoke-a was searched on other data .*bbbbbbbbbbbb"):
        p.warm_start.check_data("b" * 64, "maestro-lstm")

    new = optuna.create_study(study_name="wider-b", storage=storage, direction="maximize")
    log = Log()
    enqueue_first(new, p.warm_start.configs + p.space.enqueue, log)
    assert [t.state for t in new.trials] == [TrialState.WAITING] * 3
    assert "study wider-b starts with 3 queued trials" in log.lines[0]
    # each trial flow's ask takes the queued trials first, in order
    asked = [new.ask(p.space.distributions) for _ in range(3)]
    assert [t.params for t in asked] == [{"batch_size": 64, "lr": 0.005}, {"batch_size": 32, "lr": 0.008},
                                         {"batch_size": 128, "lr": 0.02}]
    enqueue_first(new, p.warm_start.configs, log)  # a continued study: queued once only
    assert len(new.trials) == 3 and len(log.lines) == 1


@pytest.mark.parametrize("other, message", [
    ("nothing-here", "warm_start study 'nothing-here' does not exist in the study storage; known: smoke-a, smoke-c"),
    ("smoke-c", "warm_start study smoke-c has no completed trial to start from"),
    ("smoke-a", "lr = 0.09 (trial 0 of warm_start study smoke-a) is outside wider.yaml's range [0.001, 0.05]"),
])
def test_a_warm_start_that_cannot_be_is_one_line(tmp_path, storage, other, message):
    finished_study(storage, "smoke-a", {0.5: {"batch_size": 64, "lr": 0.09}})
    finished_study(storage, "smoke-c", {})
    with pytest.raises(ValueError, match="^[^\n]*$") as exc:
        load_warm_start(load_space(a_space(tmp_path)), storage, other, 3)
    assert message in str(exc.value)


@pytest.mark.parametrize("overrides, message", [
    ({"warm_start_top": 0}, "warm_start_top must be at least 1"),
    ({"warm_start": "s-1.a_b"}, "warm_start names study s-1.a_b itself"),
    ({"warm_start": "a b"}, "warm_start 'a b' may hold only"),
    ({"timeout_hours": 0.0}, "timeout_hours must be a positive number of hours or unset, got 0.0"),
    ({"timeout_hours": float("nan")}, "timeout_hours must be a positive number"),
    ({"timeout_hours": float("inf")}, "timeout_hours must be a positive number"),
])
def test_bad_start_parameters_are_one_line(storage, overrides, message):
    args = {"data_dir": "", "space": "smoke", "n_trials": 4, "n_parallel": 2, "study_name": "s-1.a_b",
            "storage": "", "experiment": "maestro-lstm", "seed": 0, **overrides}
    with pytest.raises(ValueError, match="^[^\n]*$") as exc:
        validate(**args)
    assert message in str(exc.value)


def test_the_budget_stops_launches_once_spent():
    budget = Budget(hours=2.0, started=1000.0)
    assert budget.admit(3, now=1000.0 + 7199) == 3 and not budget.reached
    assert budget.admit(0, now=1000.0 + 7200) == 0 and not budget.reached  # nothing was wanted: not the budget
    assert budget.admit(2, now=1000.0 + 7200) == 0 and budget.reached
    unlimited = Budget(hours=None, started=0.0)
    assert unlimited.admit(4, now=1e12) == 4 and not unlimited.reached


def test_the_summary_says_the_budget_ended_the_study():
    s = StudySummary("wide-1", "wide", 60, 37, "a" * 64, "run", budget_hours=8.0, budget_reached=True)
    assert s.line() == "study wide-1: budget of 8 h reached: 37 of 60 trials finished, none completed"
    s.budget_reached = False
    assert s.line() == "study wide-1: 37 of 60 trials finished, none completed"
