"""Tiny hyperparameters and runs on the toy env, so training tests take seconds."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from sysgym.agents.training.config import TrainConfig
from sysgym.agents.training.hyperparams import default_file, lookup, read_file
from tests.toy_env import TOY_ID

TINY = {
    "ppo": {"n_envs": 2, "n_steps": 32, "batch_size": 32, "n_epochs": 2, "policy_kwargs": {"net_arch": [16]}},
    "maskable-ppo": {"n_envs": 2, "n_steps": 32, "batch_size": 32, "n_epochs": 2, "policy_kwargs": {"net_arch": [16]}},
    "a2c": {"n_envs": 2, "n_steps": 8, "policy_kwargs": {"net_arch": [16]}},
    "dqn": {
        "learning_starts": 50,
        "buffer_size": 1000,
        "target_update_interval": 50,
        "policy_kwargs": {"net_arch": [16]},
    },
    "qrdqn": {
        "learning_starts": 50,
        "buffer_size": 1000,
        "target_update_interval": 50,
        "policy_kwargs": {"net_arch": [16], "n_quantiles": 5},
    },
}


def tiny_yaml(folder: Path, algo: str) -> Path:
    """A hyperparameter file whose toy-env entry overrides the packaged default with tiny settings."""
    path = folder / f"{algo}.yml"
    data = read_file(default_file(algo))
    data[TOY_ID] = TINY[algo]
    path.write_text(yaml.safe_dump(data))
    return path


def tiny_config(folder: Path, algo: str, timesteps: int = 256, seed: int = 1, **kwargs: object) -> TrainConfig:
    params = lookup(algo, TOY_ID, tiny_yaml(folder, algo))
    return TrainConfig(
        env_id=TOY_ID,
        algo=algo,
        seed=seed,
        timesteps=timesteps,
        env_kwargs={"workload": "random"},
        hyperparams=params,
        **kwargs,  # type: ignore[arg-type]
    )


ROOT = Path(__file__).resolve().parents[2]
CLI = "from tests.toy_env import register_toy; register_toy(); from sysgym.experiments.cli import app; app()"


def sysgym(*args: str) -> list[str]:
    """The sysgym command line, in a Python that also registers the toy env (run it with cwd=ROOT)."""
    return [sys.executable, "-c", CLI, *args]
