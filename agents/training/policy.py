"""A trained SB3 model as a harness `Policy`: `sysgym eval --policy runs/learned/<env>/<algo>`.

The adapter applies the run's saved VecNormalize observation statistics (frozen, as at the end of training), asks
the model for its deterministic action, passes the action mask to maskable models, and maps a masked-out action of
a non-masking model to the nearest valid one with the same rule the training wrapper used.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
from sb3_contrib import MaskablePPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecNormalize

from sysgym.agents.policy import Policy
from sysgym.agents.training.algos import algo as find_algo
from sysgym.agents.training.checkpoint import checkpoints
from sysgym.agents.training.config import TrainConfig
from sysgym.agents.training.envs import to_valid
from sysgym.envs.core.errors import SysgymError
from sysgym.envs.registry import spec


class SB3Policy(Policy):
    """Deterministic actions of an SB3 model under frozen observation normalisation."""

    def __init__(self, model: BaseAlgorithm, normalizer: VecNormalize | None, name: str) -> None:
        self.model = model
        self.normalizer = normalizer
        self.name = name
        self.masks = isinstance(model, MaskablePPO)

    def act(self, obs: Any, info: dict[str, Any]) -> Any:
        """The model's greedy action for `obs`, valid under `info["action_mask"]`."""
        if self.normalizer is not None and self.normalizer.norm_obs:
            obs = self.normalizer.normalize_obs(obs)
        mask = info.get("action_mask")
        if self.masks:
            action, _ = self.model.predict(obs, deterministic=True, action_masks=mask)  # type: ignore[call-arg]
        else:
            action, _ = self.model.predict(obs, deterministic=True)
        valid, _ = to_valid(self.model.action_space, action, mask)
        return valid.item() if isinstance(valid, np.ndarray) and valid.ndim == 0 else valid


def load_any(path: Path, env_id: str) -> Policy:
    """`PATH_LOADERS`' entry for run folders: a Harmonia two-agent folder (`harmonia.json`) or a `load` run."""
    if (path / "harmonia.json").exists():
        from sysgym.agents.training.harmonia import load as load_joint

        return load_joint(path, env_id)
    return load(path, env_id)


def load(path: Path, env_id: str) -> SB3Policy:
    """The policy of the run folder `path` (its final model, or its newest checkpoint while it still trains)."""
    config = TrainConfig.read(path / "config.json")
    if spec(config.env_id).id != spec(env_id).id:
        raise SysgymError(f"{path} was trained on {config.env_id}, not {env_id}")
    folder = path
    if not (path / "model.zip").exists():
        found = checkpoints(path / "checkpoints")
        if not found:
            raise SysgymError(f"{path} has neither model.zip nor a checkpoint yet")
        folder = found[-1]
    model = find_algo(config.algo).cls.load(folder / "model.zip", device="cpu")
    normalizer = None
    if (folder / "vecnormalize.pkl").exists():
        with (folder / "vecnormalize.pkl").open("rb") as handle:
            normalizer = pickle.load(handle)
        normalizer.training = False
    return SB3Policy(model, normalizer, f"{config.algo}")
