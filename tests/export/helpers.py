"""Small SB3 models, recorded decisions and reference actions for the export tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from sysgym.agents.random_policy import sample_action
from sysgym.agents.training.algos import algo as find_algo
from sysgym.agents.training.envs import ValidActionWrapper
from sysgym.agents.training.policy import SB3Policy

SMALL: dict[str, dict[str, Any]] = {
    "ppo": {"n_steps": 32, "batch_size": 32, "n_epochs": 1},
    "maskable-ppo": {"n_steps": 32, "batch_size": 32, "n_epochs": 1},
    "a2c": {"n_steps": 8},
    "dqn": {"learning_starts": 16, "buffer_size": 500, "train_freq": 4},
    "qrdqn": {"learning_starts": 16, "buffer_size": 500, "train_freq": 4, "policy_kwargs": {"n_quantiles": 7}},
}


@dataclass
class Decisions:
    """Observations and masks recorded from an env under random valid actions."""

    obs: np.ndarray
    masks: list[np.ndarray | None]

    def stacked_masks(self) -> np.ndarray | None:
        return None if self.masks[0] is None else np.stack(self.masks)


def record(env_id: str, kwargs: dict[str, Any], count: int, seed: int = 0) -> Decisions:
    env = gym.make(env_id, disable_env_checker=True, **kwargs)
    rng = np.random.default_rng(seed)
    obs_list, masks = [], []
    obs, info = env.reset(seed=seed)
    while len(obs_list) < count:
        obs_list.append(np.asarray(obs, dtype=np.float32))
        masks.append(info.get("action_mask"))
        obs, _, terminated, truncated, info = env.step(sample_action(env.action_space, info.get("action_mask"), rng))
        if terminated or truncated:
            obs, info = env.reset(seed=seed + len(obs_list))
    env.close()
    return Decisions(np.stack(obs_list), masks)


def vec_env(env_id: str, kwargs: dict[str, Any], masked: bool) -> VecNormalize:
    def make() -> gym.Env[Any, Any]:
        env = gym.make(env_id, disable_env_checker=True, **kwargs)
        return ValidActionWrapper(env, 0.1) if masked else env

    return VecNormalize(DummyVecEnv([make]), norm_reward=False)


def model(
    algo_name: str, env_id: str, kwargs: dict[str, Any], seed: int, learn: int, masked: bool = True
) -> tuple[BaseAlgorithm, VecNormalize]:
    """A model of `algo_name` with weights moved away from their initialisation (so scores are not near ties).

    `learn` > 0 trains that many steps (statistics from training); 0 fits the normaliser to recorded decisions.
    """
    venv = vec_env(env_id, kwargs, masked)
    agent = find_algo(algo_name).cls("MlpPolicy", venv, seed=seed, device="cpu", **SMALL[algo_name])
    if learn:
        agent.learn(learn)
    else:
        venv.obs_rms.update(record(env_id, kwargs, 64, seed=seed + 100).obs.astype(np.float64))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in agent.policy.parameters():  # like trained weights: O(1) pre-activations at any width
            fan_in = parameter.shape[-1] if parameter.ndim > 1 else 1
            parameter.add_(torch.randn(parameter.shape, generator=generator) * (0.5 / fan_in**0.5))
    venv.training = False
    return agent, venv


def reference(agent: BaseAlgorithm, venv: VecNormalize, decisions: Decisions) -> list[Any]:
    """What `sysgym eval --policy RUN_DIR` does with this model: SB3's deterministic predict plus the mask rule."""
    policy = SB3Policy(agent, venv, "reference")
    return [policy.act(o, {"action_mask": m}) for o, m in zip(decisions.obs, decisions.masks, strict=True)]


def off_distribution(space: gym.spaces.Box, decisions: Decisions, seed: int) -> Decisions:
    """Uniform observations over the whole (bounded) observation space with the recorded masks, so clips bind."""
    rng = np.random.default_rng(seed)
    low = np.where(np.isfinite(space.low), space.low, -5.0)
    high = np.where(np.isfinite(space.high), space.high, 5.0)
    obs = rng.uniform(low, high, size=decisions.obs.shape).astype(np.float32)
    return Decisions(obs, decisions.masks)
