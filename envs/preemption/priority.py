"""Exogenous priority patterns (FastSwitch's evaluation, after Yin et al. 2024): Random and Markov.

Each scheduling iteration an update event happens with probability `update_freq` (the paper uses 0.04 for an
8B model and 0.02 for a 32B one; the project reads the frequency as that per-iteration probability). At an
event every live request's priority level changes:

- `random`: redrawn uniformly over the levels;
- `markov`: moves one level up or down with probability `markov_move` each (reflecting at the ends), else stays.

New requests draw a uniform level. Higher level = more important. The priority-based baselines (`vllm-swap`,
`vllm-recompute`, `fastswitch`) rank by these levels, as the paper runs every system with the same priority
policy; the agent sees them as a feature and may follow or override them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from sysgym.envs.core.config import require

Pattern = Literal["random", "markov"]


@dataclass(frozen=True)
class PrioritySpec:
    """Priority pattern settings.

    Attributes:
        pattern: `random` or `markov`.
        levels: number of priority levels.
        update_freq: per-iteration probability of an update event.
        markov_move: per-event probability of moving up (and, separately, down) one level under `markov`.
    """

    pattern: Pattern = "random"
    levels: int = 8
    update_freq: float = 0.04
    markov_move: float = 0.3

    def __post_init__(self) -> None:
        require(self.pattern in ("random", "markov"), f"pattern must be random or markov, got {self.pattern!r}")
        require(self.levels >= 2, f"levels must be >= 2, got {self.levels}")
        require(0 <= self.update_freq <= 1, f"update_freq must be in [0, 1], got {self.update_freq}")
        require(0 <= self.markov_move <= 0.5, f"markov_move must be in [0, 0.5], got {self.markov_move}")


class PriorityProcess:
    """Draws update events and new levels from the episode's generator.

    Drawing the gap to the next event (geometric) instead of a coin per iteration gives the same process with
    one random draw per event, which keeps uncontended iterations cheap.
    """

    def __init__(self, spec: PrioritySpec, rng: np.random.Generator) -> None:
        self.spec = spec
        self._rng = rng

    def initial(self) -> int:
        """Level of a newly arrived request (uniform: the floor of a uniform draw times the levels)."""
        return int(self._rng.random() * self.spec.levels)

    def gap(self) -> int:
        """Iterations until the next update event (geometric with the update frequency)."""
        if self.spec.update_freq <= 0:
            return 1 << 62
        return int(self._rng.geometric(self.spec.update_freq))

    def update(self, levels: list[int]) -> list[int]:
        """The live requests' levels after one update event (`levels` in any fixed order; same order back)."""
        n = len(levels)
        if n == 0:
            return []
        spec = self.spec
        if spec.pattern == "random":
            # uniform levels as floor(u * levels): `Generator.integers` costs ten times more per call on these
            # short arrays, and an update event happens every 25 iterations; `int` truncates as `astype` would,
            # and a list comprehension beats three more numpy calls on a few dozen values
            top = spec.levels
            return [int(u * top) for u in self._rng.random(n).tolist()]
        now = np.asarray(levels, dtype=np.int64)
        u = self._rng.random(n)
        step = np.where(u < spec.markov_move, 1, np.where(u < 2 * spec.markov_move, -1, 0))
        moved = now + step
        return np.where((moved < 0) | (moved >= spec.levels), now - step, moved).tolist()
