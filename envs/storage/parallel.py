"""Harmonia's two agents as a PettingZoo `ParallelEnv`: placement and migration over one storage backend.

Both agents act at every step; an agent with no decision at the current request has a mask that allows only
action 0 (a no-op for it). They share the team reward of `HybridStorage-v0` (cooperative agents that can still
undo each other's work: migration can evict what placement just wrote), computed by the same `rewards.reward`
as the Gymnasium envs, so `reward="sibyl"` works here too. Observations follow PettingZoo's
convention for masked actions: `{"observation": Box, "action_mask": int8 vector}`.
"""

from __future__ import annotations

import functools
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.utils import seeding
from pettingzoo import ParallelEnv

from sysgym.envs.core.config import config_from_kwargs
from sysgym.envs.core.errors import InvalidActionError
from sysgym.envs.storage.config import StorageConfig
from sysgym.envs.storage.env import build_core
from sysgym.envs.storage.rewards import reward

AGENTS = ("placement", "migration")


class HybridStorageParallelEnv(ParallelEnv):
    """Placement and migration agents on one HybridStorage backend (kwargs as `HybridStorage-v0`)."""

    metadata = {"name": "sysgym_hybrid_storage_v0", "render_modes": []}

    def __init__(self, backend: str = "model", **kwargs: Any) -> None:
        self.config = config_from_kwargs(StorageConfig, kwargs)
        self.core = build_core(self.config, backend, "joint")
        self.possible_agents = list(AGENTS)
        self.agents: list[str] = []
        n_levels = len(self.core.levels)
        self._sizes = {"placement": self.core.n_devices, "migration": n_levels * n_levels}
        self._obs_spaces = {
            agent: gym.spaces.Dict(
                {
                    "observation": self.core.observation_space,
                    "action_mask": gym.spaces.Box(0, 1, (n,), np.int8),
                }
            )
            for agent, n in self._sizes.items()
        }
        self._act_spaces = {agent: gym.spaces.Discrete(n) for agent, n in self._sizes.items()}
        self._np_random, _ = seeding.np_random(None)

    @functools.cache  # noqa: B019 - PettingZoo requires the same space object every call
    def observation_space(self, agent: str) -> gym.Space[Any]:
        """The agent's Dict observation space."""
        return self._obs_spaces[agent]

    @functools.cache  # noqa: B019
    def action_space(self, agent: str) -> gym.Space[Any]:
        """Placement: Discrete(devices); migration: Discrete(levels^2)."""
        return self._act_spaces[agent]

    def _masks(self) -> dict[str, np.ndarray]:
        core = self.core
        mask = core.action_mask()
        assert mask is not None  # the joint mode always reports a mask
        joint = mask.reshape(core.n_devices, -1)
        place = joint.any(axis=1) if core.need_place else np.eye(1, core.n_devices, dtype=bool)[0]
        migrate = joint.any(axis=0) if core.need_mig else np.eye(1, joint.shape[1], dtype=bool)[0]
        return {"placement": place.astype(np.int8), "migration": migrate.astype(np.int8)}

    def _observe(self) -> tuple[dict[str, Any], dict[str, Any]]:
        masks = self._masks()
        obs = self.core.observation()
        observations = {a: {"observation": obs.copy(), "action_mask": masks[a]} for a in self.agents}
        infos = {a: {"action_mask": masks[a].astype(bool), "system": self.core.system()} for a in self.agents}
        return observations, infos

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Start an episode; the seed fixes the workload and every random draw."""
        if seed is not None or not self.agents:
            self._np_random, _ = seeding.np_random(seed)
        self.core.reset(self._np_random, dict(options or {}))
        self.agents = list(AGENTS)
        return self._observe()

    def step(
        self, actions: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, float], dict[str, bool], dict[str, bool], dict[str, Any]]:
        """Both agents' actions at the current request; the team reward goes to both."""
        if not self.agents:
            raise InvalidActionError("step() on a finished episode; call reset() first")
        masks = self._masks()
        chosen = {}
        for agent in AGENTS:
            a = int(actions.get(agent, 0))
            if not 0 <= a < self._sizes[agent] or not masks[agent][a]:
                raise InvalidActionError(
                    f"{agent} action {a} is invalid; valid: {np.flatnonzero(masks[agent]).tolist()}"
                )
            chosen[agent] = a
        n_pairs = self._sizes["migration"]
        outcome = self.core.apply(chosen["placement"] * n_pairs + chosen["migration"])
        team_reward = reward(self.config, outcome.signals)
        done = outcome.terminated
        observations, infos = self._observe()
        if done:
            metrics, samples = self.core.metrics(), self.core.samples()
            for agent in self.agents:
                infos[agent].update(metrics=metrics, samples=samples)
        rewards = {a: team_reward for a in self.agents}
        terminations = {a: done for a in self.agents}
        truncations = {a: False for a in self.agents}
        if done:
            self.agents = []
        return observations, rewards, terminations, truncations, infos

    def close(self) -> None:
        """Release the backend's resources."""
        self.core.close()
