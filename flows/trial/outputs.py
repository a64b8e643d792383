"""What a completed trial leaves in its MLflow run: final metrics and baselines, the G/D histogram and the
checkpoint (`checkpoint/model.pt`: weights, config, vocabulary) (`log_results`), and music sampled from
the model: MIDI, piano roll, audio (`Music`). Trials do not package a model: the sweep packs the one it
registers as a composer (flows/sweep/registry.py)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from mlflow.entities import Metric
from prefect import get_run_logger

from .. import tracking
from ..names import CHECKPOINT_DIR, FINAL_METRICS, GD_METRICS, MUSIC_DIR, baseline_metric
from .phases import Phases
from .retry import server_step


@server_step
def log_results(run_id: str, metrics: dict, run_dir: Path) -> None:
    epochs, last = len(metrics["history"]), metrics["history"][-1]
    final = {k: metrics[k] for k in FINAL_METRICS}
    # val_accuracy/val_loss already have their point at the last epoch, unless the epochs validated on a
    # subset (eval_windows): then the full-set figure gets the next step, so each curve stays one point a step.
    same = {k for k in ("val_accuracy", "val_loss") if abs(final[k] - last[k]) < 1e-12}
    now = int(time.time() * 1000)
    points = [Metric(k, v, now, epochs + 1 if k.startswith("val_") else epochs)
              for k, v in final.items() if k not in same]
    points += [Metric(baseline_metric(k), v, now, 0) for k, v in metrics["baselines"].items()]
    gd = metrics["error_analysis"]
    points += [Metric(k, gd[k], now, 0) for k in GD_METRICS]
    c = tracking.client()
    c.log_batch(run_id, metrics=points)  # one request, a step per key
    for name in ("gd_histogram.html", "gd_histogram.json", "metrics.json"):
        c.log_artifact(run_id, str(run_dir / name))
    c.log_artifact(run_id, str(run_dir / "model.pt"), CHECKPOINT_DIR)  # weights + config + vocabulary


class Music:
    """A completed trial's music: sampled from the kept model and measured against the test split
    (accuracy alone does not say whether a model makes music), written as MIDI and piano roll, and
    rendered to audio by FluidSynth, a child process on the other core. `start` is train's on_kept, so
    the rendering overlaps the model's evaluation and the logging of its results; `log` waits for it."""

    def __init__(self, prepared: Path, seed: int, phases: Phases):
        self.prepared, self.seed, self.phases = prepared, seed, phases
        self.metrics: dict[str, float] = {}
        self.rendering = None

    def __enter__(self) -> Music:
        self._dir = tempfile.TemporaryDirectory()
        self.dir = Path(self._dir.name)
        return self

    def __exit__(self, *exc) -> None:
        if self.rendering:
            self.rendering.stop()
        self._dir.cleanup()

    def start(self, model_path: Path) -> None:
        # imported here: only a trial that completes makes music (a pruned or failed one never gets here)
        from lstm.checkpoint import load_model
        from lstm.music.audio import start_audio
        from lstm.music.generate import sample_report

        with self.phases("music"):
            model, saved = load_model(model_path, "cpu")
            self.metrics = sample_report(model, saved["vocab"], self.prepared, self.dir, seed=self.seed,
                                         seq_len=saved["config"]["seq_len"], audio=None)
            midi = self.dir / "sample.mid"
            self.rendering = start_audio(midi) if midi.is_file() else None

    def wait(self) -> None:
        """Until the audio is written (or failed, which is said and not fatal)."""
        with self.phases("music"):
            sound, message = self.rendering.result() if self.rendering else (None, "no sample")
            self.rendering = None
            if sound is None:
                get_run_logger().info("%s", message)

    def log(self, run_id: str) -> None:
        with self.phases("music"):
            tracking.log_metrics(run_id, self.metrics)
            tracking.client().log_artifacts(run_id, str(self.dir), MUSIC_DIR)
