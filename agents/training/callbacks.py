"""Training callbacks (SB3's template method: the base decides when, subclasses say what).

`PeriodicCallback` fires at rollout boundaries once `every` timesteps have passed: the only points where the whole
training state is on disk-able objects (no half-collected rollout), so checkpoints taken there resume exactly.
"""

from __future__ import annotations

import time
from abc import abstractmethod
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback


class PeriodicCallback(BaseCallback):
    """Calls `_on_period` at the first rollout start after each `every` timesteps."""

    def __init__(self, every: int) -> None:
        super().__init__()
        self.every = every
        self._last = 0

    def _on_training_start(self) -> None:
        self._last = self.num_timesteps

    def _on_rollout_start(self) -> None:
        if self.num_timesteps - self._last >= self.every:
            self._last = self.num_timesteps
            self._on_period()

    def _on_step(self) -> bool:
        return True

    @abstractmethod
    def _on_period(self) -> None:
        """The periodic work (checkpoint, evaluation)."""


class EnvMetricsCallback(BaseCallback):
    """Logs every finished episode's `info["metrics"]` under `env/` and invalid-action substitutions."""

    def __init__(self) -> None:
        super().__init__()
        self._invalid = 0
        self._steps = 0

    def _on_step(self) -> bool:
        infos: list[dict[str, Any]] = self.locals.get("infos", [])
        for info in infos:
            if "invalid_action" in info:
                self._invalid += int(info["invalid_action"])
                self._steps += 1
            for key, value in info.get("metrics", {}).items():
                self.logger.record_mean(f"env/{key}", float(value))
        if self._steps:
            self.logger.record("env/invalid_action_rate", self._invalid / self._steps)
        return True

    def _on_rollout_end(self) -> None:
        self._invalid = 0
        self._steps = 0


class BudgetCallback(BaseCallback):
    """Stops training once `seconds` of wall time (counted from `started`, a `time.monotonic()` value) have passed."""

    def __init__(self, seconds: float, started: float) -> None:
        super().__init__()
        self.deadline = started + seconds
        self.expired = False

    def _on_step(self) -> bool:
        self.expired = time.monotonic() >= self.deadline
        return not self.expired
