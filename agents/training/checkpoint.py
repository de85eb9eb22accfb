"""Checkpoints that resume a run exactly: model, replay buffer, the vector env itself, and every RNG state.

A checkpoint is a folder `step-<timesteps>` written under a temporary name and renamed when complete, so a run
killed while saving leaves the previous checkpoint intact. Because it holds the pickled envs (mid-episode state
included), VecNormalize's statistics and running returns, the pending logger values and the states of Python's,
NumPy's, PyTorch's and the action space's generators, a resumed run produces the same curve as an uninterrupted one.
"""

from __future__ import annotations

import pickle
import random
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cloudpickle
import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.vec_env import VecNormalize

from sysgym.agents.training.algos import Algo
from sysgym.envs.core.errors import SysgymError

PREFIX = "step-"


@dataclass
class Restored:
    """A model loaded from a checkpoint, with its env and the bookkeeping the run keeps across restarts.

    Attributes:
        model: the algorithm, attached to `env`, ready for `learn(..., reset_num_timesteps=False)`.
        env: the vector env exactly as it was.
        extra: what the trainer stored with the checkpoint (accumulated wall time, ...).
    """

    model: BaseAlgorithm
    env: VecNormalize
    extra: dict[str, Any]


def _rng_state(model: BaseAlgorithm) -> dict[str, Any]:
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),
        "torch": torch.get_rng_state(),
        "action_space": model.action_space.np_random.bit_generator.state,
    }


def _set_rng_state(model: BaseAlgorithm, state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    model.action_space.np_random.bit_generator.state = state["action_space"]


def save(model: BaseAlgorithm, env: VecNormalize, folder: Path, extra: dict[str, Any], keep: int = 2) -> Path:
    """Write a checkpoint of `model` and `env` into `folder/step-N`, keeping the newest `keep` checkpoints."""
    final = folder / f"{PREFIX}{model.num_timesteps:012d}"
    tmp = folder / f".tmp-{model.num_timesteps:012d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.save(tmp / "model.zip")
    if isinstance(model, OffPolicyAlgorithm):
        model.save_replay_buffer(tmp / "replay_buffer.pkl")
    env.save(str(tmp / "vecnormalize.pkl"))
    logger = model.logger
    state = {
        "rng": _rng_state(model),
        "returns": env.returns,
        "logger": (dict(logger.name_to_value), dict(logger.name_to_count), dict(logger.name_to_excluded)),
        "extra": extra,
    }
    with (tmp / "envs.pkl").open("wb") as handle:
        cloudpickle.dump(env.venv, handle)
    with (tmp / "state.pkl").open("wb") as handle:
        pickle.dump(state, handle)
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    for old in checkpoints(folder)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def checkpoints(folder: Path) -> list[Path]:
    """Complete checkpoints in `folder`, oldest first."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_dir() and p.name.startswith(PREFIX))


def restore(folder: Path, algo: Algo) -> Restored:
    """Load the newest checkpoint in `folder` (pending logger values are put back by `restore_logger`)."""
    found = checkpoints(folder)
    if not found:
        raise SysgymError(f"no checkpoint in {folder}; the run was killed before its first checkpoint")
    latest = found[-1]
    with (latest / "envs.pkl").open("rb") as handle:
        venv = cloudpickle.load(handle)
    with (latest / "state.pkl").open("rb") as handle:
        state = pickle.load(handle)
    env = VecNormalize.load(str(latest / "vecnormalize.pkl"), venv)
    env.returns = state["returns"]
    model = algo.cls.load(latest / "model.zip", env=env, device="cpu", force_reset=False)
    if isinstance(model, OffPolicyAlgorithm):
        model.load_replay_buffer(latest / "replay_buffer.pkl")
    _set_rng_state(model, state["rng"])
    extra = dict(state["extra"])
    extra["logger"] = state["logger"]
    return Restored(model, env, extra)


def restore_logger(model: BaseAlgorithm, saved: tuple[dict[str, Any], dict[str, Any], dict[str, Any]]) -> None:
    """Put back the values recorded but not yet written when the checkpoint was taken."""
    values, counts, excluded = saved
    model.logger.name_to_value.update(values)
    model.logger.name_to_count.update(counts)
    model.logger.name_to_excluded.update(excluded)
