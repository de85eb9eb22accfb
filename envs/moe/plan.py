"""A token plan for one MoE layer and batch: which device computes how many of each expert's tokens.

Experts live on devices in contiguous blocks (expert e on device e // (N/P)), as in standard expert
parallelism. A plan keeps part of each expert's tokens on its native device and ships the rest, in slices, to
other devices (each slice needs that expert's weights there). Every plan computes every routed token exactly
once; `check_conserves` is the invariant the tests and the backend assert.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Plan:
    """Token counts per (expert, device) in sparse form.

    Attributes:
        keep: int64 [N], tokens each expert computes on its native device.
        spill_expert: int64 [S], expert of each off-native slice (each (expert, device) pair at most once).
        spill_device: int64 [S], device computing that slice (never the expert's native device).
        spill_tokens: int64 [S], tokens in that slice (> 0).
        touched: experts whose native share may differ from their load (None: unknown, compare arrays).
    """

    keep: np.ndarray
    spill_expert: np.ndarray
    spill_device: np.ndarray
    spill_tokens: np.ndarray
    touched: tuple[int, ...] | None = None

    @property
    def spills(self) -> int:
        """Number of off-native slices (each one a weight copy unless the weights are already resident)."""
        return int(self.spill_expert.size)

    def device_tokens(self, devices: int) -> np.ndarray:
        """Tokens each device computes."""
        native = self.keep.reshape(devices, -1).sum(axis=1)
        return native + np.bincount(self.spill_device, weights=self.spill_tokens, minlength=devices).astype(np.int64)

    def matrix(self, devices: int) -> np.ndarray:
        """Dense int64 [N, P] token matrix (for tests and the live backend, not the hot path)."""
        experts = self.keep.size
        dense = np.zeros((experts, devices), dtype=np.int64)
        dense[np.arange(experts), np.arange(experts) // (experts // devices)] = self.keep
        np.add.at(dense, (self.spill_expert, self.spill_device), self.spill_tokens)
        return dense


EMPTY = np.zeros(0, dtype=np.int64)
EMPTY.flags.writeable = False


def native_plan(loads: np.ndarray) -> Plan:
    """Standard EP: every expert computes all its tokens where it lives (shares `loads`, which plans never write)."""
    return Plan(loads, EMPTY, EMPTY, EMPTY, ())


def check_conserves(plan: Plan, loads: np.ndarray, devices: int) -> None:
    """Raise AssertionError unless `plan` computes each expert's tokens exactly once on valid devices."""
    experts = loads.size
    native = plan.spill_expert // (experts // devices)
    assert np.all(plan.keep >= 0), "negative native share"
    assert np.all(plan.spill_tokens > 0), "empty or negative slice"
    assert np.all(plan.spill_device != native), "a slice on its expert's native device"
    assert np.all((plan.spill_device >= 0) & (plan.spill_device < devices)), "slice on an unknown device"
    pairs = plan.spill_expert * devices + plan.spill_device
    assert np.unique(pairs).size == pairs.size, "an (expert, device) pair appears twice"
    total = plan.keep + np.bincount(plan.spill_expert, weights=plan.spill_tokens, minlength=experts)
    assert np.array_equal(total.astype(np.int64), loads.astype(np.int64)), "tokens not conserved"


def split_by_weights(loads: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Split each row's load over devices in proportion to integer weights, exactly (largest remainder).

    Args:
        loads: int64 [R], tokens of each row's expert.
        weights: int [R, P], non-negative, each row with a positive sum.

    Returns:
        int64 [R, P] whose rows sum to `loads`.
    """
    share = loads[:, None] * (weights / weights.sum(axis=1, keepdims=True))
    base = np.floor(share).astype(np.int64)
    short = loads - base.sum(axis=1)
    frac = share - base
    order = np.argsort(-frac, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(weights.shape[1])[None, :].repeat(len(loads), 0), axis=1)
    return base + (ranks < short[:, None]).astype(np.int64)
