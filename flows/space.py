"""Search spaces: small YAML files in `studies/` → Optuna distributions and a pruner.

A file has `fixed:` values and `search:` entries; a list is a categorical choice, `{low, high}` an
int or float range (`log: true` for log scale, `step:` for a grid). The model's options (`model`,
`hidden_size` × `num_layers`, or `hidden_sizes: ["512,256", ...]` naming each layer, `embed_dim`,
`dropout`) mean what they mean to `lstm train`: lstm.models.model_config translates both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import optuna
import yaml
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from lstm.model_config import model_config

from .settings import REPO

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


def _distribution(name: str, spec) -> BaseDistribution:
    if isinstance(spec, list):
        return CategoricalDistribution(spec)
    if isinstance(spec, dict) and {"low", "high"} <= spec.keys():
        low, high = spec["low"], spec["high"]
        if isinstance(low, int) and isinstance(high, int):
            return IntDistribution(low, high, log=spec.get("log", False), step=spec.get("step", 1))
        return FloatDistribution(float(low), float(high), log=spec.get("log", False), step=spec.get("step"))
    raise ValueError(f"search entry {name!r}: use a list of choices or {{low, high}}")


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
    path = resolve(space)
    doc = yaml.safe_load(path.read_text()) or {}
    fixed, search = doc.get("fixed", {}) or {}, doc.get("search", {}) or {}
    dists = {name: _distribution(name, spec) for name, spec in search.items()}
    present = set(fixed) | set(dists)
    missing = [k for k in REQUIRED if k not in present]
    if not ({"hidden_size", "hidden_sizes"} & present):
        missing.append("hidden_size")
    if missing:
        raise ValueError(f"{path.name} must define {', '.join(missing)} (fixed or searched)")
    minutes = doc.get("checkpoint_minutes", 10)
    if not isinstance(minutes, int | float) or not minutes > 0:
        raise ValueError(f"{path.name}: checkpoint_minutes must be a positive number, not {minutes!r}")
    return Space(path.stem, path, doc.get("description", "").strip(), fixed, dists,
                 doc.get("pruner", {}) or {}, int(doc.get("trials", 20)), float(minutes))
