"""Validation of the sweep's parameters, before anything runs: a bad value fails with one line."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from lstm.data.dataset import layout
from lstm.data.folder import DEFAULT_RATIOS, DEFAULT_SEED, MIN_FILES, check_ratios, midi_files
from lstm.data.maestro import DatasetError
from lstm.data.tokens import PARTS, READERS

from ..names import STORAGE_ENV
from ..requeue import DEFAULT_MAX_RESTARTS
from ..space import Space, load_space
from ..storage import make_storage, sqlalchemy_url, storage_kind
from .registry import registered_name
from .warm_start import WarmStart, load_warm_start


@dataclass
class SweepParams:
    data_dir: Path | None  # None: the embedded dataset
    space: Space
    n_trials: int
    n_parallel: int
    study_name: str
    storage: str
    experiment: str
    seed: int
    max_duration: float | None = None  # seconds: only pieces shorter are prepared (the seed's 1000)
    model_name: str = ""  # the registered model; empty: named after the data (flows/sweep/registry.py)
    timeout_hours: float | None = None  # no trial is launched once the sweep has run this long
    warm_start: WarmStart | None = None  # another study's best configurations, tried first
    prepare: dict = field(default_factory=dict)  # what `lstm prepare` takes: part, reader, split_ratios, split_seed
    max_restarts: int = DEFAULT_MAX_RESTARTS  # a lost trial continues this often (flows/requeue.py)


def validate(data_dir: str, space: str, n_trials: int, n_parallel: int, study_name: str, storage: str,
             experiment: str, seed: int, max_duration: float | None = None, model_name: str = "",
             timeout_hours: float | None = None, warm_start: str = "", warm_start_top: int = 3,
             part: str = "first", reader: str = "auto", split_ratios: list[float] | None = None,
             split_seed: int = DEFAULT_SEED, max_restarts: int = DEFAULT_MAX_RESTARTS) -> SweepParams:
    storage = storage or os.environ.get(STORAGE_ENV, "")  # the docker stack sets it on every worker
    if n_trials < 0:
        raise ValueError(f"n_trials must be at least 1, got {n_trials} (0: the space's `trials:`)")
    if n_parallel < 1:
        raise ValueError(f"n_parallel must be at least 1, got {n_parallel}")
    if not experiment.strip():
        raise ValueError("experiment must not be empty")
    if study_name and not all(c.isalnum() or c in "-_." for c in study_name):
        raise ValueError(f"study_name {study_name!r} may hold only letters, digits, '-', '_' and '.'")
    if max_duration is not None and not max_duration > 0:  # `not >` also refuses NaN
        raise ValueError(f"max_duration must be a positive number of seconds or unset, got {max_duration}")
    if model_name and not all(c.isalnum() or c in "-_." for c in model_name):
        raise ValueError(f"model_name {model_name!r} may hold only letters, digits, '-', '_' and '.'")
    if max_restarts < 0:
        raise ValueError(f"max_restarts must be 0 (a lost trial stays failed) or more, got {max_restarts}")
    if timeout_hours is not None and not 0 < timeout_hours < math.inf:
        raise ValueError(f"timeout_hours must be a positive number of hours or unset, got {timeout_hours}")
    if warm_start_top < 1:
        raise ValueError(f"warm_start_top must be at least 1, got {warm_start_top}")
    if warm_start and not all(c.isalnum() or c in "-_." for c in warm_start):
        raise ValueError(f"warm_start {warm_start!r} may hold only letters, digits, '-', '_' and '.'")
    if warm_start and warm_start == study_name:
        raise ValueError(f"warm_start names study {study_name} itself: give another study")
    prep = _prepare_options(part, reader, split_ratios, split_seed)
    sp = load_space(space)
    n_trials = n_trials or sp.default_trials
    path = None
    if data_dir:
        path = Path(data_dir).expanduser()
        if not path.is_dir():
            raise ValueError(f"data_dir {data_dir} does not exist")
        try:
            kind = layout(path)  # a MAESTRO directory or a folder with MIDI files
        except DatasetError as exc:
            raise ValueError(str(exc)) from None
        if kind == "folder" and len(midi_files(path)) < MIN_FILES:  # before preparing, as lstm prepare refuses it
            raise ValueError(f"data_dir {data_dir} has {len(midi_files(path))} MIDI files: a plain folder needs at "
                             f"least {MIN_FILES}, one each for train, validation and test")
        if kind == "folder" and max_duration is not None:
            raise ValueError(f"max_duration filters by the durations of the MAESTRO CSV; data_dir {data_dir} "
                             f"is a plain folder of MIDI files without one")
        if kind == "maestro" and (prep["split_ratios"] != DEFAULT_RATIOS or prep["split_seed"] != DEFAULT_SEED):
            raise ValueError(f"split_ratios and split_seed split a plain folder; data_dir {data_dir} is a MAESTRO "
                             f"directory, whose CSV's split is kept")
    if storage_kind(storage) == "postgresql":
        _check_connects(storage)
    warm = load_warm_start(sp, make_storage(storage), warm_start, warm_start_top) if warm_start else None
    return SweepParams(path, sp, n_trials, min(n_parallel, n_trials), study_name, storage, experiment, seed,
                       max_duration, model_name or registered_name(path), timeout_hours, warm, prep,
                       max_restarts)


def _prepare_options(part: str, reader: str, split_ratios: list[float] | None, split_seed: int) -> dict:
    """What `lstm prepare` takes besides the data (lstm/cli.py), checked as it checks them."""
    if part not in PARTS:
        raise ValueError(f"unknown part {part!r}: choose one of {', '.join(PARTS)}")
    if reader not in READERS:
        raise ValueError(f"unknown reader {reader!r}: choose one of {', '.join(READERS)}")
    ratios = DEFAULT_RATIOS if split_ratios is None else tuple(float(r) for r in split_ratios)
    return {"part": part, "reader": reader, "split_ratios": check_ratios(ratios), "split_seed": split_seed}


def _check_connects(url: str) -> None:
    import sqlalchemy

    try:
        engine = sqlalchemy.create_engine(sqlalchemy_url(url), connect_args={"connect_timeout": 5})
        with engine.connect():
            pass
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"storage {_redact(url)} is unreachable: {first}") from None


def _redact(url: str) -> str:
    """The URL without its password, for messages."""
    import sqlalchemy

    try:
        return sqlalchemy.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable URL>"
