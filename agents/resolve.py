"""Turn a policy name from the command line into a `Policy`: a baseline name, `random`, or a path.

Paths are trained runs (`sysgym train`) or exported artifacts (`sysgym export`); the loaders for them are
registered in `PATH_LOADERS` by suffix so this module stays the one place names are resolved.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import gymnasium as gym

from sysgym.agents.policy import Policy
from sysgym.agents.random_policy import RandomPolicy
from sysgym.envs.core.errors import UnknownNameError
from sysgym.envs.registry import spec

PATH_LOADERS: dict[str, str] = {
    "run": "sysgym.agents.training.policy:load_any",
    ".onnx": "sysgym.runtime.policy.adapter:load_policy",
    ".npz": "sysgym.runtime.policy.adapter:load_policy",
}
"""Maps a path kind (`run` for a run folder, or a file suffix such as `.onnx`) to `module:function(path, env_id)`."""


def policy_names(env_id: str) -> list[str]:
    """Every name `resolve` accepts for `env_id`, besides paths."""
    return [*spec(env_id).baselines, "random"]


def expand(env_id: str, names: str) -> list[str]:
    """`all` means every baseline of the env; otherwise a comma-separated list."""
    if names.strip() == "all":
        return list(spec(env_id).baselines)
    return [n.strip() for n in names.split(",") if n.strip()]


def resolve(env_id: str, name: str) -> Policy:
    """The policy called `name` for `env_id`."""
    baselines = spec(env_id).baselines
    if name in baselines:
        return baselines[name]()
    if name == "random":
        env = gym.make(env_id, disable_env_checker=True)
        try:
            return RandomPolicy(env.action_space)
        finally:
            env.close()
    path = Path(name)
    if path.exists():
        kind = "run" if path.is_dir() else path.suffix
        if kind not in PATH_LOADERS:
            raise UnknownNameError("policy file kind", kind, list(PATH_LOADERS))
        module, function = PATH_LOADERS[kind].split(":")
        loaded: Policy = getattr(importlib.import_module(module), function)(path, env_id)
        return loaded
    raise UnknownNameError(f"policy for {env_id}", name, policy_names(env_id))
