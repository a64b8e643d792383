"""One Optuna trial, from ask to tell, as its own Prefect flow run on the `gpu` pool (deployment `trial/run`).

The shape of Optuna's distributed (ask-and-tell) examples: load the study, ask it for parameters, train
while reporting every epoch's validation accuracy (the pruner may stop the trial), tell the outcome. The
MLflow child run is opened once the trial has its number and parameters, nested under the sweep's run.
The trial records its Prefect flow run id on itself (user attr `prefect_flow_run`), so that a retry of
this flow run continues the same trial from its checkpoint, and a sweep started again can tell a live
trial from a dead one. Prefect retries only transient failures (an unreachable server); a deterministic
one (a bad configuration, out of memory, a diverged loss) fails the trial at once, with its reason.
"""

from __future__ import annotations

import os
import socket
import warnings
from pathlib import Path

import mlflow
import optuna
import torch
from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from lstm.train import TrainConfig, train

from . import tracking
from .outputs import Music, log_results
from .phases import Phases, peak_memory
from .retry import no_more_retries, transient
from .settings import state_dir
from .space import Space, load_space
from .storage import FAIL_ATTR, heartbeat, make_storage, trial_id

FLOW_RUN_ATTR = "prefect_flow_run"  # the trial flow run that owns a trial: how a sweep knows it is alive
WORKER_ATTR = "worker"  # where it runs, and why it was pruned: what the sweep's watch shows (flows/progress.py)
PRUNED_ATTR = "pruned_reason"

def worker_name() -> str:
    """The Prefect worker's name (flows/stack.py and docker/compose.yaml set MAESTRO_WORKER), else the host."""
    return os.environ.get("MAESTRO_WORKER", socket.gethostname())


def trial_device() -> str:
    """The worker's GPU (each GPU worker sees exactly one, through CUDA_VISIBLE_DEVICES), else the CPU."""
    return "cuda" if torch.cuda.is_available() else "cpu"


@flow(name="trial", retries=3, retry_delay_seconds=20, log_prints=True)
def trial(study_name: str, space: str, prepared: str, parent_run: str, experiment: str = "maestro-lstm",
          storage: str = "", seed: int = 0) -> dict:
    """Ask Optuna for a trial of `study_name`, train it on `prepared`, report, prune, tell.

    `seed` seeds this trial's sampler (TPE) and its training; the sweep gives every trial flow its own."""
    phases = Phases()  # start-up: this process's start to here
    try:
        with phases("setup"):
            tracking.check_reachable()  # fail (and retry) before asking, not halfway through a trial
            search, optuna_storage = load_space(space), make_storage(storage)
            study = optuna.load_study(study_name=study_name, storage=optuna_storage, pruner=search.pruner(),
                                      sampler=optuna.samplers.TPESampler(seed=seed))
            live = ask(study, optuna_storage, search)
        if live is None:
            return {"state": "already finished"}
        with trial_run(study, live, experiment, parent_run, search), heartbeat(optuna_storage, study_name, live.number):
            return objective(study, live, search, prepared, seed, phases)
    except Exception as exc:
        if not transient(exc):
            no_more_retries(f"{type(exc).__name__}: {exc}")
        raise


def ask(study: optuna.Study, storage, search: Space) -> optuna.Trial | None:
    """This flow run's trial: asked on its first attempt, the same trial again on a retry (None if finished)."""
    me = str(flow_run.id)
    mine = [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get(FLOW_RUN_ATTR) == me]
    if mine:
        if mine[0].state.is_finished():
            get_run_logger().info("trial %d already %s", mine[0].number, mine[0].state.name)
            return None
        get_run_logger().info("retry: continuing trial %d from its checkpoint", mine[0].number)
        return optuna.Trial(study, trial_id(storage, study.study_name, mine[0].number))
    # As Optuna's own optimize loop does before it asks: fail trials whose heartbeats stopped (PostgreSQL);
    # RetryHeartbeatStaleTrialCallback queues their parameters again, and this ask may get them.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # fail_stale_trials: since 2.9
        # "Heartbeat of storage is supposed to be used with Study.optimize": this flow sends them (storage.py)
        warnings.filterwarnings("ignore", message="Heartbeat of storage")
        optuna.storages.fail_stale_trials(study)
        live = study.ask(search.distributions)
    live.set_user_attr(FLOW_RUN_ATTR, me)
    live.set_user_attr(WORKER_ATTR, worker_name())  # the sweep announces the trial once it has this
    get_run_logger().info("trial %d: %s", live.number, live.params)
    return live


def trial_run(study: optuna.Study, live: optuna.Trial, experiment: str, parent_run: str, search: Space):
    """The trial's MLflow child run, created on its first attempt, reopened on a retry; active in the block."""
    run_id = live.user_attrs.get("mlflow_run_id")
    if run_id is None:
        run_id = tracking.trial_run(experiment, parent_run, study.study_name, live.number,
                                    {**search.fixed, **live.params})
        live.set_user_attr("mlflow_run_id", run_id)
    return mlflow.start_run(run_id=run_id)


def objective(study: optuna.Study, live: optuna.Trial, search: Space, prepared: str, seed: int,
              phases: Phases) -> dict:
    """Train with the trial's parameters, report each epoch, tell Optuna; the MLflow run is active.
    A completed trial logs where its time went (`phase_*_seconds`, flows/phases.py)."""
    device = trial_device()
    mlflow.set_tags({"device": device, "prefect.trial_flow_run": str(flow_run.id or ""),
                     "worker": worker_name()})
    run_dir = state_dir() / "runs" / study.study_name / f"trial-{live.number}"

    def on_epoch(m: dict) -> None:
        mlflow.log_metrics({k: m[k] for k in ("train_loss", "val_loss", "val_accuracy", "epoch_seconds")},
                           step=m["epoch"])
        live.report(m["val_accuracy"], m["epoch"])
        if live.should_prune():
            raise optuna.TrialPruned(f"pruned at epoch {m['epoch']} (val_accuracy {m['val_accuracy']:.4f})")

    try:
        cfg = TrainConfig(**search.train_config(live.params, seed))
        with Music(Path(prepared), cfg.seed, phases) as music:  # sampled once the kept model is saved
            metrics = train(prepared, run_dir, cfg, device=device, on_epoch=on_epoch, resume=True,
                            on_kept=music.start)
            for name, seconds in metrics["phase_seconds"].items():  # data_load, training, evaluation
                phases.add(name, seconds)
            with phases("evaluation"):
                log_results(metrics, run_dir)
            music.log()
        mlflow.log_metrics({**phases.metrics(), **peak_memory()})
    except optuna.TrialPruned as pruned:
        get_run_logger().info("%s", pruned)
        mlflow.set_tags({"optuna.state": "PRUNED", "pruned_reason": str(pruned)})
        live.set_user_attr(PRUNED_ATTR, str(pruned))
        study.tell(live, state=optuna.trial.TrialState.PRUNED)
        mlflow.end_run("KILLED")  # ends the active run: leaving the `with` would mark it FINISHED
        return {"state": "PRUNED", "number": live.number}
    except Exception as exc:
        if transient(exc):
            raise  # Prefect retries this flow run, which continues the trial from its checkpoint
        reason = f"{type(exc).__name__}: {exc}"
        get_run_logger().error("trial %d failed, not retried: %s", live.number, reason)
        live.set_user_attr(FAIL_ATTR, reason[:1000])
        study.tell(live, state=optuna.trial.TrialState.FAIL)
        mlflow.set_tags({"optuna.state": "FAIL", "failure_reason": reason[:5000]})
        raise  # the `with` ends the run FAILED
    live.set_user_attr("test_accuracy", metrics["test_accuracy"])
    mlflow.set_tag("optuna.state", "COMPLETE")
    study.tell(live, metrics["val_accuracy"])
    return {"state": "COMPLETE", "number": live.number, "val_accuracy": metrics["val_accuracy"]}
