"""The paper's and the project's heuristics, as `Policy` subclasses ranking the candidate window.

Each turns an order of the candidates into scores (first = 1, then evenly down to -1); the engine keeps the
highest-scored requests that fit. They read `info["system"]` (`PreemptionView`) and set the switching mechanism
they stand for through `env_overrides`, so every baseline runs on the same workload and priorities:

- `fcfs`: no preemption by priority: requests holding KV first, then by arrival (vLLM's default order).
- `vllm-swap`: the paper's baseline: the exogenous priority levels, vLLM 0.3.3's block-granular synchronous swaps.
- `vllm-recompute`: the same priorities, preempted requests recompute their KV.
- `vtc`: Virtual Token Counter (Sheng et al., OSDI 2024): running requests keep running; the rest are served in
  order of their user's counter (least served first), oldest first within a user; vLLM's swap mechanism.
- `fastswitch`: the same priorities as `vllm-swap`, FastSwitch's block groups, asynchronous swaps and reuse.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from sysgym.agents.policy import Policy
from sysgym.envs.serving.request import Request

RankKey = Callable[[Request, int, Any], tuple[float, ...]]


def scores_from_order(order: list[int], width: int) -> np.ndarray:
    """Scores for `width` action entries that rank candidate slots as `order` lists them (first = 1).

    Built as a Python list and converted once: numpy's per-element assignment costs more than the arithmetic.
    """
    scores = [-1.0] * width
    n = max(len(order), 1)
    for rank, slot in enumerate(order):
        scores[slot] = 1.0 - 2.0 * rank / n
    return np.array(scores, dtype=np.float32)


class _Ranking(Policy):
    """Base: sort the candidate slots by `key`, lowest first."""

    def key(self, req: Request, slot: int, view: Any) -> tuple[float, ...]:
        """Sort key of one candidate (lower runs first)."""
        raise NotImplementedError

    def act(self, obs: Any, info: dict[str, Any]) -> Any:
        """Scores for the window in `info["system"]`."""
        view = info["system"]
        slots = sorted(range(len(view.candidates)), key=lambda i: self.key(view.candidates[i], i, view))
        return scores_from_order(slots, view.action_width)


class Fcfs(_Ranking):
    """First come, first served, never preempting for order (only KV growth can evict, newest first)."""

    name = "fcfs"
    env_overrides: ClassVar[dict[str, Any]] = {"mechanism": "vllm"}

    def key(self, req: Request, slot: int, view: Any) -> tuple[float, ...]:
        """Holding KV first, then arrival."""
        return (0.0 if view.on_gpu[slot] else 1.0, req.arrival, float(req.rid))


class PriorityPolicy(_Ranking):
    """The exogenous priority levels, highest first; ties keep requests on the GPU, then the oldest."""

    name = "priority"

    def key(self, req: Request, slot: int, view: Any) -> tuple[float, ...]:
        """Level (descending), then on-GPU, then arrival."""
        return (-float(view.levels.get(req.rid, 0)), 0.0 if view.on_gpu[slot] else 1.0, req.arrival, float(req.rid))

    def act(self, obs: Any, info: dict[str, Any]) -> Any:
        """`_Ranking.act` with the keys built in one pass (the paper's policies rank at every decision)."""
        view = info["system"]
        levels = view.levels
        on_gpu = view.on_gpu
        keys = [
            (-float(levels.get(req.rid, 0)), 0.0 if on_gpu[slot] else 1.0, req.arrival, float(req.rid))
            for slot, req in enumerate(view.candidates)
        ]
        return scores_from_order(sorted(range(len(keys)), key=keys.__getitem__), view.action_width)


class VllmSwap(PriorityPolicy):
    """The paper's baseline: priorities with vLLM's block-granular synchronous swaps."""

    name = "vllm-swap"
    env_overrides: ClassVar[dict[str, Any]] = {"mechanism": "vllm"}


class VllmRecompute(PriorityPolicy):
    """Priorities with recomputation instead of swapping."""

    name = "vllm-recompute"
    env_overrides: ClassVar[dict[str, Any]] = {"mechanism": "vllm-recompute"}


class FastSwitch(PriorityPolicy):
    """Priorities with FastSwitch's block groups, asynchronous swaps and KV reuse."""

    name = "fastswitch"
    env_overrides: ClassVar[dict[str, Any]] = {"mechanism": "fastswitch"}


class Vtc(_Ranking):
    """Virtual Token Counter: running requests stay; others by their user's counter, least served first."""

    name = "vtc"
    env_overrides: ClassVar[dict[str, Any]] = {"mechanism": "vllm"}

    def key(self, req: Request, slot: int, view: Any) -> tuple[float, ...]:
        """On-GPU first (VTC does not preempt), then the user's counter, then arrival."""
        return (0.0 if view.on_gpu[slot] else 1.0, float(view.counters[req.user]), req.arrival, float(req.rid))


BASELINES: dict[str, Callable[[], Policy]] = {
    "fcfs": Fcfs,
    "vllm-swap": VllmSwap,
    "vllm-recompute": VllmRecompute,
    "vtc": Vtc,
    "fastswitch": FastSwitch,
}
