"""`lstm bench --quick`: every section is there, figures are positive and ratios are their quotients.

No timing thresholds: the targets are measured and reported by the bench, never asserted here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench(prepared, tmp_path_factory) -> tuple[dict, str]:
    out = tmp_path_factory.mktemp("bench") / "bench.json"
    done = subprocess.run([sys.executable, "-m", "lstm", "bench", "--quick", "--device", "cpu", "--data",
                           str(prepared), "--json", str(out), "--profile"], capture_output=True, text=True, cwd=REPO,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(out.read_text()), done.stdout


def test_machine_header(bench):
    r, stdout = bench
    m = r["machine"]
    for key in ("date", "platform", "cpu", "cores", "torch", "device"):
        assert m[key], key
    assert m["device"] == "cpu" and m["cuda_device"] is None
    assert m["cores"] >= 1
    assert m["torch"] in stdout and m["date"] in stdout and m["cpu"] in stdout
    for title in ("Preprocessing", "Training throughput", "Evaluation", "Host memory a token",
                  "Profile of our training step"):
        assert title in stdout


def test_preprocessing(bench):
    p = bench[0]["preprocessing"]
    for path in ("seed", "cold", "warm"):
        for key in ("files", "notes", "seconds", "files_per_s", "notes_per_s"):
            assert p[path][key] > 0, (path, key)
        assert p[path]["files_per_s"] == pytest.approx(p[path]["files"] / p[path]["seconds"])
        assert p[path]["notes_per_s"] == pytest.approx(p[path]["notes"] / p[path]["seconds"])
    # the same files and the same notes, whichever way they were read
    assert p["seed"]["files"] == p["cold"]["files"] == p["warm"]["files"]
    assert p["seed"]["notes"] == p["cold"]["notes"] == p["warm"]["notes"]
    assert p["cold"]["parsed"] == p["cold"]["files"] and p["cold"]["cache_hits"] == 0
    assert p["warm"]["parsed"] == 0 and p["warm"]["cache_hits"] == p["warm"]["files"]
    assert p["cold_vs_seed"] == pytest.approx(p["seed"]["seconds"] / p["cold"]["seconds"])
    assert p["warm_vs_seed"] == pytest.approx(p["seed"]["seconds"] / p["warm"]["seconds"])
    # the cold run read every file with the fast reader, and each gave music21's tokens exactly
    a = p["fast_reader"]
    assert a["files"] == a["read_fast"] == a["identical"] == p["seed"]["files"] and a["different"] == []
    assert p["cold"]["readers"] == {"fast": p["cold"]["files"]}
    assert f"tokens identical to music21's on {a['identical']} of {a['read_fast']}" in bench[1]


def test_training_and_evaluation(bench):
    r = bench[0]
    t, e, seq_len = r["training"], r["evaluation"], r["config"]["seq_len"]
    for f in (t["seed"], t["ours"], e["seed"], e["ours"]):
        for key in ("windows", "targets", "seconds", "windows_per_s", "targets_per_s"):
            assert f[key] > 0, key
        assert f["windows_per_s"] == pytest.approx(f["windows"] / f["seconds"])
        assert f["targets_per_s"] == pytest.approx(f["targets"] / f["seconds"])
        assert f["targets"] == f["windows"] * f["targets_per_window"]
    # the seed-style loop learns from the last position of a window, ours from every position
    assert t["seed"]["targets_per_window"] == 1 and t["ours"]["targets_per_window"] == seq_len
    assert t["seed"]["windows"] == t["seed"]["steps"] * t["seed"]["batch_size"]
    assert t["ours"]["windows"] == t["ours"]["steps"] * t["ours"]["batch_size"]
    assert t["targets_per_s_ratio"] == pytest.approx(t["ours"]["targets_per_s"] / t["seed"]["targets_per_s"])
    assert t["windows_per_s_ratio"] == pytest.approx(t["ours"]["windows_per_s"] / t["seed"]["windows_per_s"])
    assert e["seed"]["targets_per_window"] == e["ours"]["targets_per_window"] == 1
    assert e["targets_per_s_ratio"] == pytest.approx(e["ours"]["targets_per_s"] / e["seed"]["targets_per_s"])


def test_memory(bench):
    m = bench[0]["memory"]
    seed, ours = m["seed"], m["ours"]
    assert m["tokens"] > 0 and seed["tokens"] == ours["tokens"] == m["tokens"]
    for f in (seed, ours):
        assert f["peak_rss_growth"] >= 0
        assert f["bytes_per_token"] == pytest.approx(f["peak_rss_growth"] / f["tokens"])
    assert seed["bytes_per_token"] > 0 and seed["resident_bytes_per_token"] > 0
    # the seed's materialized float32 windows: 4 bytes a position of each window, at the least
    assert seed["resident_bytes_per_token"] > 2 * bench[0]["config"]["seq_len"]
    assert ours["bytes_per_token"] < seed["bytes_per_token"]
    assert ours["resident_bytes_per_token"] < seed["resident_bytes_per_token"]
    if m["seed_vs_ours"] is not None:
        assert m["seed_vs_ours"] == pytest.approx(seed["bytes_per_token"] / ours["bytes_per_token"])


def test_targets_are_reported_next_to_figures(bench):
    r, stdout = bench
    assert set(r["targets_met"]) == {"prep_cold_vs_seed", "prep_warm_seconds", "cpu_training_vs_seed",
                                     "ours_bytes_per_token"}
    assert all(isinstance(v, bool) for v in r["targets_met"].values())
    assert ">= 50x" in stdout and "<= 16 B/token" in stdout and ">= 20x" in stdout


def test_profile(bench):
    p = bench[0]["profile"]
    assert p["device"] == "cpu" and p["step_ms"] > 0 and p["top"]
    assert p["device_ms"] + p["host_ms"] == pytest.approx(p["step_ms"])
