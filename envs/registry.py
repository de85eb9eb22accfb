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
        for entry in importlib.import_module(f"sysgym.envs.{family}").SPECS:
            register(entry)


def register(entry: SysEnvSpec) -> None:
    """Register one spec with Gymnasium and the harness (a second registration of the same id is ignored)."""
    if entry.id in _SPECS:
        return
    _SPECS[entry.id] = entry
    gym.register(id=entry.id, entry_point=entry.entry_point, max_episode_steps=entry.max_episode_steps)


def specs() -> list[SysEnvSpec]:
    """All registered sysgym specs, in registration order."""
    return list(_SPECS.values())


def spec(env_id: str) -> SysEnvSpec:
    """The spec of `env_id` (the `module:` prefix form is accepted)."""
    key = env_id.split(":", 1)[1] if ":" in env_id else env_id
    if key not in _SPECS:
        raise UnknownNameError("env id", env_id, list(_SPECS))
    return _SPECS[key]
