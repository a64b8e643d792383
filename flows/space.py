"""Search spaces: small YAML files in `studies/` → Optuna distributions, a pruner and trials to try first.

The schema is documented once, in docs/studies.md; flows/space_check.py checks a file against it (and
against lstm.train.TrainConfig) when it is loaded, so a sweep refuses a bad space before it prepares data.
The model's options (`model`, `hidden_size` × `num_layers`, or `hidden_sizes: ["512,256", ...]` naming
each layer, `embed_dim`, `dropout`) mean what they mean to `lstm train`: lstm.model_config translates both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import optuna
import yaml
from optuna.distributions import BaseDistribution

from lstm.model_config import model_config

from .settings import REPO
from .space_check import TOP_LEVEL, check_configs, check_keys, check_params, check_value, distribution

STUDIES = REPO / "studies"
REQUIRED = ("batch_size", "epochs")  # and hidden sizes: the mission's three
MODEL_OPTIONS = ("hidden_size", "num_layers", "hidden_sizes", "embed_dim", "dropout")  # model_config's


@dataclass
class Space:
    name: str
    path: Path
    description: str
    fixed: dict
    distributions: dict[str, BaseDistribution]
    pruner_config: dict
    default_trials: int
    enqueue: list[dict] = field(default_factory=list)  # trials a new study tries first, in this order
    checkpoint_minutes: float = 10.0  # a trial uploads a checkpoint at least this often (flows/trial/checkpoints.py)

    def pruner(self) -> optuna.pruners.BasePruner:
        cfg = dict(self.pruner_config)
        kind = cfg.pop("type", "median")
        if kind == "median":
            return optuna.pruners.MedianPruner(**cfg)
        if kind == "hyperband":
            return optuna.pruners.HyperbandPruner(**cfg)
        if kind == "threshold":
            return optuna.pruners.ThresholdPruner(**cfg)
        if kind == "none":
            return optuna.pruners.NopPruner()
        raise ValueError(f"{self.path.name}: unknown pruner type {kind!r}")

    def train_config(self, params: dict, seed: int) -> dict:
        """Trial params + fixed values → the keyword arguments of lstm.train.TrainConfig."""
        cfg = {**self.fixed, **params}
        model = model_config(cfg.pop("model", "embed"), **{k: cfg.pop(k) for k in MODEL_OPTIONS if k in cfg})
        return {**cfg, **model.to_dict(), "seed": seed}


def resolve(space: str) -> Path:
    path = Path(space)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return path
    candidate = STUDIES / f"{space}.yaml"
    if candidate.is_file():
        return candidate
    known = ", ".join(sorted(p.stem for p in STUDIES.glob("*.yaml")))
    raise ValueError(f"unknown search space {space!r}: choose one of {known} or a path to a .yaml file")


def load_space(space: str) -> Space:
    """The space, checked (flows/space_check.py): one line for anything a trial would trip over."""
    path = resolve(space)
    doc = yaml.safe_load(path.read_text()) or {}
    if not isinstance(doc, dict):
        raise ValueError(f"{path.name} must be a mapping of {', '.join(TOP_LEVEL)}")
    check_keys(path, doc, TOP_LEVEL)
    fixed, search = doc.get("fixed") or {}, doc.get("search") or {}
    for key, value in (("fixed", fixed), ("search", search), ("pruner", doc.get("pruner") or {})):
        if not isinstance(value, dict):
            raise ValueError(f"`{key}` in {path.name} must be a mapping, not {value!r}")
    check_keys(path, [*fixed, *search])
    for name, value in fixed.items():
        check_value(path, name, value, "fixed")
    if both := sorted(set(fixed) & set(search)):
        raise ValueError(f"{path.name} both fixes and searches {', '.join(both)}")
    dists = {name: distribution(path, name, spec) for name, spec in search.items()}
    present = set(fixed) | set(dists)
    missing = [k for k in REQUIRED if k not in present]
    if not ({"hidden_size", "hidden_sizes"} & present):
        missing.append("hidden_size")
    if missing:
        raise ValueError(f"{path.name} must define {', '.join(missing)} (fixed or searched)")
    enqueue = doc.get("enqueue") or []
    if not (isinstance(enqueue, list) and all(isinstance(e, dict) for e in enqueue)):
        raise ValueError(f"`enqueue` in {path.name} must be a list of parameter mappings")
    trials = doc.get("trials", 20)
    if not isinstance(trials, int) or isinstance(trials, bool) or trials < 1:
        raise ValueError(f"`trials` in {path.name} must be a whole number of at least 1, not {trials!r}")
    minutes = doc.get("checkpoint_minutes", 10)
    if not isinstance(minutes, int | float) or isinstance(minutes, bool) or not minutes > 0:
        raise ValueError(f"`checkpoint_minutes` in {path.name} must be a positive number, not {minutes!r}")
    sp = Space(path.stem, path, str(doc.get("description") or "").strip(), fixed, dists,
               doc.get("pruner") or {}, trials, enqueue, float(minutes))
    try:
        sp.pruner()
    except TypeError as exc:  # an option the pruner does not take
        raise ValueError(f"pruner of {path.name}: {exc}") from None
    check_configs(sp)
    for i, params in enumerate(enqueue, 1):
        check_params(sp, params, f"enqueue entry {i}")
    return sp
