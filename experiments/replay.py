"""Re-run recorded episodes action by action and check that they reproduce their metrics."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from sysgym.agents.policy import Policy
from sysgym.envs.core.errors import ReplayMismatchError
from sysgym.envs.registry import spec
from sysgym.experiments.harness import run_episode
from sysgym.experiments.records import EpisodeRecord

LIVE_RELATIVE_TOLERANCE = 0.25
"""Live systems are not deterministic; a live replay matches when every metric is within this relative error."""


class _Recorded(Policy):
    """Feeds a record's actions back in order."""

    def __init__(self, record: EpisodeRecord) -> None:
        self.name = record.policy
        self._actions = iter(record.actions)

    def act(self, obs: Any, info: dict[str, Any]) -> Any:
        """The next recorded action; running out means the env diverged from the record."""
        try:
            return next(self._actions)
        except StopIteration:
            raise ReplayMismatchError("the env asked for more decisions than the record holds") from None


@dataclass
class ReplayResult:
    """How one replayed episode compares with its record."""

    record: EpisodeRecord
    replayed: dict[str, float]
    mismatches: dict[str, tuple[float, float]]

    @property
    def matches(self) -> bool:
        """True when every recorded metric was reproduced."""
        return not self.mismatches


def replay(record: EpisodeRecord) -> ReplayResult:
    """Replay `record`: exact equality on the model backend, `LIVE_RELATIVE_TOLERANCE` on live backends."""
    current = spec(record.env_id)
    if current.version != record.version:
        raise ReplayMismatchError(
            f"record is for {record.env_id} v{record.version} but v{current.version} is installed"
        )
    policy = _Recorded(record)
    again = run_episode(record.env_id, policy, record.seed, dict(record.env_kwargs), act=policy.act)
    if len(again.actions) != len(record.actions):
        raise ReplayMismatchError(f"replay used {len(again.actions)} of {len(record.actions)} recorded actions")
    exact = record.backend == "model"
    mismatches = {
        name: (value, again.metrics.get(name, math.nan))
        for name, value in record.metrics.items()
        if not _same(value, again.metrics.get(name, math.nan), exact)
    }
    return ReplayResult(record, again.metrics, mismatches)


def _same(recorded: float, replayed: float, exact: bool) -> bool:
    if math.isnan(recorded) and math.isnan(replayed):
        return True
    if exact:
        return recorded == replayed
    return math.isclose(recorded, replayed, rel_tol=LIVE_RELATIVE_TOLERANCE, abs_tol=1e-9)
