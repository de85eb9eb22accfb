"""`sysgym export`: a trained model or run folder to one self-contained artifact (`.onnx` or `.npz`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecNormalize

import sysgym
from sysgym.agents.export.extract import program_from_model
from sysgym.agents.export.onnx_export import save_onnx
from sysgym.agents.export.run import read_run
from sysgym.envs.core.errors import UnknownNameError
from sysgym.envs.registry import spec
from sysgym.runtime.policy import ArtifactError, PolicyMetadata, PolicyProgram, save_npz
from sysgym.runtime.policy.spaces import describe

FORMATS = {"onnx": ".onnx", "numpy": ".npz"}
"""`--format` name -> the artifact's suffix (the suffix is how `sysgym eval --policy FILE` recognises it)."""


def program_of(
    model: BaseAlgorithm,
    stats: VecNormalize | None,
    env_id: str,
    algorithm: str,
    run_id: str,
    provenance: dict[str, str] | None = None,
    env_kwargs: dict[str, Any] | None = None,
) -> PolicyProgram:
    """The `PolicyProgram` of `model` for `env_id` built with `env_kwargs`, the model's spaces checked against it."""
    env_spec = spec(env_id)
    env = gym.make(env_spec.id, disable_env_checker=True, **(env_kwargs or {}))
    try:
        observation, action = describe(env.observation_space), describe(env.action_space)
    finally:
        env.close()
    if describe(model.observation_space) != observation or describe(model.action_space) != action:
        raise ArtifactError(
            f"the model acts on {model.observation_space} -> {model.action_space}, "
            f"but {env_spec.id} has {env.observation_space} -> {env.action_space}"
        )
    metadata = PolicyMetadata(
        env_id=env_spec.id,
        env_version=env_spec.version,
        observation_space=observation,
        action_space=action,
        sysgym_version=sysgym.__version__,
        run_id=run_id,
        algorithm=algorithm,
        masked=action.kind != "Box",
        extra=dict(provenance or {}),
    )
    return program_from_model(model, stats, metadata)


def save(program: PolicyProgram, fmt: str, out: Path) -> Path:
    """Write `program` in format `fmt` (`onnx` or `numpy`) to `out`, adding the format's suffix when missing."""
    if fmt not in FORMATS:
        raise UnknownNameError("export format", fmt, list(FORMATS))
    path = out if out.suffix == FORMATS[fmt] else out.with_suffix(out.suffix + FORMATS[fmt])
    if fmt == "onnx":
        save_onnx(program, path)
    else:
        save_npz(program, path)
    return path


def export_run(run_dir: Path, fmt: str, out: Path) -> Path:
    """Export the run folder `run_dir` as one artifact; returns the artifact's path."""
    if fmt not in FORMATS:
        raise UnknownNameError("export format", fmt, list(FORMATS))
    run = read_run(run_dir)
    program = program_of(run.model, run.stats, run.env_id, run.algorithm, run.run_id, run.provenance, run.env_kwargs)
    return save(program, fmt, out)
