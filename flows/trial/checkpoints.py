"""A trial's training checkpoint in the artifact store, so a trial outlives its worker: uploaded to the
trial's MLflow run (`resume/checkpoint.pt`) in the background each time lstm.train writes one (every epoch,
and every `checkpoint_minutes` inside a long one), and fetched by the trial that continues it, on any
machine. The run's tag `maestro.checkpoint` says how far the uploaded one got, so a worker that still has
a local checkpoint of the trial downloads only a later one.
"""

from __future__ import annotations

import json
import logging
import tempfile
import time
from pathlib import Path

from lstm.checkpoint import progress, progress_of

from .. import tracking
from ..names import RESUME_DIR, RESUME_PROGRESS

CHECKPOINT_FILE = "checkpoint.pt"  # what lstm.train writes into its run directory


class Uploader:
    """lstm.train's on_checkpoint: upload each checkpoint once it is on disk (on the writer's thread, so
    training goes on). A failed upload is logged and skipped: the next checkpoint is tried again, and
    training must not stop because the artifact store is briefly away."""

    def __init__(self, run_id: str, logger: logging.Logger | logging.LoggerAdapter):
        self.run_id, self.logger = run_id, logger
        self.uploads, self.seconds, self.megabytes = 0, 0.0, 0.0

    def __call__(self, path: Path, checkpoint: dict) -> None:
        t0 = time.perf_counter()
        try:
            c = tracking.client()
            c.log_artifact(self.run_id, str(path), RESUME_DIR)
            c.set_tag(self.run_id, RESUME_PROGRESS, json.dumps(progress(checkpoint)))
        except Exception as exc:
            self.logger.warning("checkpoint upload failed (the next one is tried again): %s", exc)
            return
        self.uploads += 1
        self.seconds += time.perf_counter() - t0
        self.megabytes = path.stat().st_size / 1e6

    def metrics(self) -> dict[str, float]:
        return {"checkpoint_uploads": self.uploads, "checkpoint_upload_seconds": self.seconds,
                "checkpoint_mb": self.megabytes}


def fetch(run_id: str, run_dir: Path) -> tuple[int, int] | None:
    """Make RUN_DIR's checkpoint the furthest of the local one and the uploaded one; returns its progress
    (epochs completed, batches into the next), None when the trial has none."""
    local = progress_of(run_dir / CHECKPOINT_FILE)
    tag = tracking.client().get_run(run_id).data.tags.get(RESUME_PROGRESS)
    remote = tuple(json.loads(tag)) if tag else None
    if remote is None or (local is not None and local >= remote):
        return local
    run_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=run_dir) as tmp:  # a partial download never replaces a checkpoint
        got = tracking.client().download_artifacts(run_id, f"{RESUME_DIR}/{CHECKPOINT_FILE}", tmp)
        Path(got).replace(run_dir / CHECKPOINT_FILE)
    return progress_of(run_dir / CHECKPOINT_FILE)


def logged_epochs(run_id: str) -> set[int]:
    """The epochs an earlier attempt already logged to the run, so each epoch is logged once."""
    return {m.step for m in tracking.client().get_metric_history(run_id, "val_accuracy")}


def describe(at: tuple[int, int]) -> str:
    epoch, batches = at
    return f"epoch {epoch + 1}, batch {batches + 1}" if batches else f"epoch {epoch + 1}"
