"""Checkpoints inside an epoch: a run stopped on request mid-epoch (a preempted or cancelled trial) saves
where it was, and resumed from there it ends with the same weights and history as an unbroken run."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from test_train import TINY, assert_same_weights, final_metrics, saved_state, without_timing

from lstm.checkpoint import Interrupted, progress_of
from lstm.train import train

# Eight batches an epoch, three epochs: a stop in the middle of epoch 2 has batches before and after it.
LONGER = replace(TINY, epochs=3, windows_per_epoch=256, dropout=0.2)


class StopAt:
    """should_stop: true once training has taken `batches` steps in all (a SIGTERM arriving then)."""

    def __init__(self, batches: int):
        self.left = batches

    def __call__(self) -> bool:
        self.left -= 1
        return self.left <= 0


@pytest.fixture(scope="module")
def unbroken(prepared, tmp_path_factory):
    run = tmp_path_factory.mktemp("unbroken")
    return run, train(prepared, run, LONGER, device="cpu")


def test_a_stop_mid_epoch_saves_where_it_was_and_resumes_from_that_batch(unbroken, prepared, tmp_path):
    run, metrics = unbroken
    uploaded = []
    with pytest.raises(Interrupted) as stopped:
        train(prepared, tmp_path, LONGER, device="cpu", should_stop=StopAt(8 + 3),
              on_checkpoint=lambda path, ckpt: uploaded.append((ckpt["epoch"], ckpt["partial"])))
    assert (stopped.value.epoch, stopped.value.batches) == (2, 3)
    assert progress_of(tmp_path / "checkpoint.pt") == (1, 3)  # epoch 1 done, 3 batches of epoch 2
    assert [(e, p and p["batches"]) for e, p in uploaded] == [(1, None), (1, 3)]  # each once on disk
    assert not (tmp_path / "model.pt").exists()

    seen = []
    resumed = train(prepared, tmp_path, LONGER, device="cpu", resume=True, on_epoch=seen.append)
    assert [m["epoch"] for m in seen] == [2, 3]
    assert_same_weights(saved_state(tmp_path), saved_state(run))
    assert final_metrics(resumed) == final_metrics(metrics)
    assert without_timing(resumed["history"]) == without_timing(metrics["history"])


def test_a_checkpoint_every_few_seconds_inside_an_epoch(prepared, tmp_path):
    written = []
    train(prepared, tmp_path, LONGER, device="cpu", checkpoint_seconds=0.0,
          on_checkpoint=lambda path, ckpt: written.append((ckpt["epoch"], (ckpt["partial"] or {}).get("batches"))))
    mid = [w for w in written if w[1] is not None]
    assert mid and {e for e, _ in mid} == {0, 1, 2}  # inside each of the three epochs
    assert written[-1] == (3, None)  # the last is the end of the last epoch
    assert progress_of(tmp_path / "checkpoint.pt") == (3, 0)


def test_a_stop_in_the_first_batch_resumes_from_the_second(prepared, tmp_path, unbroken):
    run, _ = unbroken
    with pytest.raises(Interrupted):
        train(prepared, tmp_path, LONGER, device="cpu", should_stop=StopAt(1))
    assert progress_of(tmp_path / "checkpoint.pt") == (0, 1)
    train(prepared, tmp_path, LONGER, device="cpu", resume=True)
    assert_same_weights(saved_state(tmp_path), saved_state(run))
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["partial"] is None
