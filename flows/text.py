"""How the sweep's messages, events and tables write numbers and parameters."""

from __future__ import annotations


def pct(x) -> str:
    """An accuracy as a percentage; a dash where there is none."""
    return f"{x:.2%}" if isinstance(x, float) else "–"


def short_params(params: dict, sep: str = " ") -> str:
    return ", ".join(f"{k}{sep}{v:.4g}" if isinstance(v, float) else f"{k}{sep}{v}" for k, v in params.items())
