"""Where a study's trials spent their time, from MLflow: `python -m flows.ops.phases --study NAME`.

A row per trial run (its phase_*_seconds, the run's length, its peak memory), their medians, and the study's
throughput: finished trials an hour from its first trial run's start to its last one's end. It is how
docs/performance.md measures fixed costs (before/after a change: one study each, interleaved) and trials
per GPU (the same study at TRIALS_PER_GPU 1, 2 and 4).
"""

from __future__ import annotations

import argparse
import statistics

from mlflow.tracking import MlflowClient

from ..names import EXPERIMENT, STUDY, TRIAL_NUMBER, WORKER, phase_metric

PHASES = ("startup", "setup", "data_fetch", "data_load", "training", "evaluation", "music")


def trial_rows(study: str, experiment: str = EXPERIMENT) -> list[dict]:
    c = MlflowClient()
    exp = c.get_experiment_by_name(experiment)
    if exp is None:
        raise SystemExit(f"phases: no MLflow experiment {experiment!r}")
    runs = c.search_runs([exp.experiment_id], f"tags.`{STUDY}` = '{study}'", max_results=5000)
    rows = []
    for run in sorted((r for r in runs if TRIAL_NUMBER in r.data.tags), key=lambda r: r.info.start_time):
        m, end = run.data.metrics, run.info.end_time or run.info.start_time
        row = {"trial": run.data.tags[TRIAL_NUMBER], "status": run.info.status, "worker": run.data.tags.get(WORKER, ""),
               "start": run.info.start_time / 1000, "end": end / 1000, "run": (end - run.info.start_time) / 1000,
               "peak_host_mb": m.get("peak_host_memory_mb")}
        row.update({p: m.get(phase_metric(p)) for p in PHASES})
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--study", required=True)
    ap.add_argument("--experiment", default=EXPERIMENT)
    args = ap.parse_args(argv)
    rows = trial_rows(args.study, args.experiment)
    if not rows:
        raise SystemExit(f"phases: study {args.study!r} has no trial run in MLflow")
    cols = ("trial", "status", "worker", *PHASES, "run", "peak_host_mb")
    medians = {c: statistics.median(v) for c in (*PHASES, "run") if (v := [r[c] for r in rows if r[c] is not None])}
    print("  ".join(f"{c:>10}" for c in cols))
    for r in [*rows, {"trial": "median", **medians}]:
        cells = (r.get(c) for c in cols)
        print("  ".join(f"{v:>10.1f}" if isinstance(v, float) else f"{str(v or '-'):>10}" for v in cells))
    finished = [r for r in rows if r["status"] == "FINISHED"]
    hours = (max(r["end"] for r in rows) - min(r["start"] for r in rows)) / 3600
    print(f"{len(finished)} of {len(rows)} trial runs finished in {hours * 60:.1f} min: "
          f"{len(finished) / hours if hours else 0:.1f} finished trials an hour")


if __name__ == "__main__":
    main()
