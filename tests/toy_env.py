"""A tiny masked queueing env (SB3-style test env) that exercises the harness without a real simulator.

Two queues; each step serve one non-empty queue; cost = items waiting. Masks forbid serving an empty queue.
The optimal policy (serve the longer queue) and the total cost of a fixed plan are hand-computable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from sysgym.agents.policy import Policy
from sysgym.envs.core.backend import Backend, Outcome
from sysgym.envs.core.config import require
from sysgym.envs.core.frontend import SysEnv
from sysgym.envs.core.spec import SysEnvSpec
from sysgym.envs.registry import register

TOY_ID = "sysgym-test/Toy-v0"


@dataclass(frozen=True)
class ToyConfig:
    """Attributes:
    workload: `fixed` (queues 3 and 1) or `random` (each 1-4 from the seed).
    """

    workload: str = "fixed"

    def __post_init__(self) -> None:
        require(self.workload in ("fixed", "random"), f"unknown workload {self.workload!r}")


class ToyBackend(Backend[np.ndarray, int]):
    def __init__(self) -> None:
        self.observation_space = gym.spaces.Box(0.0, 1.0, (2,), np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.queues = np.zeros(2, dtype=np.int64)

    def reset(self, rng: np.random.Generator, options: dict[str, Any]) -> None:
        self.queues = np.array([3, 1]) if self.workload == "fixed" else rng.integers(1, 5, size=2)
        self.served = 0

    def observation(self) -> np.ndarray:
        return (self.queues / 4.0).astype(np.float32)

    def action_mask(self) -> np.ndarray:
        return self.queues > 0

    def apply(self, action: int) -> Outcome:
        self.queues[action] -= 1
        self.served += 1
        waiting = float(self.queues.sum())
        return Outcome({"waiting": waiting}, terminated=waiting == 0)

    def system(self) -> Any:
        return self.queues.copy()

    def metrics(self) -> dict[str, float]:
        return {"served": float(self.served), "left": float(self.queues.sum())}


class ToyEnv(SysEnv[ToyConfig]):
    config_cls = ToyConfig

    def _make_backend(self, config: ToyConfig, backend: str) -> Backend[Any, Any]:
        toy = ToyBackend()
        toy.workload = config.workload  # type: ignore[attr-defined]
        return toy

    def _reward(self, signals: dict[str, float]) -> float:
        return -signals["waiting"]


class Longest(Policy):
    name = "longest"

    def act(self, obs: Any, info: dict[str, Any]) -> int:
        return int(np.argmax(info["system"]))


class Shortest(Policy):
    name = "shortest"

    def act(self, obs: Any, info: dict[str, Any]) -> int:
        queues = np.where(info["action_mask"], info["system"], 99)
        return int(np.argmin(queues))


def register_toy() -> None:
    register(
        SysEnvSpec(
            id=TOY_ID,
            entry_point="tests.toy_env:ToyEnv",
            backends=("model",),
            workloads=("fixed", "random"),
            baselines={"longest": Longest, "shortest": Shortest},
            headline_metric="episode_return",
            lower_is_better=False,
        )
    )
