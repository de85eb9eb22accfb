"""Hybrid-storage data placement and migration (Harmonia; Sibyl as predecessor): three ids and a PettingZoo env."""

from __future__ import annotations

from sysgym.envs.core.spec import SysEnvSpec
from sysgym.envs.storage.baselines import BASELINES
from sysgym.envs.storage.workloads import SCENARIOS

QUICK = {"max_requests": 4_000}


def _spec(name: str, cls: str) -> SysEnvSpec:
    return SysEnvSpec(
        id=f"sysgym/{name}-v0",
        entry_point=f"sysgym.envs.storage.env:{cls}",
        backends=("model", "live"),
        workloads=tuple(SCENARIOS),
        baselines=BASELINES,
        headline_metric="mean_latency_us",
        lower_is_better=True,
        latency_sample="latency_us",
        quick_kwargs=QUICK,
    )


SPECS: tuple[SysEnvSpec, ...] = (
    _spec("HybridStorage", "HybridStorageEnv"),
    _spec("HybridStorage-Placement", "HybridStoragePlacementEnv"),
    _spec("HybridStorage-Migration", "HybridStorageMigrationEnv"),
)


def parallel_env(**kwargs: object) -> object:
    """The two-agent PettingZoo ParallelEnv (placement, migration) over one backend; kwargs as the envs take."""
    from sysgym.envs.storage.parallel import HybridStorageParallelEnv

    return HybridStorageParallelEnv(**kwargs)
