"""The names the sweep and its trials agree on, each defined once: Prefect pools, deployments and events,
Optuna user attributes, MLflow tags, metrics and artifact paths, heartbeats.

The sweep and its trials run in different processes, often on different machines, and meet only in
Prefect, Optuna's storage and MLflow, through these names. Where one fact is kept in two stores (the trial's
flow run, its worker, why it failed) it has one name in both.
"""

from __future__ import annotations

# --- Prefect -------------------------------------------------------------------------------------------
SWEEP_POOL = "cpu"  # sweeps: a process pool without a limit, several sweeps may run at once
TRIAL_POOL = "gpu"  # trials: one worker per GPU, TRIALS_PER_GPU flow runs at a time on each (default 1)
TRIALS_PER_GPU_ENV = "TRIALS_PER_GPU"  # make up's and compose's setting: a trial worker's --limit
SWEEP_FLOW, SWEEP_DEPLOYMENT = "study", "sweep"  # deployment `study/sweep`
TRIAL_FLOW, TRIAL_DEPLOYMENT = "trial", "run"  # deployment `trial/run`
FLOW_RUN_HEARTBEAT_SECONDS = 30  # Prefect's minimum; drives the zombie automation (flows/ops/deploy.py)
# PREFECT_CLIENT_MAX_RETRIES for every client of the stack: Prefect's own backoff (2, 4, ... 128 s) rides out a
# restarting server for about 4 minutes, as the trials' steps do (flows/trial/retry.py); its default 5 is 1 minute
PREFECT_CLIENT_RETRIES = 7
WORKER_ENV = "MAESTRO_WORKER"  # a worker's name, in its environment: trials record where they ran
STORAGE_ENV = "OPTUNA_STORAGE"  # the study storage URL, in the environment of the docker stack's workers


def deployment(flow: str, name: str) -> str:
    return f"{flow}/{name}"


STUDY_TAG = "study:"


def study_tag(study_name: str) -> str:
    """The Prefect tag on every trial flow run of a study, and on its sweep's flow run once the study is
    named: how a sweep finds the live ones, and what cancelling a sweep cancels."""
    return f"{STUDY_TAG}{study_name}"


def event(kind: str) -> str:
    """A sweep's Prefect events: maestro.study.started/finished, maestro.trial.started/resumed/completed/pruned/failed."""
    return f"maestro.{kind}"


def artifact_key(*parts: str) -> str:
    """Prefect artifact keys take lowercase letters, digits and dashes only."""
    return "".join(c if c.isalnum() else "-" for c in "-".join(parts).lower())


# --- Optuna --------------------------------------------------------------------------------------------
TRIAL_HEARTBEAT_SECONDS = 10  # a trial's heartbeat on PostgreSQL storage
TRIAL_GRACE_SECONDS = 120  # a trial whose heartbeat is older is failed (and retried) by fail_stale_trials;
# twice a PostgreSQL restart's minute, so that beats missed while it is down do not make a live trial stale
STUDY_SPACE = "space"  # study user attribute: the search space a study was searched with
MAX_RESTARTS = "max_restarts"  # study user attribute: how often a lost trial continues (flows/requeue.py)
LOSSES = "losses"  # trial user attribute: how often it was lost (a worker died, preempted); a cancel is none

# --- facts about a trial: the same key as an Optuna user attribute and as an MLflow tag ------------------
FLOW_RUN_ID = "prefect.flow_run_id"  # the flow run that runs it (on the sweep's MLflow run: the sweep's)
WORKER = "worker"  # the worker it runs on
FAIL_REASON = "fail_reason"  # why it failed: set by its trial flow, or by the sweep when its flow run died
PRUNED_REASON = "pruned_reason"
MLFLOW_RUN_ID = "mlflow_run_id"  # Optuna user attribute and model version tag: the trial's MLflow run
TEST_ACCURACY = "test_accuracy"  # Optuna user attribute, MLflow metric and model version tag
RESUMED_FROM = "resumed_from"  # a continued trial: where its checkpoint was ("epoch 3, batch 40")
RETRY_OF = "retry_of"  # a continued trial: the number of the trial it continues (Optuna's failed_trial)
STOPPED = "stopped"  # how an attempt ended early: `cancelled` or `preempted` (SIGTERM), `packed` (out of GPU
# memory beside other trials, flows/trial/packing.py); its MLflow run is KILLED

# --- MLflow --------------------------------------------------------------------------------------------
EXPERIMENT = "maestro-lstm"
STUDY = "maestro.study"  # tag on the sweep's run and on each trial's run
ROLE, SWEEP_ROLE = "maestro.role", "sweep"  # the sweep's (parent) run
TRIAL_NUMBER = "optuna.trial_number"
OPTUNA_STATE = "optuna.state"  # COMPLETE, PRUNED or FAIL: MLflow's statuses have no PRUNED
STORAGE_KIND = "optuna.storage"  # journal or postgresql
DEVICE = "device"
DATA_HASH = "data_hash"  # also a study user attribute: the data a study searched (a warm start checks it)
REGISTERED_MODEL = "registered_model"
PARENT_RUN = "mlflow.parentRunId"  # MLflow's own: nests a trial's run under the sweep's
DESCRIPTION = "mlflow.note.content"  # MLflow's own: the run's description in the UI

EPOCH_METRICS = ("train_loss", "val_loss", "val_accuracy", "epoch_seconds")  # one point per epoch
FINAL_METRICS = ("train_accuracy", "val_accuracy", "val_loss", "test_accuracy", "test_top5_accuracy",
                 "test_loss", "test_perplexity", "val_targets", "test_targets")
GD_METRICS = ("predicted_share_G", "predicted_share_D", "top2_predicted_share")
VAL_ACCURACY = "val_accuracy"  # what the study maximizes
VAL_TARGETS = "val_targets"  # how many validation targets it was measured on (metric, and model version tag)


def baseline_metric(baseline: str) -> str:
    return f"baseline_{baseline}_accuracy"


def phase_metric(phase: str) -> str:
    return f"phase_{phase}_seconds"


# artifacts of a trial's run, and of the sweep's
CHECKPOINT_DIR = "checkpoint"
CHECKPOINT = f"{CHECKPOINT_DIR}/model.pt"  # weights, config and vocabulary: what `lstm generate` loads
RESUME_DIR = "resume"  # the training checkpoint a lost trial continues from, uploaded while it trains
RESUME_PROGRESS = "maestro.checkpoint"  # tag on a trial's run: the uploaded checkpoint's (epoch, batches)
MUSIC_DIR = "music"
PLOTS_DIR = "optuna"
TRIALS_CSV = "trials.csv"
MANIFEST = "manifest.json"
DATA_ROLE = "data"  # ROLE of the run that holds a published data set (flows/sweep/publish.py)
DATA_KEY = "maestro.data_key"  # its content key: the prepared directory's name
DATA_COMPLETE = "maestro.data_complete"  # "true" once every file is up
DATA_DIR, CHECKSUMS = "data", "checksums.json"  # its artifacts: the prepared set, the sha256 of each file

# --- the Model Registry --------------------------------------------------------------------------------
CHAMPION, CHALLENGER = "champion", "challenger"
MAESTRO_MODEL = "maestro-lstm"  # the registered model of a MAESTRO directory
EMBEDDED_MODEL = "chorales-lstm"  # of the embedded chorales
PROMOTION = "promotion"  # model version tag: why it got its alias
ALIAS_HISTORY = "alias_history"  # model version tag: every alias move onto (or off) it, one line each
VERSION_STUDY, VERSION_TRIAL = "study", "trial_number"  # model version tags (with VAL_ACCURACY, VAL_TARGETS,
# TEST_ACCURACY, DATA_HASH and MLFLOW_RUN_ID)
