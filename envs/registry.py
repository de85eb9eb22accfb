"""Every env family registers its specs here, on `import sysgym`.

Each family package (`envs/<decision>/`) exposes `SPECS: tuple[SysEnvSpec, ...]`; this module registers them
with Gymnasium and keeps the extra metadata (baselines, headline metric, quick settings) for the harness.
"""

from __future__ import annotations

import importlib

import gymnasium as gym

from sysgym.envs.core.errors import UnknownNameError
from sysgym.envs.core.spec import SysEnvSpec

FAMILIES = ("spark", "storage", "sm_partition", "preemption", "moe")

_SPECS: dict[str, SysEnvSpec] = {}


def register_all() -> None:
    """Register every family's envs with Gymnasium (idempotent)."""
    for family in FAMILIES:
        module = importlib.import_module(f"sysgym.envs.{family}")
        for spec in module.SPECS:
            if spec.id in _SPECS:
                continue
            _SPECS[spec.id] = spec
            gym.register(id=spec.id, entry_point=spec.entry_point, max_episode_steps=spec.max_episode_steps)


def specs() -> list[SysEnvSpec]:
    """All registered sysgym specs, in registration order."""
    return list(_SPECS.values())


def spec(env_id: str) -> SysEnvSpec:
    """The spec of `env_id` (the `module:` prefix form is accepted)."""
    key = env_id.split(":", 1)[1] if ":" in env_id else env_id
    if key not in _SPECS:
        raise UnknownNameError("env id", env_id, list(_SPECS))
    return _SPECS[key]
