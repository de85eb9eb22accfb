"""The oracle's search: the lowest-cost plan action for one batch, certified against a lower bound.

Method (a local search, near-exact with a per-batch certificate, not exact): the oracle places the H hottest
experts explicitly and keeps the rest native (`plan_rest="native"`), so nothing is left to LLEP's completion.
It starts from LLEP's split of those H experts rounded to plan weights, then descends: for each of them with
tokens on the slowest device, move one unit of its split weight from there to another device, or shrink its
share there, taking the best move while it lowers the modelled step time plus the out-of-memory penalty.
Moves are priced incrementally (one row changes) and in bulk with numpy; the memory of a candidate is bounded
from above (the largest slice per device never shrinks during the search), so a move is never accepted
because of an underestimate. The final plan is priced exactly and
never returned when it is worse than LLEP (the empty action). `LayerModel.lower_bound_ms` certifies how far
from optimal it can be; the tests bound that gap.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sysgym.envs.moe.llep import llep_plan
from sysgym.envs.moe.plan import split_by_weights

MAX_ROUNDS = 80


def llep_weights(loads: np.ndarray, movable: np.ndarray, devices: int, levels: int) -> np.ndarray:
    """Weights for every expert (rows by id): LLEP's split for the `movable` ones (rounded), native for the rest."""
    split = llep_plan(loads, devices).matrix(devices).astype(np.float64)
    native = np.zeros_like(split)
    native[np.arange(loads.size), np.arange(loads.size) // (loads.size // devices)] = 1.0
    split = np.where(movable[:, None], split, native)
    peak = split.max(axis=1, keepdims=True)
    return np.rint(levels * split / np.maximum(peak, 1.0)).astype(np.int64)


class _State:
    """Per-device sums of a full plan, updated one row at a time."""

    def __init__(self, system: Any, weights: np.ndarray) -> None:
        model = system.layer_model
        self.curve, self.mem, self.fabric = model.curve, model.memory, model.fabric
        self.devices = system.devices
        self.loads = system.loads
        self.native = np.arange(self.loads.size) // system.per_device
        self.copy_ms = self.mem.expert_bytes / self.fabric.bytes_per_ms
        self.penalty = system.penalty_ms
        self.per_device = system.per_device
        self.total = float(self.loads.sum())
        self.token_bytes = model.token_bytes
        self.set(weights)

    def set(self, weights: np.ndarray) -> None:
        self.weights = weights
        self.split = split_by_weights(self.loads, np.where(weights.sum(axis=1, keepdims=True) > 0, weights, 1))
        self.times = self.curve.slice_ms(self.split)
        off = (self.split > 0) & (np.arange(self.devices)[None, :] != self.native[:, None])
        self.off = off
        self.compute = self.times.sum(axis=0)
        self.tokens = self.split.sum(axis=0)
        self.received = off.sum(axis=0)
        self.sent = np.bincount(self.native, weights=off.sum(axis=1), minlength=self.devices)
        self.largest = self.split.max(axis=0)

    def objective(
        self, compute: np.ndarray, tokens: np.ndarray, received: np.ndarray, sent: np.ndarray, largest: np.ndarray
    ) -> np.ndarray:
        """Objective of K candidate states given as [K, P] arrays."""
        p = self.devices
        busiest = np.maximum(tokens.max(axis=1) * ((p - 1) / p), (self.total - tokens).max(axis=1) / p)
        a2a = 2.0 * (busiest * self.token_bytes / self.fabric.bytes_per_ms + self.fabric.collective_ms)
        device = compute + np.maximum(received, sent) * self.copy_ms
        memory = (self.per_device + received) * self.mem.expert_bytes + tokens * self.mem.pair_bytes
        memory = memory + largest * self.mem.slice_bytes
        oom = (memory > self.mem.capacity_bytes).sum(axis=1)
        return a2a + device.max(axis=1) + self.penalty * oom

    def current(self) -> float:
        return float(
            self.objective(
                self.compute[None], self.tokens[None], self.received[None], self.sent[None], self.largest[None]
            )[0]
        )

    def candidates(self, row: int, slow: int, levels: int) -> tuple[np.ndarray, np.ndarray]:
        """Neighbour weight rows of `row` and their objectives."""
        w = self.weights[row]
        moves = []
        for d in range(self.devices):
            if d != slow and w[d] < levels:
                m = w.copy()
                m[slow] -= 1
                m[d] += 1
                moves.append(m)
        if w.sum() > 1:
            m = w.copy()
            m[slow] -= 1
            moves.append(m)
        if not moves:
            return np.zeros((0, self.devices), dtype=np.int64), np.zeros(0)
        rows = np.array(moves)
        splits = split_by_weights(np.full(len(rows), self.loads[row]), rows)
        times = self.curve.slice_ms(splits)
        off = (splits > 0) & (np.arange(self.devices)[None, :] != self.native[row])
        compute = self.compute - self.times[row] + times
        tokens = self.tokens - self.split[row] + splits
        received = self.received - self.off[row] + off
        sent = np.repeat(self.sent[None, :], len(rows), axis=0)
        sent[:, self.native[row]] += off.sum(axis=1) - self.off[row].sum()
        largest = np.maximum(self.largest, splits)
        return rows, self.objective(compute, tokens, received, sent, largest)


def search(system: Any, rows: int, levels: int) -> np.ndarray:
    """The best plan action found for the current batch (flattened [rows * P], rows hottest first).

    The env must keep unlisted experts native (`plan_rest="native"`) or list every expert.
    """
    devices = system.devices
    order = system.order
    empty = np.zeros((rows, devices), dtype=np.int64)
    movable = np.zeros(system.loads.size, dtype=bool)
    movable[order[:rows]] = True
    state = _State(system, llep_weights(system.loads, movable, devices, levels))
    value = state.current()
    for _ in range(MAX_ROUNDS):
        device = state.compute + np.maximum(state.received, state.sent) * state.copy_ms
        slow = int(np.argmax(device))
        best_value, best_row, best_weights = value, -1, None
        for r in np.flatnonzero((state.weights[:, slow] > 0) & movable).tolist():
            cands, values = state.candidates(r, slow, levels)
            if len(values) and float(values.min()) < best_value - 1e-9:
                i = int(np.argmin(values))
                best_value, best_row, best_weights = float(values[i]), r, cands[i]
        if best_weights is None:
            break
        weights = state.weights.copy()
        weights[best_row] = best_weights
        state.set(weights)
        value = state.current()
    action = state.weights[order[:rows]]
    chosen = system.objective(system.evaluate(action.ravel()))
    fallback = system.objective(system.evaluate(empty.ravel()))
    return (action if chosen <= fallback else empty).ravel()
