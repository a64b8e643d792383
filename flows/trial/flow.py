"""One Optuna trial, from ask to tell, as its own Prefect flow run on the `gpu` pool (deployment `trial/run`).

The shape of Optuna's distributed (ask-and-tell) examples: load the study, ask it for parameters, train
while reporting every epoch's validation accuracy (the pruner may stop the trial), tell the outcome. The
MLflow child run is opened once the trial has its number and parameters, nested under the sweep's run.
The trial records its Prefect flow run id on itself (FLOW_RUN_ID), so a sweep started again can tell a
live trial from a dead one. Every step that talks to a server is a task retried on transient failures
(flows/trial/retry.py); any other failure (a bad configuration, out of memory alone on its GPU, a diverged
loss) fails the trial at once, with its reason. Out of memory beside other trials on the GPU is a loss of
the attempt, continued later (flows/trial/packing.py). A trial that continues a lost or cancelled one
(flows/requeue.py) reopens its MLflow run and goes on from its checkpoint (flows/trial/checkpoints.py);
SIGTERM stops a trial at the next batch with a checkpoint (flows/trial/stop.py). CUDA starts on a thread
while the process imports and the trial talks to its servers (flows/trial/warmup.py).

Its imports are absolute: Prefect runs a deployment's entrypoint as a script, outside its package.
"""

from __future__ import annotations

# First: in a trial's own process this starts CUDA, which then runs beside the imports below.
from flows.trial.warmup import WARMUP, Warmup

# isort: split
import os
import socket
import warnings
from pathlib import Path

import optuna
import torch
from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from flows import tracking
from flows.names import (
    DEVICE,
    EPOCH_METRICS,
    EXPERIMENT,
    FAIL_REASON,
    FLOW_RUN_ID,
    MLFLOW_RUN_ID,
    OPTUNA_STATE,
    PRUNED_REASON,
    RETRY_OF,
    STOPPED,
    TEST_ACCURACY,
    TRIAL_FLOW,
    TRIAL_NUMBER,
    WORKER,
    WORKER_ENV,
)
from flows.requeue import retried_from
from flows.settings import state_dir
from flows.space import Space, load_space
from flows.storage import heartbeat, make_storage, trial_id
from flows.trial import checkpoints, packing
from flows.trial.continuing import end_stopped, fetch_data, resume_from
from flows.trial.outputs import Music, log_results
from flows.trial.phases import Phases, peak_memory
from flows.trial.retry import server_step, transient
from flows.trial.stop import StopOnSigterm
from lstm.checkpoint import Interrupted
from lstm.train import TrainConfig, train


def worker_name() -> str:
    """The Prefect worker's name (flows/ops/stack.py and docker/compose.yaml set it), else the host."""
    return os.environ.get(WORKER_ENV, socket.gethostname())


def trial_device() -> str:
    """The worker's GPU (each GPU worker sees exactly one, through CUDA_VISIBLE_DEVICES), else the CPU."""
    return "cuda" if torch.cuda.is_available() else "cpu"


@flow(name=TRIAL_FLOW, log_prints=True)
def trial(study_name: str, space: str, prepared: str, parent_run: str, experiment: str = EXPERIMENT,
          storage: str = "", seed: int = 0, data_run: str = "") -> dict:
    """Ask Optuna for a trial of `study_name`, train it on `prepared`, report, prune, tell.

    `seed` seeds this trial's sampler (TPE) and its training; the sweep gives every trial flow its own.
    `data_run`: the MLflow run holding the data set, fetched from there where `prepared` is not on this
    machine (flows/trial/data.py)."""
    phases = Phases()  # start-up: this process's start to here
    warm = WARMUP.start()  # torch._dynamo's import (and CUDA's start, unless it began at import)
    with phases("setup"):
        search, optuna_storage = load_space(space), make_storage(storage)
        study, live = ask(study_name, optuna_storage, search, seed)
    if live is None:
        return {"state": "already finished"}
    origin = retried_from(optuna_storage.get_trial(trial_id(optuna_storage, study_name, live.number)))
    with heartbeat(optuna_storage, study_name, live.number):
        run_id = open_run(study, live, experiment, parent_run, search, origin)
        with phases("data_fetch"):
            prepared = str(fetch_data(prepared, data_run))
        return objective(study, optuna_storage, live, origin, run_id, search, prepared, seed, phases, warm)


@server_step
def ask(study_name: str, storage, search: Space, seed: int) -> tuple[optuna.Study, optuna.Trial | None]:
    """This flow run's trial: asked once; the same trial again if this step is retried (None if finished)."""
    tracking.check_reachable()  # fail (and wait) before asking, not halfway through a trial
    study = optuna.load_study(study_name=study_name, storage=storage, pruner=search.pruner(),
                              sampler=optuna.samplers.TPESampler(seed=seed))
    me = str(flow_run.id)
    mine = [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get(FLOW_RUN_ID) == me]
    if mine:
        if mine[0].state.is_finished():
            get_run_logger().info("trial %d already %s", mine[0].number, mine[0].state.name)
            return study, None
        return study, optuna.Trial(study, trial_id(storage, study.study_name, mine[0].number))
    # As Optuna's own optimize loop does before it asks: fail trials whose heartbeats stopped (PostgreSQL);
    # RetryHeartbeatStaleTrialCallback queues their parameters again, and this ask may get them.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)  # fail_stale_trials: since 2.9
        # "Heartbeat of storage is supposed to be used with Study.optimize": this flow sends them (storage.py)
        warnings.filterwarnings("ignore", message="Heartbeat of storage")
        optuna.storages.fail_stale_trials(study)
        live = study.ask(search.distributions)
    live.set_user_attr(FLOW_RUN_ID, me)
    live.set_user_attr(WORKER, worker_name())  # the sweep announces the trial once it has this
    get_run_logger().info("trial %d: %s", live.number, live.params)
    return study, live


@server_step
def open_run(study: optuna.Study, live: optuna.Trial, experiment: str, parent_run: str, search: Space,
             origin: int | None) -> str:
    """The trial's MLflow child run, created once (a retried step finds it on the trial); a trial that
    continues another reopens that one's run, so its epochs stay one curve."""
    run_id = live.user_attrs.get(MLFLOW_RUN_ID)
    if run_id is None:
        run_id = tracking.trial_run(experiment, parent_run, study.study_name, live.number,
                                    {**search.fixed, **live.params})
        live.set_user_attr(MLFLOW_RUN_ID, run_id)
    elif origin is not None:
        tracking.reopen_run(run_id)
        tracking.set_tags(run_id, {TRIAL_NUMBER: live.number, RETRY_OF: origin, STOPPED: ""})
    tracking.set_tags(run_id, {DEVICE: trial_device(), FLOW_RUN_ID: str(flow_run.id or ""), WORKER: worker_name()})
    return run_id


@server_step
def log_epoch(run_id: str, m: dict) -> None:
    tracking.log_metrics(run_id, {k: m[k] for k in EPOCH_METRICS}, step=m["epoch"])


@server_step
def report_epoch(live: optuna.Trial, m: dict) -> bool:
    """Report the epoch to Optuna; True when the pruner stops the trial."""
    live.report(m["val_accuracy"], m["epoch"])
    return live.should_prune()


@server_step
def log_music(music: Music, run_id: str) -> None:
    music.log(run_id)


@server_step
def log_costs(run_id: str, phases: Phases, uploads: checkpoints.Uploader) -> None:
    tracking.log_metrics(run_id, {**phases.metrics(), **peak_memory(), **uploads.metrics()})


@server_step
def tell(study: optuna.Study, live: optuna.Trial, run_id: str, state: optuna.trial.TrialState,
         value: float | None = None, attrs: dict | None = None, tags: dict | None = None,
         status: str = "FINISHED") -> None:
    """The outcome in Optuna, then in the MLflow run, which ends with `status`. Optuna first and only once:
    a retry after MLflow failed must not tell a finished trial again."""
    told = {t.number for t in study.get_trials(deepcopy=False) if t.state.is_finished()}
    if live.number not in told:
        for key, v in (attrs or {}).items():
            live.set_user_attr(key, v)
        study.tell(live, value, state=state)
    tracking.set_tags(run_id, {OPTUNA_STATE: state.name, **(tags or {})})
    tracking.close_run(run_id, status)


def objective(study: optuna.Study, storage, live: optuna.Trial, origin: int | None, run_id: str, search: Space,
              prepared: str, seed: int, phases: Phases, warm: Warmup) -> dict:
    """Train with the trial's parameters, report each epoch, tell Optuna and MLflow.
    A completed trial logs where its time went (`phase_*_seconds`, flows/trial/phases.py)."""
    logger = get_run_logger()
    # a continued trial trains in its origin's directory: this machine may hold its checkpoint already
    run_dir = state_dir() / "runs" / study.study_name / f"trial-{live.number if origin is None else origin}"
    State = optuna.trial.TrialState
    at, logged = resume_from(live, run_id, run_dir)
    if at is not None:
        logger.info("trial %d resumed from %s on %s (it continues trial %s)", live.number,
                    checkpoints.describe(at), worker_name(), origin)
    uploads = checkpoints.Uploader(run_id, logger)

    def on_epoch(m: dict) -> None:
        if m["epoch"] not in logged:  # an earlier attempt logged it (its checkpoint came before its log)
            log_epoch(run_id, m)
        if report_epoch(live, m):
            raise optuna.TrialPruned(f"pruned at epoch {m['epoch']} (val_accuracy {m['val_accuracy']:.4f})")

    try:
        cfg = TrainConfig(**search.train_config(live.params, seed))
        with Music(Path(prepared), cfg.seed, phases) as music, StopOnSigterm() as stops:
            def on_kept(model_path: Path) -> None:  # training is over: a SIGTERM now goes to Prefect at once
                stops.training = False
                if stops.requested.is_set():
                    stops.hand_over()
                music.start(model_path)

            with phases("data_load"):  # what data_load used to wait for, if the warm-up is not done
                warm.join(logger)
            stops.training = True
            try:
                metrics = train(prepared, run_dir, cfg, device=trial_device(), on_epoch=on_epoch, resume=True,
                                on_kept=on_kept, on_checkpoint=uploads,
                                checkpoint_seconds=search.checkpoint_minutes * 60,
                                should_stop=stops.requested.is_set)
            except Interrupted as stopped:
                logger.warning("trial %d: %s", live.number, end_stopped(study, storage, live, run_id, stopped))
                stops.hand_over()  # Prefect ends the flow run Cancelled or Crashed
                raise
            for name, seconds in metrics["phase_seconds"].items():  # data_load, training, evaluation
                phases.add(name, seconds)
            with phases("evaluation"):
                log_results(run_id, metrics, run_dir)
            music.wait()
            log_music(music, run_id)
        log_costs(run_id, phases, uploads)
    except optuna.TrialPruned as pruned:
        logger.info("%s", pruned)
        tell(study, live, run_id, State.PRUNED, attrs={PRUNED_REASON: str(pruned)},
             tags={PRUNED_REASON: str(pruned)}, status="KILLED")  # MLflow has no PRUNED status
        return {"state": "PRUNED", "number": live.number}
    except Interrupted:
        raise
    except Exception as exc:
        oom = packing.verdict(exc)  # out of memory: beside other trials a loss, alone "too big"
        if oom and oom[0]:
            logger.warning("trial %d lost: %s", live.number, packing.end_packed(study, storage, live, run_id, oom[1]))
            raise packing.Lost(oom[1]) from exc
        reason = oom[1] if oom else f"{type(exc).__name__}: {exc}"
        why = "its server stayed unreachable" if transient(exc) else "not retried: it would fail the same way"
        logger.error("trial %d failed (%s): %s", live.number, why, reason)
        tell(study, live, run_id, State.FAIL, attrs={FAIL_REASON: reason[:1000]}, tags={FAIL_REASON: reason[:5000]},
             status="FAILED")
        raise
    tell(study, live, run_id, State.COMPLETE, metrics["val_accuracy"], attrs={TEST_ACCURACY: metrics["test_accuracy"]})
    return {"state": "COMPLETE", "number": live.number, "val_accuracy": metrics["val_accuracy"]}
