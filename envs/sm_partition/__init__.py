"""Placeholder until the family lands; its SPECS list its envs."""

from sysgym.envs.core.spec import SysEnvSpec

SPECS: tuple[SysEnvSpec, ...] = ()
