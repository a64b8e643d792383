"""End to end, for real: `prefect deployment run study/sweep` on a real Prefect server, worker and
MLflow server, then assertions on what MLflow, Optuna and Prefect hold."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import optuna
import pytest
import torch
from mlflow.tracking import MlflowClient
from music21 import converter

from flows import names
from lstm.music import audio

from stack import BIN, REPO, run_sweep, running_stack, subflow_runs

pytestmark = pytest.mark.e2e
STUDY = "e2e-smoke"


@pytest.fixture(scope="module")
def stack(tmp_path_factory, embedded_dir):
    with running_stack(tmp_path_factory.mktemp("state")) as s:
        yield s


@pytest.fixture(scope="module")
def first_sweep(stack):
    return run_sweep(stack, space="smoke", n_trials=2, study_name=STUDY)


def mlflow_client(stack) -> MlflowClient:
    return MlflowClient(stack.mlflow_uri)


def study_runs(stack):
    c = mlflow_client(stack)
    exp = c.get_experiment_by_name("maestro-lstm")
    return c.search_runs([exp.experiment_id], f"tags.`{names.STUDY}` = '{STUDY}'")


def first_sweep_data_hash(stack) -> str:
    parent = next(r for r in study_runs(stack) if r.data.tags.get(names.ROLE) == names.SWEEP_ROLE)
    return parent.data.tags[names.DATA_HASH]


def test_sweep_completes_and_logs_every_trial(stack, first_sweep):
    assert first_sweep["state"] == "Completed", first_sweep["cli_output"][-3000:]
    assert first_sweep["cli_returncode"] == 0
    runs = study_runs(stack)
    parents = [r for r in runs if r.data.tags.get(names.ROLE) == names.SWEEP_ROLE]
    children = [r for r in runs if r.data.tags.get(names.PARENT_RUN)]
    assert len(parents) == 1 and len(children) == 2
    assert parents[0].data.tags[names.FLOW_RUN_ID] == first_sweep["id"]
    assert parents[0].data.tags[names.DESCRIPTION].startswith("Fast on a CPU")  # the space's description
    c = mlflow_client(stack)
    for run in children:
        assert run.data.tags[names.PARENT_RUN] == parents[0].info.run_id
        assert run.info.status in ("FINISHED", "KILLED")  # KILLED = pruned
        assert run.data.tags[names.TRIAL_NUMBER] in ("0", "1")
        assert {"batch_size", "epochs", "hidden_size", "lr", "model"} <= set(run.data.params)
        if run.info.status == "FINISHED":
            m = run.data.metrics
            for key in ("train_accuracy", "val_accuracy", "test_accuracy", "test_top5_accuracy",
                        "baseline_most_frequent_accuracy", "baseline_bigram_accuracy"):
                assert 0.0 <= m[key] <= 1.0, key
            curve = c.get_metric_history(run.info.run_id, "val_accuracy")
            assert sorted(p.step for p in curve) == list(range(1, int(run.data.params["epochs"]) + 1))
            final = c.get_metric_history(run.info.run_id, "test_accuracy")  # one point, at the last epoch
            assert [p.step for p in final] == [int(run.data.params["epochs"])]
            assert 0.0 <= m["predicted_share_G"] <= 1.0 and 0.0 <= m["predicted_share_D"] <= 1.0
            html = c.download_artifacts(run.info.run_id, "gd_histogram.html")
            text = open(html, encoding="utf-8").read()
            assert '<script src="http' not in text and len(text) > 1_000_000  # plotly.js embedded: opens offline
            music = {a.path for a in c.list_artifacts(run.info.run_id, "music")}
            assert {"music/sample.mid", "music/sample_pianoroll.html"} <= music
            if audio.missing() is None:  # CI installs FluidSynth (.ci/install-system-deps.sh): audio for real
                assert "music/sample.ogg" in music
            assert "checkpoint/model.pt" in {a.path for a in c.list_artifacts(run.info.run_id, "checkpoint")}
            phases = {k for k in m if k.startswith("phase_")}  # where the trial's time went (flows/trial/phases.py)
            assert phases == {f"phase_{p}_seconds" for p in ("startup", "setup", "data_fetch", "data_load",
                                                               "training", "evaluation", "music")}
            # data_fetch: next to nothing here, where the worker shares the sweep's folder (flows/trial/data.py)
            assert all(m[k] > 0 for k in phases - {"phase_data_fetch_seconds"}) and m["phase_data_fetch_seconds"] < 5
            assert m["peak_host_memory_mb"] > 200  # a trial's process peaked above torch and MLflow imported
    # no trial exports: the sweep exported the best one's checkpoint when it registered it (flows/sweep/registry.py)
    finished = [r for r in children if r.info.status == "FINISHED"]
    best = max(finished, key=lambda r: r.data.metrics["val_accuracy"])
    logged = {r.info.run_id: c.search_logged_models([r.info.experiment_id],
                                                    filter_string=f"source_run_id = '{r.info.run_id}'")
              for r in children}
    assert [len(models) for run_id, models in logged.items() if run_id == best.info.run_id] == [1]
    assert sum(len(models) for models in logged.values()) == 1
    trial_runs = {r.info.run_id for r in children}  # other tests' studies register versions of their own
    (version,) = [v for v in c.search_model_versions("name = 'chorales-lstm'")
                  if v.tags.get(names.MLFLOW_RUN_ID) in trial_runs]
    assert version.source == logged[best.info.run_id][0].model_uri and version.run_id in (best.info.run_id, None)
    assert not [r for r in runs if r.info.status == "RUNNING"]
    optuna_plots = {a.path for a in c.list_artifacts(parents[0].info.run_id, "optuna")}
    assert {"optuna/optimization_history.html", "optuna/param_importances.html"} <= optuna_plots
    summary = first_sweep["artifacts"][f"study-{STUDY}"]  # the Prefect markdown artifact
    assert "| trial | state |" in summary and "1.46%" in summary and "chorales-lstm" in summary


def test_mlflow_server_is_one_process(stack, first_sweep):
    """flows/ops/mlflow_server.py: the server that just served the sweep is uvicorn itself, no waiting parent."""
    pid = int((stack.state / "pids" / "mlflow-server.pid").read_text())
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    assert b"uvicorn" in cmdline and b"mlflow.server.fastapi_app:app" in cmdline, cmdline
    assert Path(f"/proc/{pid}/task/{pid}/children").read_text().split() == []


def test_dashboard_reads_the_study_back(stack, first_sweep, monkeypatch):
    """optuna-dashboard (flows/ops/dashboard.py), through its HTTP API: the study the sweep wrote, as Optuna holds it."""
    monkeypatch.setenv("MAESTRO_LSTM_HOME", str(stack.state))
    from flows.storage import make_storage

    def get(path: str):
        with urllib.request.urlopen(f"{stack.dashboard_uri}{path}", timeout=60) as r:
            return json.load(r)

    (summary,) = [s for s in get("/api/studies")["study_summaries"] if s["study_name"] == STUDY]
    assert summary["directions"] == ["maximize"]
    detail = get(f"/api/studies/{summary['study_id']}")
    study = optuna.load_study(study_name=STUDY, storage=make_storage(""))
    shown = {t["number"]: t for t in detail["trials"]}
    assert sorted(shown) == sorted(t.number for t in study.trials) == [0, 1]
    for t in study.trials:
        assert shown[t.number]["state"] == t.state.name.capitalize()
        assert {p["name"] for p in shown[t.number]["params"]} == set(t.params)
        assert {a["key"]: a["value"] for a in shown[t.number]["user_attrs"]}[names.MLFLOW_RUN_ID] == \
            t.user_attrs[names.MLFLOW_RUN_ID]
    if any(t.state.name == "COMPLETE" for t in study.trials):
        assert [b["number"] for b in detail["best_trials"]] == [study.best_trial.number]
        assert shown[study.best_trial.number]["values"] == [study.best_value]
    else:
        assert detail["best_trials"] == []


def test_optuna_study_links_to_mlflow(stack, first_sweep, monkeypatch):
    monkeypatch.setenv("MAESTRO_LSTM_HOME", str(stack.state))
    from flows.storage import make_storage

    study = optuna.load_study(study_name=STUDY, storage=make_storage(""))
    finished = [t for t in study.trials if t.state.is_finished()]
    assert len(finished) == 2
    run_ids = {r.info.run_id for r in study_runs(stack)}
    assert all(t.user_attrs[names.MLFLOW_RUN_ID] in run_ids for t in finished)


def test_champion_loads_and_predicts_any_length(stack, first_sweep):
    import mlflow

    c = mlflow_client(stack)
    # The embedded chorales register as their own model: MAESTRO's name stays free for a MAESTRO sweep.
    assert [m.name for m in c.search_registered_models()] == ["chorales-lstm"]
    version = c.get_model_version_by_alias("chorales-lstm", names.CHAMPION)
    assert version.tags[names.DATA_HASH] == first_sweep_data_hash(stack)
    # scored on the common targets, which the gate compares (tests/test_yardstick.py)
    manifest = json.loads((next((stack.state / "prepared").iterdir()) / "manifest.json").read_text())
    assert version.tags[names.VAL_TARGETS] == str(manifest["splits"]["validation"]["targets"])
    mlflow.set_tracking_uri(stack.mlflow_uri)
    composer = mlflow.pyfunc.load_model("models:/chorales-lstm@champion").unwrap_python_model().composer
    for length in (5, 120):  # the carried model runs on any batch size and context length
        logits = composer.model.next_logits(torch.randint(1, 50, (3, length)))
        assert logits.shape == (3, len(composer.vocab)) and torch.isfinite(logits).all()
    assert "bigram baseline" in version.description and STUDY in version.description
    assert "champion by study" in version.tags[names.ALIAS_HISTORY]


@pytest.fixture(scope="module")
def model_venv(stack, first_sweep, tmp_path_factory) -> Path:
    """A fresh virtual environment holding only the champion's own requirements, outside the checkout."""
    import mlflow

    mlflow.set_tracking_uri(stack.mlflow_uri)
    requirements = mlflow.pyfunc.get_model_dependencies("models:/chorales-lstm@champion")
    venv = tmp_path_factory.mktemp("model-venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    done = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "-r", requirements],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    return venv


OUTSIDE = """import base64, io, json, sys
import mido, mlflow, pandas as pd
model = mlflow.pyfunc.load_model("models:/chorales-lstm@champion")
out = [model.predict(pd.DataFrame({"primer": [""]}), params={"length": 32, "seed": 3}) for _ in range(2)]
midi = mido.MidiFile(file=io.BytesIO(base64.b64decode(out[0]["midi"][0])))
print(json.dumps({"notes": sum(m.type == "note_on" for m in midi), "same": out[0]["midi"][0] == out[1]["midi"][0],
                  "lstm": sys.modules["lstm"].__file__,
                  "modules": sorted(m for m in ("music21", "prefect", "optuna", "flows") if m in sys.modules)}))
"""


def test_the_champion_composes_outside_the_repository(stack, model_venv, tmp_path):
    """mlflow.pyfunc.load_model(...).predict(...) in a venv of the model's requirements, from another folder."""
    done = subprocess.run([str(model_venv / "bin" / "python"), "-c", OUTSIDE], cwd=tmp_path,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "MLFLOW_TRACKING_URI": stack.mlflow_uri},
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    assert got["notes"] >= 32 and got["same"] and got["modules"] == []
    assert not Path(got["lstm"]).is_relative_to(REPO)  # the copy the model carries


def test_the_served_champion_answers_with_midi_and_refuses_bad_primers(stack, model_venv, tmp_path):
    """`mlflow models serve -m models:/chorales-lstm@champion --env-manager local`: a real request, a bad one."""
    import base64
    import os
    import signal

    from flows.ops.machine import free_port, wait_http

    port, log = free_port(), tmp_path / "serve.log"
    env = {"PATH": f"{model_venv / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path), "MLFLOW_TRACKING_URI": stack.mlflow_uri}
    with open(log, "w") as out:
        server = subprocess.Popen([str(model_venv / "bin" / "mlflow"), "models", "serve", "-m",
                                   "models:/chorales-lstm@champion", "--env-manager", "local", "-p", str(port),
                                   "-h", "127.0.0.1"], cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/ping", 300, log, server.pid)

        def post(primer: str) -> tuple[int, dict]:
            body = json.dumps({"dataframe_records": [{"primer": primer}], "params": {"length": 64, "seed": 1}})
            request = urllib.request.Request(f"http://127.0.0.1:{port}/invocations", body.encode(),
                                             {"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=120) as r:
                    return r.status, json.loads(r.read())
            except urllib.error.HTTPError as e:
                return e.code, json.loads(e.read())

        status, answer = post("")
        assert status == 200, answer
        row = answer["predictions"][0]
        assert row["notes"] == 64 and base64.b64decode(row["midi"]).startswith(b"MThd")
        status, answer = post(base64.b64encode(b"not a midi file").decode())
        assert status == 400 and "not a MIDI file" in answer["message"], answer
        assert post("")[0] == 200  # the server lives on
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


def test_report_names_the_best_trial_and_the_champion_apart(stack, first_sweep):
    """`make report STUDY=...` (flows/ops/report.py): the study's best trial, its version, then the champion."""
    done = subprocess.run([str(BIN / "python"), "-m", "flows.ops.report", "--study", STUDY], env=stack.env(),
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"Study {STUDY}, best trial: {STUDY}-trial-" in done.stdout
    assert "registered: models:/chorales-lstm/1 (first registered model)" in done.stdout  # the first sweep's
    assert "champion: models:/chorales-lstm@champion = version " in done.stdout


def test_phases_lists_each_trial_and_the_throughput(stack, first_sweep):
    """`python -m flows.ops.phases --study` (what docs/performance.md measures with): a row a trial, from MLflow."""
    done = subprocess.run([str(BIN / "python"), "-m", "flows.ops.phases", "--study", STUDY], env=stack.env(),
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    assert lines[0].split()[:4] == ["trial", "status", "worker", "startup"]
    rows = [line.split() for line in lines[1:-1] if line.split()[0].isdigit()]  # not the median, nor the total
    assert sorted(int(r[0]) for r in rows) == [0, 1] and all(r[1] == "FINISHED" for r in rows)
    assert all(float(r[3]) > 0 and float(r[7]) > 0 for r in rows)  # startup and training were timed
    assert lines[-1].startswith("2 of 2 trial runs finished in ")


def test_second_sweep_hits_the_cache_and_continues_its_study(stack, first_sweep, monkeypatch):
    """A study of its own (so no other test sees it change): one trial, then the same study to two trials."""
    monkeypatch.setenv("MAESTRO_LSTM_HOME", str(stack.state))
    from flows.storage import make_storage

    first = run_sweep(stack, space="smoke", n_trials=1, study_name="e2e-continued")
    assert first["state"] == "Completed", first["cli_output"][-3000:]
    second = run_sweep(stack, space="smoke", n_trials=2, study_name="e2e-continued")
    assert second["state"] == "Completed", second["cli_output"][-3000:]
    prepare_states = [s for name, s in second["task_runs"].items() if name.startswith("prepare")]
    assert prepare_states == ["Cached"]
    study = optuna.load_study(study_name="e2e-continued", storage=make_storage(""))
    assert len([t for t in study.trials if t.state.is_finished()]) == 2  # up to n_trials in total, not 2 more
    assert sorted(t.number for t in study.trials) == [0, 1]


def test_continuing_a_study_with_another_space_is_refused(stack, first_sweep):
    before = len(study_runs(stack))
    other = run_sweep(stack, space="seed", n_trials=3, study_name=STUDY)
    assert other["state"] == "Failed"
    assert "was searched with space 'smoke'" in (other["message"] or "") + other["cli_output"]
    assert len(study_runs(stack)) == before


def test_a_pruned_trial_ends_killed_and_tagged(stack, first_sweep, tmp_path):
    """A space whose pruner stops every trial after its first epoch: PRUNED in Optuna, KILLED in MLflow."""
    import yaml

    from flows.space import load_space

    doc = yaml.safe_load(load_space("smoke").path.read_text())
    doc["pruner"] = {"type": "threshold", "lower": 1.01, "n_warmup_steps": 0}
    space = tmp_path / "always-prune.yaml"
    space.write_text(yaml.safe_dump(doc))
    done = run_sweep(stack, space=str(space), n_trials=1, study_name="e2e-pruned")
    assert done["state"] == "Completed", done["cli_output"][-3000:]
    c = mlflow_client(stack)
    exp = c.get_experiment_by_name("maestro-lstm")
    runs = c.search_runs([exp.experiment_id], f"tags.`{names.STUDY}` = 'e2e-pruned' and tags.`{names.TRIAL_NUMBER}` = '0'")
    assert len(runs) == 1
    assert runs[0].info.status == "KILLED" and runs[0].data.tags[names.OPTUNA_STATE] == "PRUNED"
    assert len(c.get_metric_history(runs[0].info.run_id, "val_accuracy")) == 1  # stopped after one epoch


# Each message is checked fast (tests/test_flows_logic.py, test_sweep_inputs.py); here, once, that a bad
# parameter fails the deployment run itself with its one line, before anything is prepared.
@pytest.mark.parametrize("params, reason", [
    ({"data_dir": str(REPO / "studies")}, "neither a MAESTRO directory"),  # YAML files, no MIDI
])
def test_invalid_parameters_fail_before_training(stack, first_sweep, params, reason):
    before = len(study_runs(stack))
    bad = run_sweep(stack, **{"study_name": STUDY, **params})
    assert bad["state"] == "Failed"
    assert reason in (bad["message"] or "") or reason in bad["cli_output"]
    assert not any(name.startswith("prepare") for name in bad["task_runs"])
    assert len(study_runs(stack)) == before


def test_generate_from_the_champion(stack, first_sweep, tmp_path):
    """`lstm generate --model models:/chorales-lstm@champion --out piece.mid`: the model alone, no --data."""
    out = tmp_path / "piece.mid"
    done = subprocess.run([str(BIN / "lstm"), "generate", "--model", "models:/chorales-lstm@champion",
                           "--out", str(out), "--length", "40", "--seed", "3"],
                          env=stack.env(), cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert len(converter.parse(out).flatten().notes) == 40
    assert (tmp_path / "piece_pianoroll.html").is_file()


def test_evaluate_the_champion(stack, first_sweep, tmp_path):
    """`lstm evaluate --model models:/chorales-lstm@champion`, resolved as `lstm generate` resolves it."""
    prepared = next((stack.state / "prepared").iterdir())
    done = subprocess.run([str(BIN / "lstm"), "evaluate", "--model", "models:/chorales-lstm@champion", "--data",
                           str(prepared), "--out", str(tmp_path), "--device", "cpu"],
                          env=stack.env(), cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    scored = json.loads((tmp_path / "metrics.json").read_text())
    assert scored["val_targets"] == json.loads((prepared / "manifest.json").read_text())["splits"]["validation"]["targets"]


def test_watch_shows_each_trial_once(stack, first_sweep, monkeypatch):
    """What `prefect deployment run study/sweep --watch` printed (a real terminal's view, through Prefect's
    event stream): the study's start and end, and a line a trial start (number, parameters, worker) and end
    (state, accuracy or reason, best so far), nothing a step."""
    monkeypatch.setenv("MAESTRO_LSTM_HOME", str(stack.state))
    from flows.storage import make_storage

    trials = optuna.load_study(study_name=STUDY, storage=make_storage("")).trials
    assert len(trials) == 2 and set(subflow_runs(stack, first_sweep["id"])) == {t.user_attrs[names.FLOW_RUN_ID]
                                                                                for t in trials}
    lines = [line for line in first_sweep["cli_output"].splitlines() if " maestro." in line]
    assert len(lines) == 2 + 2 * len(trials), lines
    assert "maestro.study.started * study e2e-smoke: 0 of 2 trials finished" in lines[0]
    assert "maestro.study.finished * study e2e-smoke: 2 of 2 trials finished" in lines[-1]
    for t in trials:
        started = [line for line in lines if f"maestro.trial.started * trial {t.number} started on " in line]
        assert len(started) == 1 and all(name in started[0] for name in t.params), lines
        assert t.user_attrs[names.WORKER] in started[0]
        state = {"COMPLETE": "completed", "PRUNED": "pruned", "FAIL": "failed"}[t.state.name]
        ended = [line for line in lines if f"maestro.trial.{state} * trial {t.number} {t.state.name}: " in line]
        assert len(ended) == 1, lines
        if t.state.name == "COMPLETE":
            assert f"val_accuracy {t.value:.2%}" in ended[0]
        assert lines.index(started[0]) < lines.index(ended[0])
    assert first_sweep["artifacts"][f"study-{STUDY}-progress"] == 100


def test_trial_runs_are_subflows_of_the_sweep(stack, first_sweep):
    """In the Prefect UI the sweep's run lists its trial runs: each trial flow run's parent task run is in the sweep."""
    children = subflow_runs(stack, first_sweep["id"])
    assert len(children) == 2 and all(name == "trial" for name in children.values()), children


def test_trials_csv_on_the_parent_run(stack, first_sweep, monkeypatch):
    """The study's one parent run holds the table of all its trials."""
    import mlflow
    import pandas as pd

    monkeypatch.setenv("MAESTRO_LSTM_HOME", str(stack.state))
    from flows.storage import make_storage

    parent = next(r for r in study_runs(stack) if r.data.tags.get(names.ROLE) == names.SWEEP_ROLE)
    mlflow.set_tracking_uri(stack.mlflow_uri)
    table = pd.read_csv(mlflow.artifacts.download_artifacts(run_id=parent.info.run_id, artifact_path="trials.csv"))
    numbers = sorted(t.number for t in optuna.load_study(study_name=STUDY, storage=make_storage("")).trials)
    assert numbers == [0, 1] and sorted(table["number"]) == numbers
    assert {"value", "state", "params_lr", "user_attrs_worker"} <= set(table)


def test_a_warm_start_queues_the_best_and_a_budget_ends_the_sweep(stack, first_sweep, monkeypatch):
    """A new study warm-started from the first (same data): the first's best configurations are queued
    before anything else; a budget spent before the first launch ends the sweep, which is summarised as
    usual and says why."""
    monkeypatch.setenv("MAESTRO_LSTM_HOME", str(stack.state))
    from flows.storage import make_storage

    done = run_sweep(stack, space="smoke", n_trials=2, study_name="e2e-warm", warm_start=STUDY, warm_start_top=2,
                     timeout_hours=1e-6)
    assert done["state"] == "Completed", done["cli_output"][-3000:]
    said = "budget of 1e-06 h reached: 0 of 2 trials finished"
    assert f"study e2e-warm: {said}" in done["cli_output"]  # the watch's last event
    assert said in done["artifacts"]["study-e2e-warm"].lower()  # the markdown artifact
    storage = make_storage("")
    first = optuna.load_study(study_name=STUDY, storage=storage)
    best = sorted(first.get_trials(states=(optuna.trial.TrialState.COMPLETE,)), key=lambda t: t.value,
                  reverse=True)[:2]
    assert best, "the first sweep completed no trial to start from"
    warm = optuna.load_study(study_name="e2e-warm", storage=storage)
    assert [t.state for t in warm.trials] == [optuna.trial.TrialState.WAITING] * len(best)  # none launched
    assert [t.system_attrs["fixed_params"] for t in warm.trials] == [t.params for t in best]
    assert warm.user_attrs[names.DATA_HASH] == first_sweep_data_hash(stack)


def test_a_space_no_trial_can_run_fails_the_sweep_before_preparing(stack, tmp_path):
    """`dropout: 1.5` used to surface inside a trial (one FAIL in a sweep that ended Completed)."""
    import yaml

    from flows.space import load_space

    doc = yaml.safe_load(load_space("smoke").path.read_text())
    doc["fixed"]["dropout"] = 1.5
    space = tmp_path / "bad-dropout.yaml"
    space.write_text(yaml.safe_dump(doc))
    bad = run_sweep(stack, space=str(space), study_name="e2e-bad-space")
    assert bad["state"] == "Failed"
    assert "dropout must be in [0, 1), not 1.5" in (bad["message"] or "") + bad["cli_output"]
    assert not bad["task_runs"]  # nothing prepared, no trial launched
