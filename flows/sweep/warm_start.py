"""Trials a new study tries first: the best `k` configurations of another study on the same data
(`-p warm_start=STUDY`, `-p warm_start_top=k`), then its space's own `enqueue:` list (docs/studies.md).

They are queued with Optuna's `enqueue_trial`; each trial flow's `study.ask` takes the queued ones first.
Only a study without trials gets them: a continued study has had its queue already.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import optuna
from optuna.trial import TrialState

from .. import tracking
from ..names import DATA_HASH
from ..space import Space
from ..space_check import check_params


@dataclass
class WarmStart:
    study_name: str
    configs: list[dict] = field(default_factory=list)  # best first, cut to the new space's parameters
    data_hash: str | None = None  # what the other study was searched on (None: it did not record it)

    def check_data(self, data_hash: str, experiment: str) -> None:
        """Refuse another study's configurations found on other data (one line)."""
        # Studies made before the study attribute existed carry the hash on their MLflow sweep run only.
        theirs = self.data_hash or tracking.study_tag(experiment, self.study_name, DATA_HASH)
        if theirs is None:
            raise ValueError(f"warm_start study {self.study_name} records no data hash: cannot tell it was "
                             f"searched on the same data")
        if theirs != data_hash:
            raise ValueError(f"warm_start study {self.study_name} was searched on other data (data hash "
                             f"{theirs[:12]}, this sweep's {data_hash[:12]}): warm-start from a study on the "
                             f"same data")


def load_warm_start(space: Space, storage, other: str, top: int) -> WarmStart:
    """The best `top` completed trials of study `other`, with the parameters `space` does not search
    dropped and the rest checked against it (a value outside its ranges: one line)."""
    try:
        study = optuna.load_study(study_name=other, storage=storage)
    except KeyError:
        known = sorted(optuna.get_all_study_names(storage))
        listed = ", ".join(known[:20]) + (", ..." if len(known) > 20 else "") or "none"
        raise ValueError(f"warm_start study {other!r} does not exist in the study storage; known: {listed}") from None
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not done:
        raise ValueError(f"warm_start study {other} has no completed trial to start from")
    best = sorted(done, key=lambda t: t.value, reverse=study.direction == optuna.study.StudyDirection.MAXIMIZE)
    configs = []
    for t in best[:top]:
        params = {k: v for k, v in t.params.items() if k in space.distributions}
        check_params(space, params, f"trial {t.number} of warm_start study {other}")
        configs.append(params)
    return WarmStart(other, configs, study.user_attrs.get(DATA_HASH))


def enqueue_first(study: optuna.Study, configs: list[dict], logger) -> None:
    """Queue `configs` on a study that has no trials yet; a continued one is left as it is."""
    if not configs or study.get_trials(deepcopy=False):
        return
    for params in configs:
        study.enqueue_trial(params, skip_if_exists=True)
    logger.info("study %s starts with %d queued trials: %s", study.study_name, len(configs),
                "; ".join(", ".join(f"{k}={v}" for k, v in c.items()) for c in configs))
