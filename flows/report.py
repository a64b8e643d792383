"""What `make demo` prints at the end: this study's best trial, its accuracies, the champion of its
registered model (which may be another study's trial) and the URLs.

"This study" is the sweep that finished last in the experiment (MLflow parent runs, tag
`maestro.role=sweep`); its best trial is its completed child run with the highest validation accuracy.
"""

from __future__ import annotations

import os
import sys

from mlflow.exceptions import MlflowException

from lstm.seed import SEED

from .settings import tracking_uri
from .tracking import SWEEP_ROLE, client


def _pct(x) -> str:
    return f"{x:.2%}" if isinstance(x, float) else "–"


def main(experiment: str = "maestro-lstm") -> int:
    c = client()
    exp = c.get_experiment_by_name(experiment)
    sweeps = c.search_runs([exp.experiment_id], f"tags.`maestro.role` = '{SWEEP_ROLE}'",
                           order_by=["attributes.end_time DESC"], max_results=1) if exp else []
    if not sweeps:
        print(f"no sweep in experiment {experiment} of {tracking_uri()}")
        return 1
    sweep = sweeps[0]
    study = sweep.data.tags.get("maestro.study", sweep.info.run_name)
    best = c.search_runs([exp.experiment_id], f"tags.`mlflow.parentRunId` = '{sweep.info.run_id}' and "
                         "tags.`optuna.state` = 'COMPLETE'", order_by=["metrics.val_accuracy DESC"], max_results=1)
    if not best:
        print(f"\nStudy {study}: no trial completed")
        return 1
    run = best[0]
    m = run.data.metrics
    print(f"\nStudy {study}, best trial: {run.info.run_name}  params {dict(sorted(run.data.params.items()))}")
    print(f"  accuracy  train {_pct(m.get('train_accuracy'))}  val {_pct(m.get('val_accuracy'))}  "
          f"test {_pct(m.get('test_accuracy'))}  (top-5 {_pct(m.get('test_top5_accuracy'))})")
    print(f"  baselines on the same test targets: most frequent {_pct(m.get('baseline_most_frequent_accuracy'))}  "
          f"bigram {_pct(m.get('baseline_bigram_accuracy'))}  trigram {_pct(m.get('baseline_trigram_accuracy'))}  "
          f"(seed report: {SEED.test_accuracy:.2%})")
    registered = c.search_model_versions(f"run_id = '{run.info.run_id}'")
    if not registered:
        print("  not registered")
    else:
        v = registered[0]
        print(f"  registered: models:/{v.name}/{v.version} ({v.tags.get('promotion', '')})")
        try:
            champion = c.get_model_version_by_alias(v.name, "champion")
        except MlflowException:
            champion = None
        if champion is None:
            print(f"  champion: models:/{v.name}@champion is not set")
        elif champion.version == v.version:
            print(f"  champion: models:/{v.name}@champion = version {champion.version}, this trial")
        else:
            print(f"  champion: models:/{v.name}@champion = version {champion.version}, study "
                  f"{champion.tags.get('study', '?')} trial {champion.tags.get('trial_number', '?')}, "
                  f"val {_pct(_float(champion.tags.get('val_accuracy')))} (this trial is not it)")
    ui = tracking_uri().rstrip("/")
    print(f"\nMLflow UI   {ui}/#/experiments/{run.info.experiment_id}   (compare the trials side by side)")
    print(f"Prefect UI  {os.environ.get('PREFECT_API_URL', 'http://127.0.0.1:4200/api').removesuffix('/api')}/runs")
    return 0


def _float(text: str | None) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:2]))
