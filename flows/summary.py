"""What a finished sweep leaves behind for people: Optuna's plots and trial table in MLflow, a Prefect
markdown table."""

from __future__ import annotations

import tempfile
from pathlib import Path

import optuna
from optuna.trial import TrialState
from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact

from lstm.seed import SEED

from .settings import tracking_uri
from .storage import FAIL_ATTR
from .tracking import client, experiment_id


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
        client().log_artifacts(parent_run, tmp, "optuna")


def log_trials_table(study: optuna.Study, parent_run: str) -> None:
    """Optuna's trial table (`trials_dataframe()`: number, value, state, times, params_*, user_attrs_*) as
    trials.csv on the parent run, for comparing trials in a notebook: `pandas.read_csv(mlflow.artifacts.
    download_artifacts(run_id=PARENT, artifact_path="trials.csv"))`."""
    client().log_text(parent_run, study.trials_dataframe().to_csv(index=False), "trials.csv")


def _pct(x) -> str:
    return f"{x:.2%}" if isinstance(x, float) else "–"


def write_summary(study: optuna.Study, p, summary: dict, parent_run: str) -> str:
    ui = tracking_uri().rstrip("/")
    exp = experiment_id(p.experiment)
    rows = ["| trial | state | val acc | test acc | params | MLflow run |", "|---|---|---|---|---|---|"]
    for t in study.trials:
        run = t.user_attrs.get("mlflow_run_id")
        link = f"[{run[:8]}]({ui}/#/experiments/{exp}/runs/{run})" if run else "–"
        val = t.value if t.state == TrialState.COMPLETE else None
        params = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in t.params.items())
        state = t.state.name + (f" ({t.user_attrs[FAIL_ATTR][:80]})" if FAIL_ATTR in t.user_attrs else "")
        rows.append(f"| {t.number} | {state} | {_pct(val)} | {_pct(t.user_attrs.get('test_accuracy'))} | "
                    f"{params} | {link} |")
    best = summary.get("best")
    lines = [f"# Study `{summary['study_name']}`", "",
             f"{summary['finished']} of {p.n_trials} trials finished, space `{p.space.name}`, data `{summary['data_hash'][:12]}`.",
             f"MLflow parent run: [{parent_run[:8]}]({ui}/#/experiments/{exp}/runs/{parent_run}).", ""]
    if best:
        reg = summary["registry"]
        baselines = client().get_run(best["mlflow_run_id"]).data.metrics
        lines += ["## Best trial", "",
                  f"Trial {best['number']}: validation {_pct(best['val_accuracy'])}, test {_pct(best['test_accuracy'])} "
                  f"(seed report: {SEED.test_accuracy:.2%}; baselines on the same test targets: most frequent "
                  f"{_pct(baselines.get('baseline_most_frequent_accuracy'))}, bigram "
                  f"{_pct(baselines.get('baseline_bigram_accuracy'))}, trigram "
                  f"{_pct(baselines.get('baseline_trigram_accuracy'))}).", "",
                  f"Params: `{best['params']}`", "",
                  f"Registered [`{reg['name']}` v{reg['version']}]({ui}/#/models/{reg['name']}/versions/{reg['version']}) "
                  f"as `{reg['alias']}`: {reg['reason']}.", ""]
    lines += ["## Trials", "", *rows]
    markdown = "\n".join(lines)
    key = "".join(c if c.isalnum() else "-" for c in f"study-{summary['study_name']}".lower())
    create_markdown_artifact(markdown=markdown, key=key, description=f"Optuna study {summary['study_name']}")
    return markdown
