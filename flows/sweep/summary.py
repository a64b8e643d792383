"""What a finished sweep leaves behind for people: the typed summary the flow returns, Optuna's plots and
trial table in MLflow, a Prefect markdown table."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import optuna
from optuna.trial import TrialState
from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact

from lstm.seed import SEED

from ..names import (
    FAIL_REASON,
    MLFLOW_RUN_ID,
    PLOTS_DIR,
    TEST_ACCURACY,
    TRIALS_CSV,
    artifact_key,
    baseline_metric,
)
from ..settings import tracking_uri
from ..storage import best_trial
from ..text import pct, short_params
from ..tracking import client, experiment_id
from .registry import Promotion


@dataclass
class BestTrial:
    number: int
    params: dict
    val_accuracy: float
    test_accuracy: float | None
    mlflow_run_id: str

    @classmethod
    def of(cls, study: optuna.Study) -> BestTrial | None:
        best = best_trial(study)
        if best is None:
            return None
        return cls(best.number, best.params, best.value, best.user_attrs.get(TEST_ACCURACY),
                   best.user_attrs[MLFLOW_RUN_ID])


@dataclass
class StudySummary:
    """What the sweep returns: the study, how far it got, its best trial and what the registry made of it."""
    study_name: str
    space: str
    n_trials: int
    finished: int
    data_hash: str
    mlflow_parent_run: str
    best: BestTrial | None = None
    registry: Promotion | None = None
    budget_hours: float | None = None  # the sweep's timeout_hours
    budget_reached: bool = False  # the budget ended it: trials it still wanted were not launched

    def progress(self) -> str:
        done = f"{self.finished} of {self.n_trials} trials finished"
        return f"budget of {self.budget_hours:g} h reached: {done}" if self.budget_reached else done

    def line(self) -> str:
        best = (f", best val_accuracy {self.best.val_accuracy:.2%} (trial {self.best.number})" if self.best
                else ", none completed")
        return f"study {self.study_name}: {self.progress()}" + best


def log_study_plots(study: optuna.Study, parent_run: str) -> None:
    """Optimization history and parameter importances as self-contained HTML on the parent run."""
    plots = {"optimization_history.html": optuna.visualization.plot_optimization_history,
             "param_importances.html": optuna.visualization.plot_param_importances}
    with tempfile.TemporaryDirectory() as tmp:
        for name, plot in plots.items():
            try:
                plot(study).write_html(Path(tmp) / name, include_plotlyjs=True)
            except (ValueError, RuntimeError) as exc:  # importances need two completed trials
                get_run_logger().info("no %s: %s", name, exc)
        client().log_artifacts(parent_run, tmp, PLOTS_DIR)


def log_trials_table(study: optuna.Study, parent_run: str) -> None:
    """Optuna's trial table (`trials_dataframe()`: number, value, state, times, params_*, user_attrs_*) as
    trials.csv on the parent run, for comparing trials in a notebook: `pandas.read_csv(mlflow.artifacts.
    download_artifacts(run_id=PARENT, artifact_path="trials.csv"))`."""
    client().log_text(parent_run, study.trials_dataframe().to_csv(index=False), TRIALS_CSV)


def summarise(study: optuna.Study, s: StudySummary, experiment: str) -> str:
    """The study as a Prefect markdown artifact (key `study-NAME`): the best trial, then every trial."""
    ui = tracking_uri().rstrip("/")
    exp = experiment_id(experiment)
    rows = ["| trial | state | val acc | test acc | params | MLflow run |", "|---|---|---|---|---|---|"]
    for t in study.trials:
        run = t.user_attrs.get(MLFLOW_RUN_ID)
        link = f"[{run[:8]}]({ui}/#/experiments/{exp}/runs/{run})" if run else "–"
        val = t.value if t.state == TrialState.COMPLETE else None
        state = t.state.name + (f" ({t.user_attrs[FAIL_REASON][:80]})" if FAIL_REASON in t.user_attrs else "")
        rows.append(f"| {t.number} | {state} | {pct(val)} | {pct(t.user_attrs.get(TEST_ACCURACY))} | "
                    f"{short_params(t.params, '=')} | {link} |")
    lines = [f"# Study `{s.study_name}`", "",
             f"{s.progress()[0].upper()}{s.progress()[1:]}, space `{s.space}`, data `{s.data_hash[:12]}`.",
             f"MLflow parent run: [{s.mlflow_parent_run[:8]}]({ui}/#/experiments/{exp}/runs/{s.mlflow_parent_run}).", ""]
    if s.best:
        baselines = client().get_run(s.best.mlflow_run_id).data.metrics
        lines += ["## Best trial", "",
                  f"Trial {s.best.number}: validation {pct(s.best.val_accuracy)}, test {pct(s.best.test_accuracy)} "
                  f"(seed report: {SEED.test_accuracy:.2%}; baselines on the same test targets: most frequent "
                  f"{pct(baselines.get(baseline_metric('most_frequent')))}, bigram "
                  f"{pct(baselines.get(baseline_metric('bigram')))}, trigram "
                  f"{pct(baselines.get(baseline_metric('trigram')))}).", "",
                  f"Params: `{s.best.params}`", ""]
    if s.registry:
        reg = s.registry
        lines += [f"Registered [`{reg.name}` v{reg.version}]({ui}/#/models/{reg.name}/versions/{reg.version}) "
                  f"as `{reg.alias}`: {reg.reason}.", ""]
    lines += ["## Trials", "", *rows]
    markdown = "\n".join(lines)
    create_markdown_artifact(markdown=markdown, key=artifact_key("study", s.study_name),
                             description=f"Optuna study {s.study_name}")
    return markdown
