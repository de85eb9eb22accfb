"""The vector env a run trains on: the registered env, the valid-action wrapper where needed, Monitor, VecNormalize.

Masked envs and algorithms without mask support: SB3's PPO, A2C, DQN and QR-DQN cannot be told which actions are
valid, and a sysgym env rejects a masked-out action. `ValidActionWrapper` lets them train anyway: a masked-out
choice is replaced by the nearest valid index (the same rule at evaluation time, so a trained agent never fails
in the harness) and the step's reward is reduced by `invalid_action_penalty`, so the agent learns to avoid relying
on the substitution. `maskable-ppo` sees the masks directly and is the recommended algorithm for masked envs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecNormalize

from sysgym.agents.training.hyperparams import Normalize


def nearest_valid(index: int, mask: np.ndarray) -> tuple[int, bool]:
    """The valid index closest to `index` (the lower one on ties) and whether it differs from `index`."""
    if 0 <= index < len(mask) and mask[index]:
        return index, False
    valid = np.flatnonzero(mask)
    if valid.size == 0:
        return index, False
    return int(valid[np.argmin(np.abs(valid - index))]), True


def to_valid(space: gym.Space[Any], action: Any, mask: np.ndarray | None) -> tuple[Any, bool]:
    """`action` made valid under `mask` (Discrete, or MultiDiscrete with its per-dimension masks concatenated)."""
    if mask is None:
        return action, False
    if isinstance(space, gym.spaces.Discrete):
        start = int(space.start)
        index, changed = nearest_valid(int(np.asarray(action).item()) - start, mask)
        return index + start, changed
    if isinstance(space, gym.spaces.MultiDiscrete):
        flat = np.asarray(action).ravel().copy()
        changed = False
        offset = 0
        for dim, n in enumerate(np.asarray(space.nvec).ravel()):
            flat[dim], moved = nearest_valid(int(flat[dim]), mask[offset : offset + int(n)])
            changed |= moved
            offset += int(n)
        return flat.reshape(space.shape).astype(space.dtype), changed
    return action, False


class ValidActionWrapper(gym.Wrapper[Any, Any, Any, Any]):
    """Maps masked-out actions to the nearest valid one and charges `penalty` for each substitution."""

    def __init__(self, env: gym.Env[Any, Any], penalty: float) -> None:
        super().__init__(env)
        self.penalty = penalty
        self._mask: np.ndarray | None = None

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        """Reset and remember the first decision's mask."""
        obs, info = self.env.reset(**kwargs)
        self._mask = info.get("action_mask")
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        """Step with the valid version of `action`; `info["invalid_action"]` says whether it was substituted."""
        valid, changed = to_valid(self.action_space, action, self._mask)
        obs, reward, terminated, truncated, info = self.env.step(valid)
        self._mask = info.get("action_mask")
        info["invalid_action"] = changed
        return obs, float(reward) - (self.penalty if changed else 0.0), terminated, truncated, info


def is_masked(env_id: str, env_kwargs: dict[str, Any]) -> bool:
    """Whether the env reports an action mask (probed on one reset)."""
    env = gym.make(env_id, disable_env_checker=True, **env_kwargs)
    try:
        _, info = env.reset(seed=0)
        return info.get("action_mask") is not None
    finally:
        env.close()


def env_factory(
    env_id: str, env_kwargs: dict[str, Any], invalid_penalty: float | None
) -> Callable[[], gym.Env[Any, Any]]:
    """A zero-argument constructor of one monitored training env; `invalid_penalty` adds the valid-action wrapper."""

    def make() -> gym.Env[Any, Any]:
        env: gym.Env[Any, Any] = gym.make(env_id, disable_env_checker=True, **env_kwargs)
        if invalid_penalty is not None:
            env = ValidActionWrapper(env, invalid_penalty)
        return Monitor(env)

    return make


def vec_env(
    env_id: str,
    env_kwargs: dict[str, Any],
    n_envs: int,
    invalid_penalty: float | None,
    normalize: Normalize,
    gamma: float,
) -> VecNormalize:
    """`n_envs` copies stepped in this process (so the whole vector env can be checkpointed) under VecNormalize.

    VecNormalize is always present, possibly with both switches off, so every run folder has the same layout.
    """
    venv: VecEnv = DummyVecEnv([env_factory(env_id, env_kwargs, invalid_penalty) for _ in range(n_envs)])
    return VecNormalize(
        venv, norm_obs=normalize.obs, norm_reward=normalize.reward, clip_obs=normalize.clip_obs, gamma=gamma
    )
