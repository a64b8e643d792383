"""A lost trial continues as a new trial with the same parameters and the epochs it reported (Optuna's own
retry), up to max_restarts losses; a cancel is not a loss. On a real journal storage, no servers."""

from __future__ import annotations

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from flows import names
from flows.requeue import lose, retried_from


@pytest.fixture
def study(tmp_path):
    storage = JournalStorage(JournalFileBackend(str(tmp_path / "journal.log")))
    s = optuna.create_study(study_name="requeue", storage=storage, direction="maximize")
    s.set_user_attr(names.MAX_RESTARTS, 2)
    return s


def running_trial(study) -> optuna.Trial:
    t = study.ask({"lr": optuna.distributions.FloatDistribution(1e-3, 1e-1, log=True)})
    t.set_user_attr(names.WORKER, "worker-0")
    t.set_user_attr(names.FLOW_RUN_ID, "a-dead-flow-run")
    t.report(0.1, 1)
    t.report(0.2, 2)
    return t


def test_a_lost_trial_continues_with_its_parameters_and_epochs(study):
    lost = running_trial(study)
    reason = lose(study, study._storage, lost.number, "trial flow run ended Crashed")
    assert reason == "trial flow run ended Crashed"
    failed, waiting = study.trials
    assert failed.state == TrialState.FAIL and failed.user_attrs[names.FAIL_REASON] == reason
    assert waiting.state == TrialState.WAITING and retried_from(waiting) == lost.number
    assert waiting.params == failed.params and waiting.intermediate_values == {1: 0.1, 2: 0.2}
    assert waiting.user_attrs[names.LOSSES] == 1
    assert names.WORKER not in waiting.user_attrs and names.FLOW_RUN_ID not in waiting.user_attrs  # the attempt's

    again = study.ask()  # the next trial flow to ask gets it
    assert again.number == waiting.number and again.params == failed.params


def test_after_max_restarts_losses_a_trial_stays_failed(study):
    number = running_trial(study).number
    for _ in range(2):  # lost twice: continued twice
        assert lose(study, study._storage, number, "worker died")
        number = study.ask().number
    reason = lose(study, study._storage, number, "worker died")
    assert "lost 3 times (max_restarts 2): not continued" in reason
    assert [t.state for t in study.trials] == [TrialState.FAIL] * 3  # no fourth attempt is queued
    assert retried_from(study.trials[-1]) == 0  # every attempt names the first


def test_a_cancel_is_not_a_loss(study):
    number = running_trial(study).number
    for _ in range(4):  # more cancels than max_restarts: each continues
        assert "not continued" not in lose(study, study._storage, number, "cancelled", lost=False)
        number = study.ask().number
    assert study.trials[-1].user_attrs.get(names.LOSSES, 0) == 0


def test_a_trial_that_finished_meanwhile_is_left_alone(study):
    t = running_trial(study)
    study.tell(t, 0.3)
    assert lose(study, study._storage, t.number, "late") is None
    assert [s.state for s in study.trials] == [TrialState.COMPLETE]
