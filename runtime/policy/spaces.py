"""Gymnasium spaces as `SpaceSpec` data, and the check that an artifact fits the env it is deployed on."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from sysgym.runtime.policy.program import ArtifactError, PolicyMetadata, SpaceSpec


def _bounds(values: np.ndarray) -> tuple[float, ...]:
    flat = np.asarray(values, dtype=np.float64).reshape(-1)
    if flat.size and np.all(flat == flat[0]):
        return (float(flat[0]),)
    return tuple(float(v) for v in flat)


def describe(space: gym.Space[Any]) -> SpaceSpec:
    """`space` as a `SpaceSpec`; refuses the kinds an exported MLP cannot take or produce."""
    if isinstance(space, gym.spaces.Box):
        return SpaceSpec("Box", tuple(space.shape), str(space.dtype), _bounds(space.low), _bounds(space.high))
    if isinstance(space, gym.spaces.Discrete):
        start = int(space.start)
        return SpaceSpec("Discrete", (), str(space.dtype), n=int(space.n), start=(start,) if start else ())
    if isinstance(space, gym.spaces.MultiDiscrete):
        starts = tuple(int(s) for s in np.asarray(space.start).reshape(-1))
        nvec = tuple(int(n) for n in np.asarray(space.nvec).reshape(-1))
        return SpaceSpec(
            "MultiDiscrete", tuple(space.shape), str(space.dtype), nvec=nvec, start=starts if any(starts) else ()
        )
    raise ArtifactError(f"cannot export a policy for a {type(space).__name__} space (Box, Discrete, MultiDiscrete)")


def identity_problems(metadata: PolicyMetadata, env_id: str, env_version: int) -> list[str]:
    """Differences of env name and version between the artifact and the deployment (kwargs cannot change these)."""
    problems = []
    if metadata.env_id.rsplit("-v", 1)[0] != env_id.rsplit("-v", 1)[0]:
        problems.append(f"env: artifact {metadata.env_id!r}, deployment {env_id!r}")
    if metadata.env_version != env_version:
        problems.append(f"env version: artifact v{metadata.env_version}, deployment v{env_version}")
    return problems


def refuse(metadata: PolicyMetadata, env_id: str, problems: list[str]) -> None:
    """Raise `ArtifactError` listing `problems`, if any."""
    if problems:
        raise ArtifactError(
            f"the policy (run {metadata.run_id!r}, {metadata.env_id}) does not fit {env_id}: " + "; ".join(problems)
        )


def check_fits(metadata: PolicyMetadata, env_id: str, env_version: int, env: gym.Env[Any, Any]) -> None:
    """Raise `ArtifactError` naming every difference between what the artifact was made for and `env`."""
    problems = identity_problems(metadata, env_id, env_version)
    for name, mine, space in (
        ("observation space", metadata.observation_space, env.observation_space),
        ("action space", metadata.action_space, env.action_space),
    ):
        try:
            theirs = describe(space)
        except ArtifactError as exc:
            problems.append(f"{name}: {exc}")
            continue
        problems += [f"{name} {diff} (artifact != env)" for diff in mine.differences(theirs)]
    refuse(metadata, env_id, problems)
