"""A sweep's time budget (`-p timeout_hours=H`): no trial is launched once the sweep has run H hours; the
live ones finish, and the study is then summarised and promoted as usual. Optuna's `optimize(timeout=...)`
has the same meaning; the sweep launches trial flow runs rather than calling `optimize`, so it keeps it here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class Budget:
    hours: float | None  # None: no budget
    started: float = field(default_factory=time.monotonic)  # when the sweep started, time.monotonic()
    reached: bool = False  # the budget stopped a launch the study still wanted

    def spent(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        return self.hours is not None and now - self.started >= self.hours * 3600

    def admit(self, wanted: int, now: float | None = None) -> int:
        """How many of the `wanted` launches may go ahead: none once the budget is spent."""
        if wanted > 0 and self.spent(now):
            self.reached = True
            return 0
        return wanted
