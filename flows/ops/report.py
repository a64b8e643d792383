"""What `make demo` prints at the end (`make report [STUDY=NAME]`): a study's best trial, its accuracies,
the champion of its registered model (which may be another study's trial) and the URLs.

The study is `--study`, else the sweep that finished last in the experiment (MLflow parent runs, tag
`maestro.role=sweep`); its best trial is its completed child run with the highest validation accuracy.
"""

from __future__ import annotations

import argparse
import sys

from mlflow.exceptions import MlflowException

from lstm.seed import SEED

from ..names import (
    CHAMPION,
    EXPERIMENT,
    OPTUNA_STATE,
    PARENT_RUN,
    PROMOTION,
    ROLE,
    STUDY,
    SWEEP_ROLE,
    VAL_ACCURACY,
    VERSION_STUDY,
    VERSION_TRIAL,
    baseline_metric,
)
from ..settings import dashboard_url, prefect_ui, tracking_uri
from ..text import pct
from ..tracking import client


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m flows.ops.report", description=__doc__.splitlines()[0])
    p.add_argument("--study", default="", help="the study to report (default: the sweep that finished last)")
    p.add_argument("--experiment", default=EXPERIMENT, help=f"the MLflow experiment (default: {EXPERIMENT})")
    args = p.parse_args(argv)
    c = client()
    exp = c.get_experiment_by_name(args.experiment)
    which = f"tags.`{ROLE}` = '{SWEEP_ROLE}'" + (f" and tags.`{STUDY}` = '{args.study}'" if args.study else "")
    sweeps = c.search_runs([exp.experiment_id], which, order_by=["attributes.end_time DESC"],
                           max_results=1) if exp else []
    if not sweeps:
        print(f"no sweep{' of study ' + args.study if args.study else ''} in experiment {args.experiment} "
              f"of {tracking_uri()}")
        return 1
    sweep = sweeps[0]
    study = sweep.data.tags.get(STUDY, sweep.info.run_name)
    best = c.search_runs([exp.experiment_id], f"tags.`{PARENT_RUN}` = '{sweep.info.run_id}' and "
                         f"tags.`{OPTUNA_STATE}` = 'COMPLETE'", order_by=[f"metrics.{VAL_ACCURACY} DESC"],
                         max_results=1)
    if not best:
        print(f"\nStudy {study}: no trial completed")
        return 1
    run = best[0]
    m = run.data.metrics
    print(f"\nStudy {study}, best trial: {run.info.run_name}  params {dict(sorted(run.data.params.items()))}")
    print(f"  accuracy  train {pct(m.get('train_accuracy'))}  val {pct(m.get('val_accuracy'))}  "
          f"test {pct(m.get('test_accuracy'))}  (top-5 {pct(m.get('test_top5_accuracy'))})")
    print(f"  baselines on the same test targets: most frequent {pct(m.get(baseline_metric('most_frequent')))}  "
          f"bigram {pct(m.get(baseline_metric('bigram')))}  trigram {pct(m.get(baseline_metric('trigram')))}  "
          f"(seed report: {SEED.test_accuracy:.2%})")
    registered = c.search_model_versions(f"run_id = '{run.info.run_id}'")
    if not registered:
        print("  not registered")
    else:
        v = registered[0]
        print(f"  registered: models:/{v.name}/{v.version} ({v.tags.get(PROMOTION, '')})")
        try:
            champion = c.get_model_version_by_alias(v.name, CHAMPION)
        except MlflowException:
            champion = None
        if champion is None:
            print(f"  champion: models:/{v.name}@champion is not set")
        elif champion.version == v.version:
            print(f"  champion: models:/{v.name}@champion = version {champion.version}, this trial")
        else:
            print(f"  champion: models:/{v.name}@champion = version {champion.version}, study "
                  f"{champion.tags.get(VERSION_STUDY, '?')} trial {champion.tags.get(VERSION_TRIAL, '?')}, "
                  f"val {pct(_float(champion.tags.get(VAL_ACCURACY)))} (this trial is not it)")
    ui = tracking_uri().rstrip("/")
    print(f"\nMLflow UI   {ui}/#/experiments/{run.info.experiment_id}   (compare the trials side by side)")
    print(f"Prefect UI  {prefect_ui()}/runs")
    print(f"Optuna      {dashboard_url()}/dashboard   (optuna-dashboard: the study's history, importances, slices)")
    return 0


def _float(text: str | None) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


if __name__ == "__main__":
    sys.exit(main())
