"""Heuristic baselines of ExpertReroute: standard EP, DeepSeek EPLB, LLEP with the paper's defaults, an oracle."""

from __future__ import annotations

from collections import deque
from typing import Any, ClassVar

import numpy as np

from sysgym.agents.policy import Policy
from sysgym.envs.moe import oracle
from sysgym.envs.moe.actions import EP_ACTION, LLEP_DEFAULT
from sysgym.envs.moe.eplb import replicate

ROWS = 16
"""Plan rows (hottest experts) EPLB and the oracle place explicitly; every other expert stays native."""


class EPPolicy(Policy):
    """Standard expert parallelism: every token to its expert's native device (LLEP's gate never opens)."""

    name = "ep"
    env_overrides: ClassVar[dict[str, Any]] = {"action": "knobs"}

    def act(self, obs: Any, info: dict[str, Any]) -> int:
        """Always the EP knobs."""
        return EP_ACTION


class LLEPPolicy(Policy):
    """LLEP with the paper's defaults (lambda 1.3, alpha 1, m 1024)."""

    name = "llep"
    env_overrides: ClassVar[dict[str, Any]] = {"action": "knobs"}

    def act(self, obs: Any, info: dict[str, Any]) -> int:
        """Always the default knobs."""
        return LLEP_DEFAULT


class EPLBPolicy(Policy):
    """DeepSeek EPLB: redundant replicas from delayed load statistics, rerun periodically; even split.

    It places the batch's 16 hottest experts over their copies; the others stay native (a replicated expert
    outside the current 16 hottest carries little load, so its replica is left idle).

    Args:
        delay: batches between the statistics and their use (EPLB never sees the current batch).
        period: batches between reruns.
        window: batches of statistics each rerun sums.
        slots: redundant replicas per device (the memory budget).
    """

    name = "eplb"

    def __init__(self, delay: int = 2, period: int = 8, window: int = 16, slots: int = 2) -> None:
        self.delay, self.period, self.window, self.slots = delay, period, window, slots
        self.env_overrides = {"action": "plan", "plan_experts": ROWS, "plan_rest": "native", "replica_slots": slots}
        self._seen: dict[int, deque[tuple[int, np.ndarray]]] = {}
        self._weights: dict[int, np.ndarray] = {}

    def reset(self, seed: int) -> None:
        """Forget statistics and placements."""
        self._seen = {}
        self._weights = {}

    def act(self, obs: Any, info: dict[str, Any]) -> np.ndarray:
        """Even split of each expert over its copies under the current placement."""
        system = info["system"]
        layer, batch = system.layer, system.batch
        seen = self._seen.setdefault(layer, deque(maxlen=self.window + self.delay))
        if layer not in self._weights or batch % self.period == 0:
            self._weights[layer] = self._placement(seen, system)
        seen.append((batch, system.loads.copy()))
        return self._weights[layer][system.order[:ROWS]].ravel()

    def _placement(self, seen: deque[tuple[int, np.ndarray]], system: Any) -> np.ndarray:
        experts, devices = system.model.experts, system.devices
        weights = np.zeros((experts, devices), dtype=np.int64)
        weights[np.arange(experts), np.arange(experts) // system.per_device] = 1
        usable = [loads for batch, loads in seen if batch <= system.batch - self.delay]
        if usable:
            stats = np.sum(usable[-self.window :], axis=0)
            for e, d in replicate(stats, devices, self.slots):
                weights[e, d] = 1
        return weights


class OraclePolicy(Policy):
    """The lowest-cost plan for each batch under the memory limit, found by `oracle.search` (see there)."""

    name = "oracle"
    env_overrides: ClassVar[dict[str, Any]] = {"action": "plan", "plan_experts": ROWS, "plan_rest": "native"}

    def act(self, obs: Any, info: dict[str, Any]) -> np.ndarray:
        """Search the plan actions of this batch."""
        system = info["system"]
        return oracle.search(system, system.config.rows, system.config.plan_levels)


BASELINES = {"ep": EPPolicy, "eplb": EPLBPolicy, "llep": LLEPPolicy, "oracle": OraclePolicy}
