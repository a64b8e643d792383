"""flows/trial/packing.py: which CUDA out-of-memory errors are a loss of the attempt (other trials held the
GPU) and which fail the trial ("too big"), on real exception objects; and that the database's errors still
count as a server being away now that the trial imports SQLAlchemy only where it uses it."""

from __future__ import annotations

import pytest
import torch

from flows.trial.packing import verdict

GIB = 2**30
OOM = "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 139.81 GiB"


@pytest.mark.parametrize("held, lost", [
    ((40 * GIB, 140 * GIB), True),  # other trials held 40 GiB: the GPU was shared
    ((0, 140 * GIB), False),  # nobody else on it: the trial is too big for the GPU
])
def test_out_of_memory_beside_others_is_a_loss_alone_a_failure(held, lost):
    got = verdict(torch.OutOfMemoryError(OOM), held)
    assert got is not None and got[0] is lost
    if lost:
        assert "other processes held 40.0 GiB of the GPU's 140.0 GiB" in got[1] and "continued later" in got[1]
    else:
        assert got[1].startswith("too big for its GPU") and OOM in got[1]


def test_other_errors_are_not_judged_here():
    assert verdict(ValueError("dropout must be in [0, 1)"), (40 * GIB, 140 * GIB)) is None
    assert verdict(RuntimeError("CUDA error: an illegal memory access"), (40 * GIB, 140 * GIB)) is None


def test_without_cuda_an_out_of_memory_error_is_the_trials_own():
    """Read from the device: on a machine without CUDA nobody else holds any of it."""
    if torch.cuda.is_available():
        pytest.skip("reads this machine's GPU")
    lost, reason = verdict(torch.OutOfMemoryError(OOM))
    assert not lost and reason.startswith("too big")


def test_database_errors_are_still_transient():
    import sqlalchemy.exc

    from flows.unreachable import unreachable

    assert unreachable(sqlalchemy.exc.OperationalError("SELECT 1", {}, ConnectionRefusedError()))
    assert not unreachable(sqlalchemy.exc.IntegrityError("INSERT", {}, ValueError()))


def test_a_packed_attempt_ends_killed_and_its_trial_continues(tmp_path, monkeypatch):
    """end_packed on a real journal storage and a real MLflow store (SQLite, no server)."""
    import optuna
    from mlflow.tracking import MlflowClient
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend
    from optuna.trial import TrialState

    from flows import names
    from flows.requeue import retried_from
    from flows.trial.packing import PACKED, end_packed

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    mlflow = MlflowClient()
    run_id = mlflow.create_run(mlflow.create_experiment("packing")).info.run_id
    storage = JournalStorage(JournalFileBackend(str(tmp_path / "journal.log")))
    study = optuna.create_study(study_name="packing", storage=storage, direction="maximize")
    live = study.ask({"lr": optuna.distributions.FloatDistribution(1e-3, 1e-1, log=True)})
    live.set_user_attr(names.MLFLOW_RUN_ID, run_id)
    lost, reason = verdict(torch.OutOfMemoryError(OOM), (40 * GIB, 140 * GIB))

    assert lost and end_packed.fn(study, storage, live, run_id, reason) == reason
    run = mlflow.get_run(run_id)
    assert run.info.status == "KILLED" and run.data.tags[names.STOPPED] == PACKED
    failed, waiting = study.trials
    assert failed.state == TrialState.FAIL and failed.user_attrs[names.FAIL_REASON] == reason
    assert waiting.state == TrialState.WAITING and retried_from(waiting) == live.number
    assert waiting.user_attrs[names.LOSSES] == 1
