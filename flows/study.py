"""The sweep (deployment `study/sweep`, on the `cpu` pool): prepare the data once, keep trials going, promote.

Every trial is its own flow run of deployment `trial/run` on the `gpu` pool (flows/trial.py): it asks Optuna
for its parameters, trains, reports and tells Optuna itself. This flow only launches and watches them,
`n_parallel` at a time, until the study has `n_trials` finished (complete or pruned) trials; the same
`study_name` continues a study. The trial flow runs of a study carry the Prefect tag `study:NAME`: a sweep
started again counts those still pending or running as in flight and waits for them (it adopts them), and
fails only the trials whose flow run ended without telling Optuna, or vanished. At the end the best trial's
model is registered under its data's name (`maestro-lstm`, `chorales-lstm`, …: flows/registry.py) and the
study is summarised in a Prefect markdown artifact.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import optuna
from optuna.trial import TrialState
from prefect import flow, get_run_logger
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
)
from prefect.client.schemas.objects import StateType
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound
from prefect.runtime import flow_run

from lstm.data.windows import load_manifest

from . import tracking
from .params import SweepParams, validate
from .preprocess import prepare_data
from .progress import Progress
from .registry import promote
from .storage import fail_trial, make_storage
from .summary import log_study_plots, log_trials_table, write_summary
from .trial import FLOW_RUN_ATTR

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
TRIAL_DEPLOYMENT = "trial/run"
POLL_SECONDS = 3
ENDED = [StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED]
UNOWNED_AFTER = timedelta(seconds=60)  # a trial asked and not yet marked with its flow run: give it a minute


def finished(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=FINISHED))


def study_tag(study_name: str) -> str:
    return f"study:{study_name}"


def live_trial_runs(client: SyncPrefectClient, study_name: str) -> list:
    """The study's trial flow runs still scheduled (queued, awaiting a retry), pending or running."""
    return client.read_flow_runs(
        flow_filter=FlowFilter(name=FlowFilterName(any_=["trial"])),
        flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[study_tag(study_name)]),
                                      state=FlowRunFilterState(type=FlowRunFilterStateType(not_any_=ENDED))))


def ended(client: SyncPrefectClient, ids: list) -> list:
    """Those of the flow runs `ids` that have ended."""
    if not ids:
        return []
    return client.read_flow_runs(flow_run_filter=FlowRunFilter(
        id=FlowRunFilterId(any_=ids), state=FlowRunFilterState(type=FlowRunFilterStateType(any_=ENDED))),
        limit=len(ids))


def fail_dead_trials(study: optuna.Study, storage, client: SyncPrefectClient, logger) -> None:
    """RUNNING trials whose trial flow run crashed, failed, ended or vanished: FAIL, with the reason.

    A trial whose flow run is still scheduled (e.g. awaiting a retry), pending or running is alive and left
    alone, whichever sweep launched it."""
    dead = {}
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = t.user_attrs.get(FLOW_RUN_ATTR)
        if owner is None:
            if datetime.now() - t.datetime_start > UNOWNED_AFTER:  # Optuna's times are naive local times
                dead[t.number] = (t, "no trial flow run owns it")
            continue
        try:
            run = client.read_flow_run(owner)
        except ObjectNotFound:
            dead[t.number] = (t, f"its trial flow run {owner} vanished")
            continue
        if run.state and run.state.is_final():
            dead[t.number] = (t, f"trial flow run {run.name} ended {run.state.name}: {run.state.message or ''}")
    # Look again: a trial may have told Optuna just before its flow run ended.
    still = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
    for number, (t, reason) in dead.items():
        if number in still and fail_trial(study, storage, number, reason.strip()):
            logger.error("trial %d failed: %s", number, reason)
            if run_id := t.user_attrs.get("mlflow_run_id"):
                tracking.close_run(run_id, "FAILED", reason)


def run_trials(p: SweepParams, study: optuna.Study, storage, prepared: str, parent_run: str, logger,
               progress: Progress) -> None:
    """Keep `n_parallel` trial flow runs in flight until `n_trials` trials have finished.

    In flight means every live trial flow run of the study, adopted ones included; more than there are
    GPU workers simply wait in the `gpu` pool's queue. After `n_trials` failures launched by this sweep it
    stops launching: a broken setup must not loop."""
    launched: list = []
    seed = p.seed + len(study.trials)  # each trial flow's sampler and training seed, distinct and reproducible
    with get_client(sync_client=True) as client:
        while True:
            fail_dead_trials(study, storage, client, logger)
            progress.update()  # an event a trial start and end, for the watch and the UI
            live = live_trial_runs(client, p.study_name)  # before counting finished: never over-launch
            if not launched and live:
                logger.info("adopting %d live trial flow runs of this study: %s", len(live),
                            ", ".join(r.name for r in live))
            done = finished(study)
            failed = [r for r in ended(client, launched) if r.state.type != StateType.COMPLETED]
            if len(failed) >= p.n_trials:
                logger.error("%d trial flow runs of this sweep failed: not launching more", len(failed))
                want = 0
            else:
                want = min(p.n_parallel - len(live), p.n_trials - done - len(live))
            for _ in range(max(want, 0)):
                # as a subflow (a task run of this sweep is its parent): the UI lists the trials under the sweep
                run = run_deployment(TRIAL_DEPLOYMENT, timeout=0, as_subflow=True, tags=[study_tag(p.study_name)],
                                     parameters=dict(study_name=p.study_name, space=str(p.space.path),
                                                     prepared=prepared, parent_run=parent_run,
                                                     experiment=p.experiment, storage=p.storage,
                                                     seed=seed + len(launched)))
                launched.append(run.id)
                live.append(run)
                logger.info("launched trial flow run %s (%d of %d finished, %d in flight)", run.name, done,
                            p.n_trials, len(live))
            if not live:
                return
            time.sleep(POLL_SECONDS)


@flow(name="study", log_prints=True)
def study(data_dir: str = "", space: str = "smoke", n_trials: int = 0, n_parallel: int = 1, study_name: str = "",
          storage: str = "", experiment: str = "maestro-lstm", seed: int = 0, max_duration: float | None = None,
          model_name: str = "") -> dict:
    """Optimize validation accuracy of next-token LSTMs over a search space from `studies/`.

    `n_trials` 0 means the space's own `trials:`; `max_duration` (seconds) keeps only shorter pieces;
    `model_name` is the registered model (default: named after the data, flows/registry.py)."""
    logger = get_run_logger()
    p = validate(data_dir, space, n_trials, n_parallel, study_name, storage, experiment, seed, max_duration,
                 model_name)
    prepared = prepare_data(p.data_dir, p.max_duration)
    manifest = load_manifest(prepared)
    p.study_name = p.study_name or f"{p.space.name}-{manifest['input_hash'][:8]}"

    optuna_storage = make_storage(p.storage)
    opt = optuna.create_study(study_name=p.study_name, storage=optuna_storage, direction="maximize",
                              pruner=p.space.pruner(), load_if_exists=True)
    searched = opt.user_attrs.get("space")
    if searched and searched != p.space.name:
        raise ValueError(f"study {p.study_name} was searched with space {searched!r}: continue it with "
                         f"space={searched} or choose another study_name")
    opt.set_user_attr("space", p.space.name)
    parent = tracking.sweep_run(
        p.experiment, p.study_name,
        tags={"prefect.flow_run_id": str(flow_run.id), "data_hash": manifest["input_hash"],
              "optuna.storage": "postgresql" if p.storage else "journal", "registered_model": p.model_name,
              "mlflow.note.content": p.space.description},  # the run's description in the MLflow UI
        params={"space": p.space.name, **{f"search.{k}": repr(v) for k, v in p.space.distributions.items()},
                **{f"fixed.{k}": v for k, v in p.space.fixed.items()}})
    tracking.log_json(parent, manifest, "manifest.json")
    logger.info("study %s: %d of %d trials finished; MLflow parent run %s", p.study_name, finished(opt),
                p.n_trials, parent)

    progress = Progress(opt, p.n_trials)
    run_trials(p, opt, optuna_storage, str(prepared), parent, logger, progress)

    summary = {"study_name": p.study_name, "finished": finished(opt), "mlflow_parent_run": parent,
               "data_hash": manifest["input_hash"]}
    complete = opt.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if complete:
        best = opt.best_trial
        summary["best"] = {"number": best.number, "params": best.params, "val_accuracy": best.value,
                           "test_accuracy": best.user_attrs.get("test_accuracy"),
                           "mlflow_run_id": best.user_attrs["mlflow_run_id"]}
        summary["registry"] = promote(best.user_attrs["mlflow_run_id"], {
            "study": p.study_name, "trial_number": str(best.number), "val_accuracy": f"{best.value:.6f}",
            "test_accuracy": f"{best.user_attrs.get('test_accuracy', float('nan')):.6f}",
            "data_hash": manifest["input_hash"]}, name=p.model_name)
        logger.info("best trial %d: val_accuracy %.4f; registered %s", best.number, best.value, summary["registry"])
    else:
        logger.warning("no trial completed: nothing to register")
    top = summary.get("best")
    progress.finish(f"study {p.study_name}: {summary['finished']} of {p.n_trials} trials finished" + (
        f", best val_accuracy {top['val_accuracy']:.2%} (trial {top['number']})" if top else ", none completed"))
    log_trials_table(opt, parent)
    log_study_plots(opt, parent)
    write_summary(opt, p, summary, parent)
    tracking.close_run(parent, "FINISHED")
    return summary
