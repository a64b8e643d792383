"""The sweep (deployment `study/sweep`, on the `cpu` pool): validate, prepare the data once, open the study,
keep trials going, promote the best, summarise.

The trials themselves run as flow runs of `trial/run` on the `gpu` pool (flows/trial/flow.py); this process
only launches and watches them (flows/sweep/launch.py), so it imports no torch. The same `study_name`
continues a study. The best trial's model is registered under its data's name (`maestro-lstm`,
`chorales-lstm`, …: flows/sweep/registry.py).

Its imports are absolute: Prefect runs a deployment's entrypoint as a script, outside its package.
"""

from __future__ import annotations

from pathlib import Path

import optuna
from prefect import flow, get_run_logger, task
from prefect.client.orchestration import get_client
from prefect.runtime import flow_run

from flows import tracking
from flows.names import (
    DATA_HASH,
    DESCRIPTION,
    EXPERIMENT,
    FLOW_RUN_ID,
    MANIFEST,
    MAX_RESTARTS,
    REGISTERED_MODEL,
    STORAGE_KIND,
    STUDY_SPACE,
    SWEEP_FLOW,
    study_tag,
)
from flows.requeue import DEFAULT_MAX_RESTARTS
from flows.storage import finished, make_storage, storage_kind
from flows.sweep.budget import Budget
from flows.sweep.cancel import cancel_trials
from flows.sweep.launch import run_trials
from flows.sweep.params import SweepParams, validate
from flows.sweep.prepare import prepare_data
from flows.sweep.progress import Progress
from flows.sweep.publish import publish
from flows.sweep.registry import promote
from flows.sweep.summary import BestTrial, StudySummary, log_study_plots, log_trials_table, summarise
from flows.sweep.warm_start import enqueue_first
from lstm.data.manifest import Manifest, load_manifest


@flow(name=SWEEP_FLOW, log_prints=True, on_cancellation=[cancel_trials])
def study(data_dir: str = "", space: str = "smoke", n_trials: int = 0, n_parallel: int = 1, study_name: str = "",
          storage: str = "", experiment: str = EXPERIMENT, seed: int = 0, max_duration: float | None = None,
          model_name: str = "", timeout_hours: float | None = None, warm_start: str = "", warm_start_top: int = 3,
          part: str = "first", reader: str = "auto", split_ratios: list[float] | None = None,
          split_seed: int = 0, max_restarts: int = DEFAULT_MAX_RESTARTS) -> StudySummary:
    """Optimize validation accuracy of next-token LSTMs over a search space from `studies/`.

    `n_trials` 0 means the space's own `trials:`; `max_duration` (seconds) keeps only shorter pieces;
    `model_name` is the registered model (default: named after the data, flows/sweep/registry.py);
    `timeout_hours`: no trial is launched after that long; `warm_start`: a new study first tries the best
    `warm_start_top` configurations of that study; `part`, `reader`, `split_ratios`, `split_seed`: as
    `lstm prepare` takes them; `max_restarts`: how often a lost trial continues from its checkpoint before
    it stays failed."""
    logger = get_run_logger()
    budget = Budget(timeout_hours)  # from the sweep's start: validation and preparation count
    p = validate(data_dir, space, n_trials, n_parallel, study_name, storage, experiment, seed, max_duration,
                 model_name, timeout_hours, warm_start, warm_start_top, part, reader, split_ratios, split_seed,
                 max_restarts)
    prepared = prepare_data(p.data_dir, p.max_duration, p.prepare)
    manifest = load_manifest(prepared)
    p.study_name = p.study_name or f"{p.space.name}-{manifest.input_hash[:8]}"
    tag_sweep(p.study_name)
    if p.warm_start:
        p.warm_start.check_data(manifest.input_hash, p.experiment)
    optuna_storage = make_storage(p.storage)
    opt = open_study(p, optuna_storage, manifest.input_hash)
    enqueue_first(opt, (p.warm_start.configs if p.warm_start else []) + p.space.enqueue, logger)
    parent = sweep_run(p, manifest)
    logger.info("study %s: %d of %d trials finished; MLflow parent run %s", p.study_name, finished(opt),
                p.n_trials, parent)

    progress = Progress(opt, p.n_trials)
    data_run = publish_data(prepared, p.experiment)
    run_trials(p, opt, optuna_storage, str(prepared), parent, logger, progress, budget, data_run)

    summary = StudySummary(p.study_name, p.space.name, p.n_trials, finished(opt), manifest.input_hash, parent,
                           BestTrial.of(opt), budget_hours=budget.hours, budget_reached=budget.reached)
    if summary.best:
        b = summary.best
        summary.registry = promote(b.mlflow_run_id, p.model_name, p.study_name, b.number, b.val_accuracy,
                                   b.test_accuracy, manifest.input_hash, prepared)
        logger.info("best trial %d: val_accuracy %.4f; registered %s", b.number, b.val_accuracy, summary.registry)
    else:
        logger.warning("no trial completed: nothing to register")
    progress.finish(summary.line(), budget.reached)
    logger.info("%s", summary.line())
    log_trials_table(opt, parent)
    log_study_plots(opt, parent)
    summarise(opt, summary, p.experiment)
    tracking.close_run(parent, "FINISHED")
    return summary


def open_study(p: SweepParams, storage, data_hash: str) -> optuna.Study:
    """The study, created or continued; a study is continued only with the space it was searched with.
    It records its data's hash, which a warm start from it checks (flows/sweep/warm_start.py)."""
    opt = optuna.create_study(study_name=p.study_name, storage=storage, direction="maximize",
                              pruner=p.space.pruner(), load_if_exists=True)
    searched = opt.user_attrs.get(STUDY_SPACE)
    if searched and searched != p.space.name:
        raise ValueError(f"study {p.study_name} was searched with space {searched!r}: continue it with "
                         f"space={searched} or choose another study_name")
    opt.set_user_attr(STUDY_SPACE, p.space.name)
    opt.set_user_attr(MAX_RESTARTS, p.max_restarts)  # read where a lost trial is continued (flows/requeue.py)
    if DATA_HASH not in opt.user_attrs:
        opt.set_user_attr(DATA_HASH, data_hash)
    return opt


@task(name="publish", retries=3, retry_delay_seconds=10)
def publish_data(prepared: Path, experiment: str) -> str:
    """The prepared data set in the artifact store, for workers that do not share this machine's folders."""
    return publish(prepared, experiment)


def tag_sweep(study_name: str) -> None:
    """The sweep's own flow run gets its study's tag: what cancelling it cancels (flows/sweep/cancel.py)."""
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(flow_run.id)
        client.update_flow_run(run.id, tags=sorted({*run.tags, study_tag(study_name)}))


def sweep_run(p: SweepParams, manifest: Manifest) -> str:
    """The study's MLflow parent run (reopened when the study continues), with the data's manifest."""
    parent = tracking.sweep_run(
        p.experiment, p.study_name,
        tags={FLOW_RUN_ID: str(flow_run.id), DATA_HASH: manifest.input_hash, STORAGE_KIND: storage_kind(p.storage),
              REGISTERED_MODEL: p.model_name, DESCRIPTION: p.space.description},
        params={"space": p.space.name, **{f"search.{k}": repr(v) for k, v in p.space.distributions.items()},
                **{f"fixed.{k}": v for k, v in p.space.fixed.items()}})
    tracking.log_json(parent, manifest.to_dict(), MANIFEST)
    return parent
