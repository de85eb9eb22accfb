"""Uniformly random valid actions: the floor every table is read against, and the bench's action source."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from sysgym.agents.policy import Policy


class RandomPolicy(Policy):
    """Samples uniformly among the actions the mask allows, from its own seeded generator."""

    name = "random"

    def __init__(self, action_space: gym.Space[Any]) -> None:
        self.action_space = action_space
        self._rng = np.random.default_rng(0)

    def reset(self, seed: int) -> None:
        """Reseed so a random run is reproducible from the episode seed."""
        self._rng = np.random.default_rng(seed)

    def act(self, obs: Any, info: dict[str, Any]) -> Any:
        """A valid action; masked Discrete spaces draw only from allowed indices."""
        return sample_action(self.action_space, info.get("action_mask"), self._rng)


def sample_action(space: gym.Space[Any], mask: np.ndarray | None, rng: np.random.Generator) -> Any:
    """One valid action of `space` under `mask` (flattened per dimension for MultiDiscrete), drawn from `rng`."""
    if isinstance(space, gym.spaces.Discrete):
        if mask is None:
            return int(space.start + rng.integers(int(space.n)))
        allowed = mask.nonzero()[0]  # the method: np.flatnonzero's Python wrappers cost more than the draw
        return int(space.start + allowed[rng.integers(len(allowed))])
    if isinstance(space, gym.spaces.MultiDiscrete):
        nvec = np.asarray(space.nvec).ravel()
        if mask is None:
            return (rng.random(nvec.shape) * nvec).astype(space.dtype).reshape(space.shape)
        picks = []
        start = 0
        for n in nvec:
            allowed = np.flatnonzero(mask[start : start + int(n)])
            picks.append(rng.choice(allowed))
            start += int(n)
        return np.asarray(picks, dtype=space.dtype).reshape(space.shape)
    if isinstance(space, gym.spaces.Box):
        low = np.where(np.isfinite(space.low), space.low, -1.0)
        high = np.where(np.isfinite(space.high), space.high, 1.0)
        return rng.uniform(low, high).astype(space.dtype)
    if isinstance(space, gym.spaces.MultiBinary):
        return rng.integers(0, 2, size=space.shape).astype(space.dtype)
    raise TypeError(f"no random sampler for {space}")
