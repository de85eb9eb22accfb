"""The two action forms of ExpertReroute and how each becomes a token plan."""

from __future__ import annotations

import math

import numpy as np

from sysgym.envs.moe.llep import Knobs, plan_with_rows
from sysgym.envs.moe.plan import Plan

LAMBDAS: tuple[float, ...] = (1.0, 1.1, 1.3, 1.6, 2.0, 3.0, math.inf)
"""Gate thresholds; `inf` never reroutes (standard EP)."""
ALPHAS: tuple[float, ...] = (1.0, 1.05, 1.1, 1.2, 1.35, 1.5)
CHUNKS: tuple[int, ...] = (128, 256, 512, 1024, 2048, 4096, 8192)
KNOB_COUNT = len(LAMBDAS) * len(ALPHAS) * len(CHUNKS)
KNOBS: tuple[Knobs, ...] = tuple(Knobs(lam, alpha, m) for lam in LAMBDAS for alpha in ALPHAS for m in CHUNKS)
"""The LLEP parameters of each knobs action (lambda-major, then alpha, then m)."""


def knob_action(lam: float, alpha: float, min_chunk: int) -> int:
    """The Discrete knobs action for these values (each must be in its grid)."""
    return (LAMBDAS.index(lam) * len(ALPHAS) + ALPHAS.index(alpha)) * len(CHUNKS) + CHUNKS.index(min_chunk)


LLEP_DEFAULT = knob_action(1.3, 1.0, 1024)
"""The paper's defaults lambda 1.3, alpha 1, m 1024 as a knobs action."""
EP_ACTION = knob_action(math.inf, 1.0, 1024)
"""Standard EP as a knobs action."""


def knobs_of(action: int) -> Knobs:
    """The LLEP parameters a knobs action picks (lambda-major, then alpha, then m)."""
    return KNOBS[int(action)]


def plan_of_rows(action: np.ndarray, loads: np.ndarray, order: np.ndarray, devices: int, rest: str = "llep") -> Plan:
    """A plan action: row h splits the h-th hottest expert by its weights; empty rows and the rest follow `rest`."""
    weights = np.asarray(action, dtype=np.int64).reshape(-1, devices)
    return plan_with_rows(loads, devices, order[: len(weights)], weights, rest=rest)
