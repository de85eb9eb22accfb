"""What the harness, the CLI and the tests need to know about an env beyond its Gymnasium registration."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sysgym.agents.policy import Policy


@dataclass(frozen=True)
class SysEnvSpec:
    """One registered env.

    Attributes:
        id: versioned Gymnasium id, `sysgym/<Name>-v<N>`.
        entry_point: `module:Class` of the env.
        backends: backend names the env accepts (`model` first, the default).
        workloads: built-in workload names (a trace file path is accepted where the env documents it).
        baselines: heuristic policies by name, as zero-argument factories.
        headline_metric: the metric the harness ranks policies by.
        lower_is_better: direction of the headline metric.
        latency_sample: key of `info["samples"]` plotted as a CDF, or None.
        quick_kwargs: env kwargs for `make run`'s quick mode (a few seconds per episode on two cores).
        max_episode_steps: Gymnasium TimeLimit, or None when the workload bounds the episode.
        paper_policy: the paper's own heuristic; where metrics report `simulated_s`, `sysgym bench` times one of
            its episodes at the default (paper) load for simulated seconds per wall second, since random actions
            drive serving envs into states no real scheduler visits.
    """

    id: str
    entry_point: str
    backends: tuple[str, ...]
    workloads: tuple[str, ...]
    baselines: Mapping[str, Callable[[], Policy]]
    headline_metric: str
    lower_is_better: bool = True
    latency_sample: str | None = None
    quick_kwargs: Mapping[str, Any] = field(default_factory=dict)
    max_episode_steps: int | None = None
    paper_policy: str | None = None

    @property
    def version(self) -> int:
        """The `N` of `-vN`."""
        return int(self.id.rsplit("-v", 1)[1])
