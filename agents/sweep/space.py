"""Search spaces per algorithm (rl-baselines3-zoo's ranges, trimmed for short CPU budgets).

Each sampler takes the trial, the number of env copies and the trial's timesteps (rollouts longer than the
budget are not offered) and returns constructor kwargs in the YAML's form, so a trial's hyperparameters are
written out with the same code as any other entry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import optuna

NETS = {"small": [64, 64], "medium": [128, 128], "large": [256, 256]}


def _net(trial: optuna.Trial, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"net_arch": NETS[trial.suggest_categorical("net_arch", list(NETS))]}
    return {**kwargs, **(extra or {})}


def _rollouts(choices: list[int], n_envs: int, timesteps: int) -> list[int]:
    """Rollout lengths that fit the trial's budget at least once (the shortest when none does)."""
    fitting = [n for n in choices if n * n_envs <= timesteps]
    return fitting or choices[:1]


def ppo(trial: optuna.Trial, n_envs: int, timesteps: int) -> dict[str, Any]:
    """PPO and MaskablePPO."""
    n_steps = trial.suggest_categorical("n_steps", _rollouts([64, 128, 256, 512, 1024], n_envs, timesteps))
    batch = trial.suggest_categorical("batch_size", [32, 64, 128, 256])
    activation = trial.suggest_categorical("activation_fn", ["tanh", "relu"])
    return {
        "learning_rate": trial.suggest_float("learning_rate", 1e-5, 3e-3, log=True),
        "n_steps": n_steps,
        "batch_size": min(batch, n_steps * n_envs),
        "n_epochs": trial.suggest_categorical("n_epochs", [3, 5, 10, 20]),
        "gamma": trial.suggest_categorical("gamma", [0.9, 0.95, 0.98, 0.99, 0.995]),
        "gae_lambda": trial.suggest_categorical("gae_lambda", [0.8, 0.9, 0.95, 0.98, 1.0]),
        "ent_coef": trial.suggest_float("ent_coef", 1e-8, 0.1, log=True),
        "clip_range": trial.suggest_categorical("clip_range", [0.1, 0.2, 0.3]),
        "policy_kwargs": _net(trial, {"activation_fn": activation}),
    }


def a2c(trial: optuna.Trial, n_envs: int, timesteps: int) -> dict[str, Any]:
    """A2C."""
    activation = trial.suggest_categorical("activation_fn", ["tanh", "relu"])
    return {
        "learning_rate": trial.suggest_float("learning_rate", 1e-5, 3e-3, log=True),
        "n_steps": trial.suggest_categorical("n_steps", _rollouts([5, 8, 16, 32, 64, 128], n_envs, timesteps)),
        "gamma": trial.suggest_categorical("gamma", [0.9, 0.95, 0.98, 0.99, 0.995]),
        "gae_lambda": trial.suggest_categorical("gae_lambda", [0.8, 0.9, 0.95, 0.98, 1.0]),
        "ent_coef": trial.suggest_float("ent_coef", 1e-8, 0.1, log=True),
        "vf_coef": trial.suggest_float("vf_coef", 0.1, 1.0),
        "max_grad_norm": trial.suggest_categorical("max_grad_norm", [0.3, 0.5, 1.0, 5.0]),
        "policy_kwargs": _net(trial, {"activation_fn": activation}),
    }


def dqn(trial: optuna.Trial, n_envs: int, timesteps: int) -> dict[str, Any]:
    """DQN."""
    return {
        "learning_rate": trial.suggest_float("learning_rate", 1e-5, 1e-2, log=True),
        "batch_size": trial.suggest_categorical("batch_size", [32, 64, 128, 256]),
        "buffer_size": trial.suggest_categorical("buffer_size", [10_000, 50_000, 100_000]),
        "learning_starts": trial.suggest_categorical("learning_starts", [0, 500, 1000, 5000]),
        "gamma": trial.suggest_categorical("gamma", [0.9, 0.95, 0.98, 0.99, 0.995]),
        "train_freq": trial.suggest_categorical("train_freq", [1, 4, 8, 16]),
        "target_update_interval": trial.suggest_categorical("target_update_interval", [100, 500, 1000, 5000]),
        "exploration_fraction": trial.suggest_float("exploration_fraction", 0.05, 0.5),
        "exploration_final_eps": trial.suggest_float("exploration_final_eps", 0.0, 0.2),
        "policy_kwargs": _net(trial),
    }


def qrdqn(trial: optuna.Trial, n_envs: int, timesteps: int) -> dict[str, Any]:
    """QR-DQN: DQN's space plus the number of quantiles."""
    kwargs = dqn(trial, n_envs, timesteps)
    kwargs["policy_kwargs"]["n_quantiles"] = trial.suggest_categorical("n_quantiles", [25, 50, 100])
    return kwargs


SPACES: dict[str, Callable[[optuna.Trial, int, int], dict[str, Any]]] = {
    "ppo": ppo,
    "maskable-ppo": ppo,
    "a2c": a2c,
    "dqn": dqn,
    "qrdqn": qrdqn,
}
