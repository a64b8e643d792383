"""A search space is checked before anything runs (docs/studies.md): its keys, the types of its values and
ranges, and that every fixed value and both bounds of every searched parameter (every choice of a list)
build a valid lstm.train.TrainConfig. Each refusal is one line naming the file.

Without these checks `dropout: 1.5` surfaced inside a trial, as one FAIL in a sweep that ended Completed.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING

from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution

from lstm.train_config import TrainConfig

if TYPE_CHECKING:
    from .space import Space

TOP_LEVEL = ("description", "trials", "pruner", "fixed", "search", "enqueue", "checkpoint_minutes")
# What a study may set: TrainConfig's fields and the model's options (lstm.model_config.model_config). The
# training seed is not among them: the sweep gives every trial its own.
KEY_TYPES = {**{f.name: f.type for f in fields(TrainConfig) if f.name != "seed"},
             "hidden_size": "int", "num_layers": "int"}
RANGE_KEYS = ("low", "high", "log", "step")
PRODUCT_LIMIT = 20_000  # corner configurations checked together; beyond, each parameter's alone
TYPE_WORDS = {"int": "an integer", "float": "a number", "str": "a string",
              "list[int]": 'a string of sizes ("512,256") or a list of integers'}


def check_keys(path: Path, keys, known=tuple(KEY_TYPES), what: str = "key") -> None:
    for key in keys:
        if key not in known:
            raise ValueError(f"unknown {what} `{key}` in {path.name}; known: {', '.join(sorted(known))}")


def check_value(path: Path, name: str, value, where: str) -> None:
    """`value` has the type of TrainConfig's `name` (an int where a float is asked is fine, a bool never)."""
    kind = KEY_TYPES[name]
    ok = {"int": lambda v: isinstance(v, int),
          "float": lambda v: isinstance(v, (int, float)) and math.isfinite(v),
          "str": lambda v: isinstance(v, str),
          "list[int]": lambda v: isinstance(v, (str, int)) or (isinstance(v, list) and all(
              isinstance(x, int) and not isinstance(x, bool) for x in v))}[kind](value)
    if not ok or isinstance(value, bool):
        raise ValueError(f"{name} = {value!r} ({where} in {path.name}): {name} takes {TYPE_WORDS[kind]}")


def distribution(path: Path, name: str, spec) -> BaseDistribution:
    """A `search:` entry → its Optuna distribution: a list of choices, or a range typed by its parameter
    (`dropout: {low: 0, high: 1}` is a float range because dropout is a float)."""
    if isinstance(spec, list):
        if not spec:
            raise ValueError(f"search `{name}` in {path.name}: the list of choices is empty")
        for choice in spec:
            check_value(path, name, choice, "a choice")
        return CategoricalDistribution(spec)
    if not (isinstance(spec, dict) and {"low", "high"} <= spec.keys()):
        raise ValueError(f"search entry {name!r} in {path.name}: use a list of choices or {{low, high}}")
    check_keys(path, spec, RANGE_KEYS, f"range key (of `{name}`)")
    kind = KEY_TYPES[name]
    if kind not in ("int", "float"):
        raise ValueError(f"search `{name}` in {path.name}: {name} takes {TYPE_WORDS[kind]}: give a list of "
                         f"choices, not a range")
    for bound in ("low", "high", "step"):
        if bound in spec:
            check_value(path, name, spec[bound], f"the range's {bound}")
    try:
        if kind == "int":
            return IntDistribution(spec["low"], spec["high"], log=bool(spec.get("log", False)),
                                   step=spec.get("step", 1))
        step = spec.get("step")
        return FloatDistribution(float(spec["low"]), float(spec["high"]), log=bool(spec.get("log", False)),
                                 step=None if step is None else float(step))
    except ValueError as exc:  # Optuna's: low > high, log with a step, ...
        raise ValueError(f"search `{name}` in {path.name}: {exc}") from None


def contains(dist: BaseDistribution, value) -> bool:
    """Optuna's own test of a value against a distribution (enqueue_trial only warns about one outside)."""
    try:
        return dist._contains(dist.to_internal_repr(value))
    except (ValueError, TypeError):
        return False


def check_configs(space: Space) -> None:
    """Every fixed value, with each searched parameter at each of its corners (both bounds, every choice)."""
    corners = {name: _corners(d) for name, d in space.distributions.items()}
    base = {name: values[0] for name, values in corners.items()}
    _build(space, base, "its fixed values")
    for name, values in corners.items():
        for value in values:
            _build(space, {**base, name: value}, f"search {name} = {value!r}")
    if math.prod(len(v) for v in corners.values()) <= PRODUCT_LIMIT:  # parameters that clash together
        for combo in itertools.product(*corners.values()):
            params = dict(zip(corners, combo))
            _build(space, params, "searched " + ", ".join(f"{k} = {v!r}" for k, v in params.items()))


def check_params(space: Space, params: dict, origin: str) -> None:
    """Parameters to enqueue (a space's `enqueue:`, another study's best): searched, inside their
    distributions, and, with the fixed values, a valid TrainConfig."""
    check_keys(space.path, params, tuple(space.distributions), f"parameter ({origin} sets it; searched ones)")
    for name, value in params.items():
        if not contains(space.distributions[name], value):
            raise ValueError(f"{name} = {value!r} ({origin}) is outside {space.path.name}'s "
                             f"{_describe(space.distributions[name])}")
    base = {name: _corners(d)[0] for name, d in space.distributions.items()}
    _build(space, {**base, **params}, origin)


def _build(space: Space, params: dict, what: str) -> None:
    try:
        TrainConfig(**space.train_config(params, seed=0))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{space.path.name}: no valid training configuration with {what}: {exc}") from None


def _corners(d: BaseDistribution) -> list:
    if isinstance(d, CategoricalDistribution):
        return list(d.choices)
    return [d.low, d.high]


def _describe(d: BaseDistribution) -> str:
    if isinstance(d, CategoricalDistribution):
        return f"choices {list(d.choices)}"
    step = f" step {d.step}" if d.step not in (None, 1) else ""
    return f"range [{d.low}, {d.high}]{step}"
