"""The sweep's loop: keep `n_parallel` trial flow runs in flight until the study has `n_trials` finished.

Every trial is its own flow run of deployment `trial/run` on the `gpu` pool (flows/trial/flow.py): it asks
Optuna for its parameters, trains, reports and tells Optuna itself; this loop only launches and watches.
The trial flow runs of a study carry the Prefect tag `study:NAME`, so a sweep started again counts those
still scheduled, pending or running as in flight and waits for them (it adopts them). A trial whose flow run
ended without telling Optuna, or vanished, is lost: it is failed and continued from its checkpoint by the
next trial flow (flows/requeue.py), up to the study's max_restarts.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import optuna
from optuna.trial import TrialState
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterId,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
)
from prefect.client.schemas.objects import StateType
from prefect.deployments import run_deployment
from prefect.exceptions import ObjectNotFound

from ..names import FLOW_RUN_ID, TRIAL_DEPLOYMENT, TRIAL_FLOW, deployment, study_tag
from ..requeue import continued_flow_runs, lose
from ..storage import finished
from .budget import Budget
from .params import SweepParams
from .patience import patiently
from .progress import Progress

POLL_SECONDS = 3
FLOW_RUN_ENDED = [StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED]
UNOWNED_AFTER = timedelta(seconds=60)  # a trial asked and not yet marked with its flow run: give it a minute


def live_trial_runs(client: SyncPrefectClient, study_name: str) -> list:
    """The study's trial flow runs still scheduled (queued, awaiting a retry), pending or running."""
    return client.read_flow_runs(
        flow_filter=FlowFilter(name=FlowFilterName(any_=[TRIAL_FLOW])),
        flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[study_tag(study_name)]),
                                      state=FlowRunFilterState(type=FlowRunFilterStateType(not_any_=FLOW_RUN_ENDED))))


def ended(client: SyncPrefectClient, ids: list) -> list:
    """Those of the flow runs `ids` that have ended."""
    if not ids:
        return []
    return client.read_flow_runs(flow_run_filter=FlowRunFilter(
        id=FlowRunFilterId(any_=ids), state=FlowRunFilterState(type=FlowRunFilterStateType(any_=FLOW_RUN_ENDED))),
        limit=len(ids))


def fail_dead_trials(study: optuna.Study, storage, client: SyncPrefectClient, logger) -> None:
    """RUNNING trials whose trial flow run crashed, failed, ended or vanished: lost, with the reason (FAIL,
    and continued by a new trial unless lost too often).

    A trial whose flow run is still scheduled (e.g. awaiting a retry), pending or running is alive and left
    alone, whichever sweep launched it."""
    dead = {}
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = t.user_attrs.get(FLOW_RUN_ID)
        if owner is None:  # also a continued trial just asked: it records its flow run a moment later
            if datetime.now() - t.datetime_start > UNOWNED_AFTER:  # Optuna's times are naive local times
                dead[t.number] = "no trial flow run owns it"
            continue
        try:
            run = client.read_flow_run(owner)
        except ObjectNotFound:
            dead[t.number] = f"its trial flow run {owner} vanished"
            continue
        if run.state and run.state.is_final():
            dead[t.number] = f"trial flow run {run.name} ended {run.state.name}: {run.state.message or ''}"
    # Look again: a trial may have told Optuna just before its flow run ended.
    still = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
    for number, reason in dead.items():
        if number in still and (recorded := lose(study, storage, number, reason.strip())):
            logger.error("trial %d lost: %s", number, recorded)


def run_trials(p: SweepParams, study: optuna.Study, storage, prepared: str, parent_run: str, logger,
               progress: Progress, budget: Budget, data_run: str = "") -> None:
    """Keep `n_parallel` trial flow runs in flight until `n_trials` trials have finished.

    In flight means every live trial flow run of the study, adopted ones included; more than there are
    GPU workers simply wait in the `gpu` pool's queue. After `n_trials` failures launched by this sweep it
    stops launching: a broken setup must not loop. Once the `budget` is spent it launches no more and waits
    for the live ones."""
    launched: list = []
    seed = p.seed + len(study.trials)  # each trial flow's sampler and training seed, distinct and reproducible
    with get_client(sync_client=True) as client:
        def poll() -> bool:
            """One look and launch; True once no trial of the study is in flight."""
            fail_dead_trials(study, storage, client, logger)
            progress.update()  # an event a trial start and end, for the watch and the UI
            live = live_trial_runs(client, p.study_name)  # before counting finished: never over-launch
            if not launched and live:
                logger.info("adopting %d live trial flow runs of this study: %s", len(live),
                            ", ".join(r.name for r in live))
            done = finished(study)
            continued = continued_flow_runs(study)  # a lost trial goes on: its flow run is no failure
            failed = [r for r in ended(client, launched)
                      if r.state.type != StateType.COMPLETED and str(r.id) not in continued]
            if len(failed) >= p.n_trials:
                logger.error("%d trial flow runs of this sweep failed: not launching more", len(failed))
                want = 0
            else:
                want = min(p.n_parallel - len(live), p.n_trials - done - len(live))
                reached = budget.reached
                want = budget.admit(want)
                if budget.reached and not reached:
                    logger.warning("budget of %g h reached: launching no more trials; %d in flight finish",
                                   budget.hours, len(live))
            for _ in range(max(want, 0)):
                # as a subflow (a task run of this sweep is its parent): the UI lists the trials under the sweep
                run = run_deployment(deployment(TRIAL_FLOW, TRIAL_DEPLOYMENT), timeout=0, as_subflow=True,
                                     tags=[study_tag(p.study_name)],
                                     parameters=dict(study_name=p.study_name, space=str(p.space.path),
                                                     prepared=prepared, data_run=data_run, parent_run=parent_run,
                                                     experiment=p.experiment, storage=p.storage,
                                                     seed=seed + len(launched)))
                launched.append(run.id)
                live.append(run)
                logger.info("launched trial flow run %s (%d of %d finished, %d in flight)", run.name, done,
                            p.n_trials, len(live))
            return not live

        while not patiently(poll, logger):  # a restarting server is waited for (flows/sweep/patience.py)
            time.sleep(POLL_SECONDS)
