"""What `make demo` prints at the end: the best trial, its accuracies, the champion and the URLs."""

from __future__ import annotations

import os
import sys

from mlflow.exceptions import MlflowException

from .settings import MODEL_NAME, SEED_TEST_ACCURACY, tracking_uri
from .tracking import client


def main() -> int:
    c = client()
    try:
        champion = c.get_model_version_by_alias(MODEL_NAME, "champion")
    except MlflowException:
        print(f"no champion registered yet in {tracking_uri()}")
        return 1
    run = c.get_run(champion.tags["mlflow_run_id"])
    m = run.data.metrics
    print(f"\nBest trial: {run.info.run_name}  params {dict(sorted(run.data.params.items()))}")
    print(f"  accuracy  train {m['train_accuracy']:.2%}  val {m['val_accuracy']:.2%}  test {m['test_accuracy']:.2%}"
          f"  (top-5 {m['test_top5_accuracy']:.2%})")
    print(f"  baselines on the same test targets: most frequent {m['baseline_most_frequent_accuracy']:.2%}  "
          f"bigram {m['baseline_bigram_accuracy']:.2%}  trigram {m['baseline_trigram_accuracy']:.2%}  "
          f"(seed report: {SEED_TEST_ACCURACY:.2%})")
    print(f"  champion: models:/{MODEL_NAME}@champion = version {champion.version} "
          f"({champion.tags.get('promotion', '')})")
    ui = tracking_uri().rstrip("/")
    print(f"\nMLflow UI   {ui}/#/experiments/{run.info.experiment_id}   (compare the trials side by side)")
    print(f"Prefect UI  {os.environ.get('PREFECT_API_URL', 'http://127.0.0.1:4200/api').removesuffix('/api')}/runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
