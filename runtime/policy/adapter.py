"""An exported artifact as a harness `Policy`: `sysgym eval --policy FILE.onnx|FILE.npz`, and `sysgym deploy`.

Loading checks the env id and version (env kwargs cannot change them); the first decision of every episode checks
the observation's shape and the mask's length, since `--env-kwargs` can change the spaces. `sysgym deploy`
checks both spaces up front (it knows the kwargs). A mismatch is refused with every difference named, so a policy
never silently acts on observations it was not trained for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from sysgym.agents.policy import Policy
from sysgym.envs.registry import spec
from sysgym.runtime.policy import NumpyPolicy, OnnxPolicy, load
from sysgym.runtime.policy.spaces import check_fits, identity_problems, refuse


class ArtifactPolicy(Policy):
    """Deterministic actions of an exported artifact; reads only `obs` and `info["action_mask"]`.

    Attributes:
        runtime: the numpy or onnxruntime executor.
        path: the artifact file.
    """

    def __init__(self, runtime: NumpyPolicy | OnnxPolicy, path: Path, env_id: str) -> None:
        self.runtime = runtime
        self.path = path
        self.name = path.stem
        self.env_id = env_id
        self._checked = False

    def reset(self, seed: int) -> None:
        """Check the next observation again (the next episode may use other env kwargs)."""
        self._checked = False

    def act(self, obs: Any, info: dict[str, Any]) -> Any:
        """The artifact's action for `obs` under the current mask."""
        mask = info.get("action_mask")
        if not self._checked:
            self._check(obs, mask)
        return self.runtime.act(obs, mask)

    def _check(self, obs: Any, mask: Any) -> None:
        meta = self.runtime.metadata
        problems = []
        if tuple(np.shape(obs)) != meta.observation_space.shape:
            problems.append(f"observation shape: artifact {meta.observation_space.shape}, env {np.shape(obs)}")
        width = meta.action_space.n if meta.action_space.kind == "Discrete" else sum(meta.action_space.nvec)
        if mask is not None and (meta.action_space.kind == "Box" or len(mask) != width):
            problems.append(f"action mask length: artifact {width}, env {len(mask)}")
        refuse(meta, self.env_id, problems)
        self._checked = True


def check_env(runtime: NumpyPolicy | OnnxPolicy, env_id: str, env_kwargs: dict[str, Any] | None = None) -> None:
    """Raise `ArtifactError` unless the artifact fits `env_id` built with `env_kwargs`."""
    env_spec = spec(env_id)
    env = gym.make(env_spec.id, disable_env_checker=True, **(env_kwargs or {}))
    try:
        check_fits(runtime.metadata, env_spec.id, env_spec.version, env.unwrapped)
    finally:
        env.close()


def load_policy(path: Path, env_id: str) -> ArtifactPolicy:
    """`PATH_LOADERS` entry for `.onnx` and `.npz`: the artifact at `path`, checked against `env_id`."""
    runtime = load(path)
    env_spec = spec(env_id)
    refuse(runtime.metadata, env_spec.id, identity_problems(runtime.metadata, env_spec.id, env_spec.version))
    return ArtifactPolicy(runtime, Path(path), env_spec.id)
