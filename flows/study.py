"""The sweep (deployment `study/sweep`): preprocess once, then Optuna trials on the `gpu` pool.

Optuna (TPE, seeded) asks for parameters here; every trial runs as its own Prefect flow run of
deployment `trial/run`, `n_parallel` at a time, logging to a nested MLflow run. Re-running with
the same `study_name` continues the study up to `n_trials` finished trials in total. At the end
the best trial's model is registered as `maestro-lstm` and the study is summarised in a Prefect
markdown artifact.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import optuna
from optuna.trial import TrialState
from prefect import flow, get_run_logger
from prefect.deployments import run_deployment
from prefect.runtime import flow_run

from lstm.data.windows import load_manifest

from . import tracking
from .params import SweepParams, validate
from .preprocess import prepare_data
from .registry import promote
from .storage import make_storage
from .summary import log_study_plots, write_summary

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)
TRIAL_DEPLOYMENT = "trial/run"


def finished(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=FINISHED))


def close_orphans(study: optuna.Study, logger) -> None:
    """Trials still RUNNING when a sweep starts belong to a sweep that died: fail them, close their runs."""
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if t.user_attrs.get("sweep_flow_run") == str(flow_run.id):
            continue
        logger.warning("trial %d was left running by an earlier sweep: marking it failed", t.number)
        optuna.trial.Trial(study, t._trial_id).set_user_attr("fail_reason", "its sweep stopped before it finished")
        study.tell(t.number, state=TrialState.FAIL)
        if run_id := t.user_attrs.get("mlflow_run_id"):
            tracking.close_run(run_id, "FAILED", "its sweep stopped before the trial finished")


class TrialDispatcher:
    """Keeps `n_parallel` trial flow runs going until the study has `n_trials` finished trials."""

    def __init__(self, p: SweepParams, study: optuna.Study, prepared: str, parent_run: str, logger):
        self.p, self.study, self.prepared, self.parent_run, self.logger = p, study, prepared, parent_run, logger
        self.lock = threading.Lock()
        self.in_flight = 0
        self.failures = 0  # a sweep stops asking after n_trials failures: a broken setup must not loop

    def _ask(self) -> optuna.Trial | None:
        with self.lock:
            optuna.storages.fail_stale_trials(self.study)  # RDB heartbeats: re-queues dead trials
            if finished(self.study) + self.in_flight >= self.p.n_trials:
                return None
            if self.failures >= self.p.n_trials:
                self.logger.error("%d trials failed in this sweep: not asking for more", self.failures)
                return None
            self.in_flight += 1
            return self.study.ask(self.p.space.distributions)

    def worker(self, slot: int) -> None:
        while (trial := self._ask()) is not None:
            try:
                self.run_trial(trial, slot)
            finally:
                with self.lock:
                    self.in_flight -= 1

    def run_trial(self, trial: optuna.Trial, slot: int) -> None:
        name, number = self.study.study_name, trial.number
        run_id = tracking.trial_run(self.p.experiment, self.parent_run, name, number,
                                    {**self.p.space.fixed, **trial.params})
        trial.set_user_attr("mlflow_run_id", run_id)
        trial.set_user_attr("sweep_flow_run", str(flow_run.id))
        self.logger.info("trial %d: %s", number, trial.params)
        result = run_deployment(TRIAL_DEPLOYMENT, timeout=None, parameters=dict(
            study_name=name, trial_number=number, params=trial.params, space=str(self.p.space.path),
            prepared=self.prepared, mlflow_run_id=run_id, storage=self.p.storage, seed=self.p.seed + number,
            slot=slot), tags=[f"study:{name}", f"trial:{number}"])
        state = next(t for t in self.study.get_trials(deepcopy=False) if t.number == number).state
        if state == TrialState.RUNNING:  # the trial flow never told Optuna: it failed or crashed
            reason = f"trial flow run {result.name} ended {result.state.name}: {result.state.message or ''}".strip()
            self.logger.error("trial %d failed: %s", number, reason)
            trial.set_user_attr("fail_reason", reason)
            self.study.tell(number, state=TrialState.FAIL)
            with self.lock:
                self.failures += 1
            tracking.close_run(run_id, "FAILED", reason)
        else:
            self.logger.info("trial %d: %s", number, state.name)


@flow(name="study", log_prints=True)
def study(data_dir: str = "", space: str = "smoke", n_trials: int = 4, n_parallel: int = 1, study_name: str = "",
          storage: str = "", experiment: str = "maestro-lstm", seed: int = 0) -> dict:
    """Optimize validation accuracy of next-token LSTMs over a search space from `studies/`."""
    logger = get_run_logger()
    p = validate(data_dir, space, n_trials, n_parallel, study_name, storage, experiment, seed)
    prepared = prepare_data(p.data_dir)
    manifest = load_manifest(prepared)
    p.study_name = p.study_name or f"{p.space.name}-{manifest['input_hash'][:8]}"

    opt = optuna.create_study(study_name=p.study_name, storage=make_storage(p.storage), direction="maximize",
                              pruner=p.space.pruner(), load_if_exists=True)
    searched = opt.user_attrs.get("space")
    if searched and searched != p.space.name:
        raise ValueError(f"study {p.study_name} was searched with space {searched!r}: continue it with "
                         f"space={searched} or choose another study_name")
    opt.set_user_attr("space", p.space.name)
    # Seeded, and offset by the trials already there so a continued study does not replay its start.
    opt.sampler = optuna.samplers.TPESampler(seed=p.seed + len(opt.trials))
    close_orphans(opt, logger)
    parent = tracking.sweep_run(
        p.experiment, p.study_name,
        tags={"prefect.flow_run_id": str(flow_run.id), "data_hash": manifest["input_hash"],
              "optuna.storage": "postgresql" if p.storage else "journal"},
        params={"space": p.space.name, **{f"search.{k}": repr(v) for k, v in p.space.distributions.items()},
                **{f"fixed.{k}": v for k, v in p.space.fixed.items()}})
    tracking.log_json(parent, manifest, "manifest.json")
    logger.info("study %s: %d of %d trials finished; MLflow parent run %s", p.study_name, finished(opt),
                p.n_trials, parent)

    dispatcher = TrialDispatcher(p, opt, str(prepared), parent, logger)
    with ThreadPoolExecutor(p.n_parallel, thread_name_prefix="trial-slot") as pool:
        list(pool.map(dispatcher.worker, range(p.n_parallel)))

    summary = {"study_name": p.study_name, "finished": finished(opt), "mlflow_parent_run": parent,
               "data_hash": manifest["input_hash"]}
    complete = opt.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if complete:
        best = opt.best_trial
        summary["best"] = {"number": best.number, "params": best.params, "val_accuracy": best.value,
                           "test_accuracy": best.user_attrs.get("test_accuracy"),
                           "mlflow_run_id": best.user_attrs["mlflow_run_id"]}
        summary["registry"] = promote(best.user_attrs["model_uri"], best.user_attrs["mlflow_run_id"], {
            "study": p.study_name, "trial_number": str(best.number), "val_accuracy": f"{best.value:.6f}",
            "test_accuracy": f"{best.user_attrs.get('test_accuracy', float('nan')):.6f}",
            "data_hash": manifest["input_hash"]})
        logger.info("best trial %d: val_accuracy %.4f; registered %s", best.number, best.value, summary["registry"])
    else:
        logger.warning("no trial completed: nothing to register")
    log_study_plots(opt, parent)
    write_summary(opt, p, summary, parent)
    tracking.close_run(parent, "FINISHED")
    return summary
