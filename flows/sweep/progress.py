"""What a running sweep shows, through Prefect's own means: an event a trial start, resumption (a trial that
continues a lost one from its checkpoint) and end, and a progress artifact.

`prefect deployment run study/sweep --watch` (Prefect 3.9: prefect/cli/flow_runs_watching.py) prints the
events that name the sweep's flow run, as their resource or a related one. It would print the sweep's
logs too, but only from a server that streams logs out (PREFECT_SERVER_LOGS_STREAM_OUT_ENABLED, off by
default), so a user's terminal would show nothing but heartbeats. Each trial's start and end is therefore
a Prefect event emitted from the sweep's flow run (which Prefect adds as a related resource): one line each
in the watch, in the UI's event feed, and a trigger for automations (say, a notification on
`maestro.trial.failed`). The line is the event resource's name; the payload holds the same facts as data.

The sweep watches Optuna anyway; Progress compares what Optuna holds with what it saw last, so a trial
told by its own flow run, one failed by the sweep and one whose worker died are each announced once.
"""

from __future__ import annotations

import optuna
from optuna.trial import FrozenTrial, TrialState
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.events import emit_event

from ..names import FAIL_REASON, FLOW_RUN_ID, PRUNED_REASON, RESUMED_FROM, WORKER, artifact_key, event
from ..requeue import retried_from
from ..storage import best_trial, finished
from ..text import short_params

TRIAL_OUTCOMES = {TrialState.COMPLETE: "completed", TrialState.PRUNED: "pruned", TrialState.FAIL: "failed"}


class Progress:
    """One `maestro.trial.*` event per trial start and end, and the sweep's progress artifact."""

    def __init__(self, study: optuna.Study, n_trials: int):
        self.study, self.n_trials = study, n_trials
        trials = study.get_trials(deepcopy=False)
        # what the study held before this sweep is not news; trials still running (adopted) are
        self.announced = {t.number: "ended" for t in trials if t.state.is_finished()}
        self.resumed = {t.number for t in trials if t.state.is_finished()}
        self.artifact = create_progress_artifact(self._percent(), key=artifact_key("study", study.study_name,
                                                                                    "progress"),
                                                 description=self._description())
        best = best_trial(study)
        self._emit("study.started", f"study {study.study_name}: {finished(study)} of {n_trials} trials "
                   f"finished" + (f", best val_accuracy {best.value:.2%} (trial {best.number})" if best else ""),
                   {"finished": finished(study), "n_trials": n_trials})

    def update(self) -> None:
        """Announce what changed in Optuna since the last call; cheap enough for every poll of the sweep."""
        changed = False
        for t in self.study.get_trials(deepcopy=False):
            seen = self.announced.get(t.number)
            if seen is None and WORKER in t.user_attrs and (t.state == TrialState.RUNNING or t.state in TRIAL_OUTCOMES):
                self._started(t)  # also for a trial that ended between two polls: its start is news too
            if RESUMED_FROM in t.user_attrs and t.number not in self.resumed:
                self._resumed(t)
            if t.state in TRIAL_OUTCOMES and seen != "ended":
                self._ended(t)
                changed = True
        if changed:
            update_progress_artifact(self.artifact, self._percent(), description=self._description())

    def finish(self, summary: str, budget_reached: bool = False) -> None:
        self.update()
        self._emit("study.finished", summary, {"finished": finished(self.study), "n_trials": self.n_trials,
                                               "budget_reached": budget_reached})

    # ---------------------------------------------------------------------------------------------
    def _started(self, t: FrozenTrial) -> None:
        self.announced[t.number] = "started"
        line = f"trial {t.number} started on {t.user_attrs[WORKER]}: {short_params(t.params)}"
        self._trial_event(t, "started", line, {"params": t.params, "worker": t.user_attrs[WORKER]})

    def _resumed(self, t: FrozenTrial) -> None:
        self.resumed.add(t.number)
        line = (f"trial {t.number} resumed from {t.user_attrs[RESUMED_FROM]} on {t.user_attrs.get(WORKER, '?')} "
                f"(it continues trial {retried_from(t)})")
        self._trial_event(t, "resumed", line, {"resumed_from": t.user_attrs[RESUMED_FROM], "retry_of": retried_from(t)})

    def _ended(self, t: FrozenTrial) -> None:
        self.announced[t.number] = "ended"
        best = best_trial(self.study)
        best_text = f"best {best.value:.2%} (trial {best.number})" if best else "no trial completed yet"
        if t.state == TrialState.COMPLETE:
            why = f"val_accuracy {t.value:.2%}"
        else:
            why = t.user_attrs.get(PRUNED_REASON if t.state == TrialState.PRUNED else FAIL_REASON) or "no reason recorded"
            why = why if len(why) <= 300 else why[:299] + "…"
        line = f"trial {t.number} {t.state.name}: {why}; {best_text}; {finished(self.study)}/{self.n_trials} finished"
        self._trial_event(t, TRIAL_OUTCOMES[t.state], line, {"state": t.state.name, "value": t.value, "reason": why,
                                                             "best_value": best.value if best else None,
                                                             "best_trial": best.number if best else None})

    def _trial_event(self, t: FrozenTrial, kind: str, line: str, payload: dict) -> None:
        # The trial's flow run first: the watch shows the first related run's id beside the line.
        run = t.user_attrs.get(FLOW_RUN_ID)
        related = [{"prefect.resource.id": f"prefect.flow-run.{run}", "prefect.resource.role": "trial-flow-run"}]
        self._emit(f"trial.{kind}", line, {"number": t.number, **payload}, related if run else None,
                   f".trial.{t.number}")

    def _emit(self, kind: str, line: str, payload: dict, related: list | None = None, sub: str = "") -> None:
        # The watch prints the name with rich markup, where "[...]" could be taken for a style.
        name = line.replace("[", "(").replace("]", ")")
        resource = {"prefect.resource.id": f"{event('study')}.{self.study.study_name}{sub}",
                    "prefect.resource.name": name}
        emit_event(event(kind), resource=resource, related=related, payload={"study": self.study.study_name, **payload})

    def _percent(self) -> float:
        return min(100.0, 100.0 * finished(self.study) / self.n_trials)

    def _description(self) -> str:
        return f"{finished(self.study)} of {self.n_trials} trials finished (study {self.study.study_name})"
