"""Shared helpers of the MoE tests."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from sysgym.agents.policy import Policy
from sysgym.envs.moe.backend import ModelBackend
from sysgym.envs.moe.config import ExpertRerouteConfig

ENV_ID = "sysgym/ExpertReroute-v0"


def backend(**kwargs: Any) -> ModelBackend:
    """A reset model backend."""
    b = ModelBackend(ExpertRerouteConfig(**kwargs))
    b.reset(np.random.default_rng(0), {})
    return b


def run(policy: Policy, seed: int = 0, **kwargs: Any) -> tuple[dict[str, float], list[float]]:
    """One episode of `policy` (its env overrides applied); returns the metrics and the rewards."""
    env = gym.make(ENV_ID, disable_env_checker=True, **{**kwargs, **policy.env_overrides})
    policy.reset(seed)
    obs, info = env.reset(seed=seed)
    rewards = []
    while True:
        obs, reward, terminated, truncated, info = env.step(policy.act(obs, info))
        rewards.append(float(reward))
        if terminated or truncated:
            env.close()
            return info["metrics"], rewards
