"""One suite run against every backend of every env (Optuna style): the invariants `Backend` documents.

Live backends run where this machine has what they need (Java for Spark, a writable disk for storage) and are
skipped with the backend's own reason elsewhere (no GPU here, say).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from sysgym.agents.random_policy import sample_action
from sysgym.envs.core.errors import BackendUnavailableError
from sysgym.envs.registry import specs

CASES = [(s.id, backend) for s in specs() for backend in s.backends]
QUICK = {s.id: dict(s.quick_kwargs) for s in specs()}
STEPS = 20


def make(env_id: str, backend: str) -> gym.Env[Any, Any]:
    try:
        return gym.make(env_id, disable_env_checker=True, backend=backend, **QUICK[env_id]).unwrapped
    except BackendUnavailableError as exc:
        pytest.skip(f"{backend} backend unavailable here: {exc}")


@pytest.mark.parametrize(("env_id", "backend"), CASES)
def test_backend_invariants(env_id: str, backend: str) -> None:
    model = gym.make(env_id, disable_env_checker=True, **QUICK[env_id]).unwrapped
    env = make(env_id, backend)
    try:
        assert env.observation_space == model.observation_space, "spaces differ between backends"
        assert env.action_space == model.action_space, "spaces differ between backends"
        obs, info = env.reset(seed=0)
        assert set(info) >= {"action_mask", "system"}
        rng = np.random.default_rng(0)
        for _ in range(STEPS):
            assert env.observation_space.contains(obs)
            obs, reward, terminated, truncated, info = env.step(
                sample_action(env.action_space, info["action_mask"], rng)
            )
            assert np.isfinite(reward)
            if terminated or truncated:
                assert set(info["metrics"]) >= set(_model_metric_names(env_id)), "metric names differ from the model's"
                break
    finally:
        env.close()
        env.close()


@cache
def _model_metric_names(env_id: str) -> frozenset[str]:
    model = gym.make(env_id, disable_env_checker=True, **QUICK[env_id]).unwrapped
    _, info = model.reset(seed=0)
    rng = np.random.default_rng(0)
    while True:
        _, _, terminated, truncated, info = model.step(sample_action(model.action_space, info["action_mask"], rng))
        if terminated or truncated:
            return frozenset(info["metrics"])
