"""The storage baselines as `Policy` objects: a placement rule paired with a migration rule.

One policy works on all three HybridStorage ids: it reads `info["system"]` (a `StorageView`), makes the halves
of the decision the env asks for and encodes them for the env's mode. In the single-decision envs the other half
is the env's own `placement_policy` / `migration_policy` heuristic.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sysgym.agents.policy import Policy
from sysgym.envs.storage.core import MigrationRule, PlacementRule, StorageView
from sysgym.envs.storage.heuristics import make_migration, make_placement
from sysgym.envs.storage.learned import RnnHss


class StoragePolicy(Policy):
    """A placement rule plus a migration rule, acting wherever the env asks for a decision."""

    def __init__(
        self,
        name: str,
        placement: PlacementRule,
        migration: MigrationRule,
        overrides: Mapping[str, Any] | None = None,
    ) -> None:
        self.name = name
        self.placement = placement
        self.migration = migration
        self.env_overrides = dict(overrides or {})  # per-instance: read by the harness

    def reset(self, seed: int) -> None:
        """Reset both rules (they may learn online within an episode)."""
        self.placement.reset(seed)
        if self.migration is not self.placement:
            self.migration.reset(seed + 1)

    def act(self, obs: Any, info: dict[str, Any]) -> int:
        """The encoded action for this decision."""
        view: StorageView = info["system"]
        device = self.placement.place(view) if view.needs_placement else 0
        promote, evict = self.migration.migrate(view) if view.needs_migration else (0, 0)
        return view.encode(device, promote, evict)


def pair(placement: str, migration: str, name: str | None = None, **overrides: Any) -> StoragePolicy:
    """Any placement heuristic with any migration heuristic (names as in the env's `*_policy` kwargs)."""
    return StoragePolicy(
        name or f"{placement}+{migration}", make_placement(placement), make_migration(migration), overrides
    )


def rnn_hss() -> StoragePolicy:
    """RNN-HSS: one LSTM predictor drives both placement and migration."""
    model = RnnHss()
    return StoragePolicy("rnn-hss", model, model)


BASELINES: dict[str, Callable[[], Policy]] = {
    "slow-only": lambda: pair("slow", "none", "slow-only"),
    "fast-only": lambda: pair("fast", "none", "fast-only", unlimited_capacity=True, preexisting=0),
    "oracle": lambda: pair("oracle", "oracle", "oracle", candidate_order="next-use"),
    "cde": lambda: pair("cde", "lru-watermark", "cde"),
    "hps": lambda: pair("hps", "hps", "hps"),
    "archivist": lambda: pair("archivist", "lru-watermark", "archivist"),
    "rnn-hss": rnn_hss,
    "cde+promote-k1": lambda: pair("cde", "promote-k1"),
    "cde+promote-k2": lambda: pair("cde", "promote-k2"),
    "cde+heat-hysteresis": lambda: pair("cde", "heat-hysteresis"),
}

BOUNDS = ("slow-only", "fast-only", "oracle")
