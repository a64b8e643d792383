#!/usr/bin/env bash
# `make compose-smoke`: the docker stack for real, on CPUs. Builds the images (TORCH=cpu, docker/images.sh), brings
# docker/compose.yaml up under its own project name on free loopback ports, waits for `deploy`, measures the stack's
# memory at rest (docker/pss.py), runs `prefect deployment run study/sweep` with 2 trials on the embedded data
# through the stack's workers on its PostgreSQL (one of them, worker-gpu-1, on a volume of its own: it fetches the
# data set from the artifact store), checks the MLflow runs and the registered champion, kills the container of a
# worker in the middle of a trial and checks that the trial continues from its checkpoint on the other, and takes
# everything down again (volumes included), also when a step fails. Needs a Docker engine; about 12 min once the
# images exist.
set -euo pipefail
cd "$(dirname "$0")/.."

t0=$(date +%s)
phase() { printf 'compose-smoke [%4ds] %s\n' $(($(date +%s) - t0)) "$*"; }
die() { echo "compose-smoke: $*" >&2; exit 1; }

work=$(mktemp -d -t maestro-smoke.XXXXXX)
project=maestro-lstm-smoke-$$
compose=()
cleanup() {
    local rc=$?
    if ((${#compose[@]})); then
        if ((rc != 0)); then "${compose[@]}" ps || true; "${compose[@]}" logs --tail 40 || true; fi
        phase "taking the stack down"
        "${compose[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
    fi
    rm -rf "$work"
    ((rc == 0)) && phase "passed" || phase "FAILED"
}
trap cleanup EXIT

phase "building the images (TORCH=cpu)"
TORCH=cpu IMAGES_ENV="$work/images.env" bash docker/images.sh
# shellcheck source=/dev/null
source "$work/images.env"  # MAESTRO_IMAGE, POSTGRES_IMAGE, DOCKER

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
mkdir "$work/maestro"  # MAESTRO_DIR: the sweep uses the embedded data, but compose mounts a dataset folder
cat >"$work/smoke.env" <<ENV
POSTGRES_USER=maestro
POSTGRES_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
PREFECT_AUTH_STRING=maestro:$(python3 -c 'import secrets; print(secrets.token_hex(16))')
MLFLOW_ADMIN_USER=maestro
MLFLOW_ADMIN_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
MAESTRO_DIR=$work/maestro
LSTM_DATA=lstm-data
BIND_ADDRESS=127.0.0.1
POSTGRES_PORT=$(free_port)
PREFECT_PORT=$(free_port)
MLFLOW_PORT=$(free_port)
DASHBOARD_PORT=$(free_port)
MAESTRO_IMAGE=$MAESTRO_IMAGE
POSTGRES_IMAGE=$POSTGRES_IMAGE
ENV
# compose prefers the shell's variables to the env file's: drop any the compose file reads
unset $(sed -n 's/^\([A-Z_][A-Z0-9_]*\)=.*/\1/p' docker/.env.example "$work/smoke.env") \
    STACK_PREFECT_API_URL STACK_MLFLOW_URI STACK_POSTGRES GPU_0 GPU_1 WORKER_NAME MLFLOW_CORS_ALLOWED_ORIGINS \
    COMPOSE_PROFILES

if "$DOCKER" compose version >/dev/null 2>&1; then compose=("$DOCKER" compose)
elif command -v docker-compose >/dev/null && docker-compose version >/dev/null 2>&1; then compose=(docker-compose)
else die "neither \`docker compose\` nor \`docker-compose\` is available"; fi
compose+=(-p "$project" -f docker/compose.yaml --env-file "$work/smoke.env")

phase "up -d (${compose[*]:0:${#compose[@]}-6}, project $project)"
"${compose[@]}" up -d --quiet-pull 2>&1 | grep -v "^Creating\|^Starting" || true
phase "waiting for deploy (work pools, deployments, automation)"
deploy_id=$("${compose[@]}" ps -q deploy)
[[ -n $deploy_id ]] || die "the deploy service did not start"
rc=$("$DOCKER" wait "$deploy_id")
"${compose[@]}" logs --no-color deploy | grep -E "deployed|automation" || true
((rc == 0)) || die "deploy exited $rc"

phase "memory at rest, one trial worker (proportional set size, docker/pss.py)"
sleep 20  # let the workers' first polls and the servers' startup services settle
python3 docker/pss.py --compose "$project" | sed 's/^/    /'

# Two trial workers for the sweep below: the second GPU's worker (profile two-gpus), as a two-GPU machine runs
compose+=(--profile two-gpus)
phase "up -d worker-gpu-1 (profile two-gpus), then the memory at rest again"
"${compose[@]}" up -d --no-deps worker-gpu-1 2>&1 | grep -v "^Creating\|^Starting" || true
sleep 20
python3 docker/pss.py --compose "$project" | sed 's/^/    /'

phase "prefect deployment run study/sweep: 2 trials, 2 at a time, smoke space, embedded data"
"${compose[@]}" exec -T worker-cpu prefect deployment run study/sweep --watch --watch-timeout 3600 \
    -p n_trials=2 -p n_parallel=2 -p space=smoke -p study_name=compose-smoke | grep -E "Created flow run|finished|Completed|Failed|Crashed" || true

phase "checking MLflow runs, the registered champion and the Prefect flow runs"
"${compose[@]}" exec -T worker-cpu python - <<'PY'
import asyncio, sys
from mlflow import MlflowClient
from prefect.client.orchestration import get_client

from flows import names
from flows.sweep.registry import registered_name

c = MlflowClient()
exp = c.get_experiment_by_name(names.EXPERIMENT)
runs = c.search_runs([exp.experiment_id], f"tags.`{names.STUDY}` = 'compose-smoke'") if exp else []
sweep = [r for r in runs if names.PARENT_RUN not in r.data.tags]
trials = [r for r in runs if r.data.tags.get(names.PARENT_RUN)]
for r in sorted(trials, key=lambda r: r.info.run_name):
    print(f"    {r.info.run_name}: {r.info.status}, worker {r.data.tags.get(names.WORKER)}, "
          f"val_accuracy {r.data.metrics.get('val_accuracy', float('nan')):.4f}")
model = registered_name(None)  # the embedded data's registered model
champion = c.get_model_version_by_alias(model, names.CHAMPION)
print(f"    registered {model} v{champion.version} @champion from run {champion.run_id}")


async def flow_runs():
    async with get_client() as client:
        return [(r.name, r.state_type.value, r.work_pool_name) for r in await client.read_flow_runs()]
states = asyncio.run(flow_runs())
print("    Prefect flow runs:", ", ".join(f"{n} {s} (pool {pool})" for n, s, pool in states))
problems = []
if len(sweep) != 1 or sweep[0].info.status != "FINISHED":
    problems.append(f"expected one FINISHED sweep run, got {[(r.info.run_name, r.info.status) for r in sweep]}")
if len(trials) != 2 or any(r.info.status != "FINISHED" for r in trials):
    problems.append(f"expected two FINISHED trial runs, got {[(r.info.run_name, r.info.status) for r in trials]}")
if champion.run_id not in {r.info.run_id for r in trials}:
    problems.append("the champion is not one of this sweep's trials")
if sorted((s, pool) for _, s, pool in states) != [("COMPLETED", names.SWEEP_POOL)] + [("COMPLETED", names.TRIAL_POOL)] * 2:
    problems.append(f"expected three COMPLETED flow runs, a sweep on pool cpu and two trials on gpu: {states}")
if not all((r.data.tags.get(names.WORKER) or "").startswith("worker-gpu") for r in trials):
    problems.append("a trial ran outside the gpu pool's workers")
# worker-gpu-1 has a volume of its own and no dataset: its trial fetched the data set from the artifact store
remote = [r for r in trials if r.data.tags.get(names.WORKER) == "worker-gpu-1"]
print("    worker-gpu-1 (nothing shared) fetched the data set in",
      [round(r.data.metrics.get(names.phase_metric("data_fetch"), float("nan")), 2) for r in remote], "s")
if not remote:
    problems.append("worker-gpu-1, which shares no folder with the servers' machine, ran no trial")
import json, urllib.request
with urllib.request.urlopen("http://optuna-dashboard:8080/api/studies", timeout=60) as r:  # over PostgreSQL
    shown = [s["study_name"] for s in json.load(r)["study_summaries"]]
print("    optuna-dashboard shows the studies", shown)
if "compose-smoke" not in shown:
    problems.append(f"optuna-dashboard does not show the study compose-smoke: {shown}")
sys.exit("\n".join(problems) or None)
PY

phase "a trial continued after its worker's container is killed (docker kill: SIGKILL)"
cat >"$work/six-epochs.yaml" <<'YAML'
description: smoke's model, six epochs, no early stop, a checkpoint every few seconds
trials: 1
pruner: {type: none}
checkpoint_minutes: 0.05
fixed: {model: embed, seq_len: 32, windows_per_epoch: 4096, embed_dim: 32, optimizer: adamw, patience: 0,
        batch_size: 32, epochs: 6, hidden_size: 64, lr: 0.005}
YAML
for service in worker-cpu worker-gpu worker-gpu-1; do  # the space file, where sweep and trials read it
    "${compose[@]}" exec -T "$service" sh -c 'cat > /tmp/six-epochs.yaml' <"$work/six-epochs.yaml"
done
"${compose[@]}" exec -T worker-cpu prefect deployment run study/sweep -p space=/tmp/six-epochs.yaml \
    -p n_trials=1 -p study_name=compose-kill >/dev/null
victim=$("${compose[@]}" exec -T worker-cpu python - <<'PY'
import time
from mlflow import MlflowClient
from flows import names
c, deadline = MlflowClient(), time.monotonic() + 900
while time.monotonic() < deadline:
    exp = c.get_experiment_by_name(names.EXPERIMENT)
    for r in c.search_runs([exp.experiment_id], f"tags.`{names.STUDY}` = 'compose-kill'"):
        if r.data.tags.get(names.PARENT_RUN) and len(c.get_metric_history(r.info.run_id, "train_loss")) >= 2:
            print(r.data.tags[names.WORKER]); raise SystemExit
    time.sleep(2)
raise SystemExit("no trial of compose-kill reached its third epoch")
PY
)
phase "killing $victim's container in its third epoch"
"$DOCKER" kill "$("${compose[@]}" ps -q "$victim")" >/dev/null
"${compose[@]}" exec -T worker-cpu python - <<'PY'
import os, time
import optuna
from mlflow import MlflowClient
from flows import names
from flows.requeue import retried_from
from flows.storage import make_storage
storage, deadline = make_storage(os.environ[names.STORAGE_ENV]), time.monotonic() + 900  # the stack's PostgreSQL
while time.monotonic() < deadline:
    trials = optuna.load_study(study_name="compose-kill", storage=storage).trials
    if any(t.state.name == "COMPLETE" for t in trials):
        break
    time.sleep(5)
lost, done = trials
steps = sorted(m.step for m in MlflowClient().get_metric_history(done.user_attrs[names.MLFLOW_RUN_ID], "train_loss"))
print(f"    trial {lost.number} {lost.state.name} ({lost.user_attrs.get(names.FAIL_REASON)}); trial {done.number} "
      f"{done.state.name} on {done.user_attrs.get(names.WORKER)}, resumed from {done.user_attrs.get(names.RESUMED_FROM)}; "
      f"epochs logged {steps}")
assert lost.state.name == "FAIL" and done.state.name == "COMPLETE" and retried_from(done) == lost.number, trials
assert names.RESUMED_FROM in done.user_attrs and steps == [1, 2, 3, 4, 5, 6], steps
PY
