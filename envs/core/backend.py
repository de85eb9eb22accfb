"""The one narrow interface between an env's frontend and the system it decides for.

A backend is either a calibrated model (a simulator fitted to measurements) or a live adapter (real files, a
real Spark, a real GPU). The frontend never knows which: both expose the same spaces, the same decision points
and the same `system` view, so a policy trained on the model runs unchanged on the live system.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import gymnasium as gym
import numpy as np

ObsT = TypeVar("ObsT")
ActT = TypeVar("ActT")


@dataclass
class Outcome:
    """What one decision led to, in the system's own units, before any reward shaping.

    Attributes:
        signals: named quantities accrued since the previous decision (e.g. `job_seconds`); the frontend turns
            them into a reward, so reward design stays out of the backends.
        terminated: the episode's workload is complete.
        truncated: the episode was cut short (time or step limit inside the backend).
        events: extra `info` entries for this step (documented per env), e.g. what a live system reported.
    """

    signals: dict[str, float]
    terminated: bool = False
    truncated: bool = False
    events: dict[str, Any] = field(default_factory=dict)


class Backend(ABC, Generic[ObsT, ActT]):
    """Dynamics behind an env, keeping the invariants below (one test suite checks every backend).

    1. `observation_space` and `action_space` are fixed at construction and are the same for every backend of
       one env and configuration.
    2. `reset(rng, options)` starts a fresh episode and draws every random number from `rng` alone; on a model
       backend the same rng state and the same actions give the same observations, signals and metrics.
    3. After `reset` and after every `apply` that does not end the episode the backend waits at a decision
       point: `observation()`, `action_mask()` and `system()` describe that decision.
    4. `apply(action)` is only called with an action inside the space and the mask (the frontend checks) and
       runs the system until the next decision point or the end of the episode.
    5. `metrics()` may be called at any time and is final once an episode has ended; names are the env's
       documented metric names, identical across backends.
    6. `close()` releases every real resource (processes, files, GPU memory) and may be called twice.
    """

    observation_space: gym.Space[Any]
    action_space: gym.Space[Any]

    @abstractmethod
    def reset(self, rng: np.random.Generator, options: dict[str, Any]) -> None:
        """Start a new episode, drawing randomness only from `rng`."""

    @abstractmethod
    def observation(self) -> ObsT:
        """The learned agent's view of the current decision."""

    def action_mask(self) -> np.ndarray | None:
        """Boolean mask of valid actions (flattened per dimension for MultiDiscrete), or None if all are valid."""
        return None

    @abstractmethod
    def apply(self, action: ActT) -> Outcome:
        """Enact `action` and advance to the next decision point."""

    @abstractmethod
    def system(self) -> Any:
        """Structured state that heuristics may read (documented per env); exposed as `info["system"]`."""

    @abstractmethod
    def metrics(self) -> dict[str, float]:
        """The env's metrics for the episode so far."""

    def samples(self) -> dict[str, list[float]]:
        """Per-item measurements (e.g. each job's response time) for CDF plots; empty when the env has none."""
        return {}

    def close(self) -> None:
        """Release real resources; idempotent."""
