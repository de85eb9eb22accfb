"""The one policy protocol shared by heuristics, SB3 models and exported artifacts.

Learned policies read only `obs` (plus `info["action_mask"]`); heuristics may also read `info["system"]`, the
structured state each env documents. A policy may require env settings (e.g. runtime partitioning for `uwfq-p`):
it declares them in `env_overrides` and the harness applies them, so the comparison stays on one workload.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np


class Policy(ABC):
    """A decision-maker the harness can run.

    Attributes:
        name: how results tables call it.
        env_overrides: env kwargs this policy needs; the harness merges them into every episode's kwargs.
    """

    name: str = "policy"
    env_overrides: ClassVar[Mapping[str, Any]] = {}

    def reset(self, seed: int) -> None:  # noqa: B027 - stateless policies need no reset
        """Forget per-episode state; called before every episode with the episode's seed."""

    @abstractmethod
    def act(self, obs: Any, info: dict[str, Any]) -> Any:
        """Choose the action for the decision described by `obs` and `info`."""


def masked_argmax(scores: Any, mask: Any) -> int:
    """Index of the highest score among valid actions; the first one wins ties, so heuristics are deterministic."""
    values = np.where(mask, scores, -np.inf) if mask is not None else np.asarray(scores)
    return int(np.argmax(values))
