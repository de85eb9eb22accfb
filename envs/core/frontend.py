"""`SysEnv`: the standard Gymnasium frontend every sysgym env derives from (template method).

Subclasses declare their config dataclass, build a backend by name and turn the backend's signals into a reward.
Everything else (kwargs parsing, backend choice, seeding, action checks, the `info` contract) lives here once.

`info` keys, the same for every env:
    action_mask: the boolean mask for the next decision (None when every action is valid).
    system: the backend's structured state for heuristics (read-only view, documented per env).
    metrics, samples: the episode's metrics and per-item measurements, present once the episode has ended.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar, Generic, TypeVar

import gymnasium as gym
import numpy as np

from sysgym.envs.core.backend import Backend, Outcome
from sysgym.envs.core.config import config_from_kwargs
from sysgym.envs.core.errors import ConfigError, InvalidActionError

ConfigT = TypeVar("ConfigT")


class SysEnv(gym.Env[Any, Any], Generic[ConfigT]):
    """Base env: `gym.make(id, backend="model"|"live", **config_overrides)`.

    Subclasses set `config_cls` and `backends`, and implement `_make_backend` and `_reward`.
    """

    metadata: dict[str, Any] = {"render_modes": []}
    config_cls: ClassVar[type]
    backends: ClassVar[tuple[str, ...]] = ("model",)

    def __init__(self, backend: str = "model", **kwargs: Any) -> None:
        if backend not in self.backends:
            raise ConfigError(f"{type(self).__name__} has no backend {backend!r}; choose from {self.backends}")
        self.backend_name = backend
        self.config: ConfigT = config_from_kwargs(self.config_cls, kwargs)
        self._backend: Backend[Any, Any] = self._make_backend(self.config, backend)
        self.observation_space = self._backend.observation_space
        self.action_space = self._backend.action_space
        self._mask: np.ndarray | None = None
        self._done = True

    @abstractmethod
    def _make_backend(self, config: ConfigT, backend: str) -> Backend[Any, Any]:
        """Build the named backend for `config`."""

    @abstractmethod
    def _reward(self, signals: dict[str, float]) -> float:
        """Turn a backend's signals into this env's scalar reward."""

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        """Start an episode; `options` go to the backend (documented per env)."""
        super().reset(seed=seed)
        self._backend.reset(self.np_random, dict(options or {}))
        self._done = False
        self._mask = self._backend.action_mask()
        return self._backend.observation(), self._info(None)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        """Check `action` against the space and mask, apply it, and report the reward and `info`."""
        if self._done:
            raise InvalidActionError("step() called on a finished episode; call reset() first")
        action = self._checked(action)
        outcome = self._backend.apply(action)
        self._done = outcome.terminated or outcome.truncated
        self._mask = None if self._done else self._backend.action_mask()
        obs = self._backend.observation()
        return obs, self._reward(outcome.signals), outcome.terminated, outcome.truncated, self._info(outcome)

    def _checked(self, action: Any) -> Any:
        space = self.action_space
        if isinstance(space, gym.spaces.Discrete):
            try:
                index = int(action)
            except (TypeError, ValueError) as exc:
                raise InvalidActionError(f"action {action!r} is not an integer") from exc
            if not 0 <= index - int(space.start) < int(space.n):
                raise InvalidActionError(f"action {index} is outside Discrete({space.n})")
            if self._mask is not None and not self._mask[index - int(space.start)]:
                raise InvalidActionError(
                    f"action {index} is masked out; valid actions: {np.flatnonzero(self._mask).tolist()}"
                )
            return index
        array = (
            np.asarray(action, dtype=space.dtype)
            if isinstance(space, gym.spaces.Box | gym.spaces.MultiDiscrete)
            else action
        )
        if not space.contains(array):
            raise InvalidActionError(f"action {action!r} is outside the action space {space}")
        return array

    def _info(self, outcome: Outcome | None) -> dict[str, Any]:
        info: dict[str, Any] = {"action_mask": self._mask, "system": self._backend.system()}
        if outcome is not None:
            info.update(outcome.events)
        if self._done and outcome is not None:
            info["metrics"] = self._backend.metrics()
            info["samples"] = self._backend.samples()
        return info

    def action_masks(self) -> np.ndarray:
        """The current mask in the form sb3-contrib's MaskablePPO asks for (all True when unmasked)."""
        if self._mask is not None:
            return self._mask
        space = self.action_space
        if isinstance(space, gym.spaces.Discrete):
            return np.ones(int(space.n), dtype=bool)
        if isinstance(space, gym.spaces.MultiDiscrete):
            return np.ones(int(np.sum(space.nvec)), dtype=bool)
        return np.ones(int(np.prod(space.shape or (1,))), dtype=bool)

    def close(self) -> None:
        """Release the backend's resources."""
        self._backend.close()
        super().close()
