"""Least-Loaded Expert Parallelism (paper Algs. 2-4): gate, LPT assignment with capacity, least-loaded spills.

The paper loops over every expert in LPT order. An expert whose native device is within capacity stays there and
changes no state (the device's assigned-plus-pending load is unchanged), so only experts of overloaded devices
need visiting. This implementation walks those alone, in the same global LPT order, which gives the paper's plan
exactly while costing a few Python iterations per batch instead of N.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sysgym.envs.moe.plan import EMPTY, Plan, native_plan, split_by_weights


@dataclass(frozen=True)
class Knobs:
    """LLEP's parameters.

    Attributes:
        lam: imbalance gate; max(l)/mean(l) below it runs standard EP (inf: never reroute).
        alpha: capacity factor; each device takes at most alpha * total / P tokens before spilling.
        min_chunk: smallest spill slice m, in tokens (a smaller remainder goes whole, or to the least loaded).
    """

    lam: float = 1.3
    alpha: float = 1.0
    min_chunk: int = 1024


DEFAULT_KNOBS = Knobs()


def imbalance(loads: np.ndarray) -> float:
    """max(l) / mean(l), the gate's statistic (0 for an empty batch)."""
    total = float(loads.sum())
    return float(loads.max()) * loads.size / total if total > 0 else 0.0


def gate_passes(loads: np.ndarray, lam: float, ratio: float | None = None) -> bool:
    """True when the batch is balanced enough for standard EP (paper step 1)."""
    return (imbalance(loads) if ratio is None else ratio) < lam


def llep_plan(
    loads: np.ndarray,
    devices: int,
    knobs: Knobs = DEFAULT_KNOBS,
    ratio: float | None = None,
    device_loads: list[int] | None = None,
) -> Plan:
    """LLEP's plan for one batch's per-expert loads (int64 [N]).

    Args:
        loads: tokens per expert.
        devices: P.
        knobs: lambda, alpha, m.
        ratio: the batch's `imbalance`, when already known.
        device_loads: native tokens per device, when already known.
    """
    if gate_passes(loads, knobs.lam, ratio):
        return native_plan(loads)
    return _assign(loads, devices, knobs, None, np.zeros(devices, dtype=np.int64), device_loads)


def plan_with_rows(
    loads: np.ndarray,
    devices: int,
    experts: np.ndarray,
    weights: np.ndarray,
    knobs: Knobs = DEFAULT_KNOBS,
    rest: str = "llep",
) -> Plan:
    """A plan where `experts[i]` is split over devices in proportion to `weights[i]` and LLEP places the rest.

    Rows whose weights are all zero leave their expert to the rest rule. With no explicit row this is
    `llep_plan`. With some, `rest="native"` keeps every other expert home; `rest="llep"` lets the gate decide
    whether they stay native and otherwise runs LLEP's assignment on them with the explicit slices counted as
    already assigned load.

    Args:
        loads: int64 [N] tokens per expert.
        devices: P.
        experts: int [R] expert ids (distinct).
        weights: int [R, P] non-negative split weights.
        knobs: LLEP parameters for the completion.
        rest: `llep` or `native`, the rule for experts without an explicit row.
    """
    chosen = weights.sum(axis=1) > 0
    if not chosen.any():
        return llep_plan(loads, devices, knobs)
    rows = experts[chosen]
    split = split_by_weights(loads[rows], weights[chosen])
    per_device = len(loads) // devices
    native_dev = rows // per_device
    free = np.ones(loads.size, dtype=bool)
    free[rows] = False
    assigned = split.sum(axis=0)
    fixed: dict[tuple[int, int], int] = {}
    nz_row, nz_dev = np.nonzero(split)
    for r, d in zip(nz_row.tolist(), nz_dev.tolist(), strict=True):
        if d != native_dev[r]:
            fixed[(int(rows[r]), d)] = int(split[r, d])
    if rest == "native" or gate_passes(loads, knobs.lam):
        plan = native_plan(np.where(free, loads, 0))
        return _merge(plan, rows, split[np.arange(len(rows)), native_dev], fixed)
    plan = _assign(loads, devices, knobs, free, assigned.astype(np.int64))
    return _merge(plan, rows, split[np.arange(len(rows)), native_dev], fixed)


def _merge(plan: Plan, rows: np.ndarray, native_share: np.ndarray, fixed: dict[tuple[int, int], int]) -> Plan:
    """Add the explicit rows' native shares and slices to a plan of the remaining experts."""
    keep = plan.keep.copy()
    keep[rows] = native_share
    slices: dict[tuple[int, int], int] = dict(fixed)
    for e, d, t in zip(plan.spill_expert.tolist(), plan.spill_device.tolist(), plan.spill_tokens.tolist(), strict=True):
        slices[(e, d)] = slices.get((e, d), 0) + t
    return _from_slices(keep, slices)


def _from_slices(keep: np.ndarray, slices: dict[tuple[int, int], int], touched: tuple[int, ...] | None = None) -> Plan:
    if not slices:
        return Plan(keep, EMPTY, EMPTY, EMPTY, touched)
    keys = sorted(slices)
    return Plan(
        keep,
        np.array([k[0] for k in keys], dtype=np.int64),
        np.array([k[1] for k in keys], dtype=np.int64),
        np.array([slices[k] for k in keys], dtype=np.int64),
        touched,
    )


def _assign(
    loads: np.ndarray,
    devices: int,
    knobs: Knobs,
    free: np.ndarray | None,
    assigned: np.ndarray,
    device_loads: list[int] | None = None,
) -> Plan:
    """Paper steps 2-4 over the experts marked `free` (None: all), with `assigned` load already on each device."""
    per_device = loads.size // devices
    placed = loads if free is None else np.where(free, loads, 0).astype(np.int64)
    if device_loads is None or free is not None:
        device_loads = placed.reshape(devices, per_device).sum(axis=1).tolist()
    level = [a + b for a, b in zip(assigned.tolist(), device_loads, strict=True)]
    total = sum(device_loads) if free is None else int(loads.sum())
    capacity = int(knobs.alpha * total / devices)
    if max(level) <= capacity:
        return native_plan(placed)
    n = loads.size
    big = int(placed.max()) + 1
    keys = ((big - placed) * n + np.arange(n)).reshape(devices, per_device)
    queues = np.sort(keys, axis=1)
    takes, slices = assign_sparse(level, capacity, knobs.min_chunk, lambda g: queues[g].tolist(), big, n, per_device)
    keep = placed.copy()
    for expert, take, _ in takes:
        keep[expert] = take
    return _from_slices(keep, slices, tuple(t[0] for t in takes))


def assign_sparse(
    level: list[int],
    capacity: int,
    min_chunk: int,
    queue_of: Callable[[int], list[int]],
    big: int,
    experts: int,
    per_device: int,
) -> tuple[list[tuple[int, int, int]], dict[tuple[int, int], int]]:
    """LLEP's assignment (paper steps 2-4) in sparse form: the experts it visits and the slices it ships.

    Experts are visited in global LPT order, i.e. by the key (-load, id), encoded as the integer
    `(big - load) * experts + id` (`big` exceeds every load, so a key below `big * experts` has load > 0).
    `queue_of(g)` returns device g's keys sorted ascending; it is asked only for devices that overload, the
    first time they do. Keys at or before the current one were placed natively already.

    Args:
        level: assigned plus pending load per device (updated in place).
        capacity: alpha * total / P, rounded down.
        min_chunk: m.
        queue_of: device -> its experts' keys, ascending.
        big: a bound above every load.
        experts: N.
        per_device: N / P.

    Returns:
        (expert, native share, load) of every visited expert in visiting order, and {(expert, device): tokens}
        of the off-native slices.
    """
    devices = len(level)
    queues: dict[int, list[int]] = {}
    position = [0] * devices
    slices: dict[tuple[int, int], int] = {}
    takes: list[tuple[int, int, int]] = []
    limit = big * experts
    current = -1
    # The devices over capacity: a visit can only bring its own device down, and only a forced spill can push
    # another device over, after which the set is recomputed.
    over = [g for g in range(devices) if level[g] > capacity]
    while over:
        best = limit
        best_device = -1
        for g in over:
            queue = queues.get(g)
            if queue is None:
                queue = queues[g] = queue_of(g)
            p = position[g] = bisect_right(queue, current, position[g])
            if p < per_device and queue[p] < best:
                best, best_device = queue[p], g
        if best_device < 0:
            break
        position[best_device] += 1
        current = best
        load, expert = big - best // experts, best % experts
        room = capacity - (level[best_device] - load)
        take = room if room > 0 else 0
        takes.append((expert, take, load))
        remainder = load - take
        level[best_device] -= remainder
        if remainder > 0 and _spill(expert, best_device, remainder, level, capacity, min_chunk, slices):
            over = [g for g in range(devices) if level[g] > capacity]
        elif level[best_device] <= capacity:
            over.remove(best_device)
    return takes, slices


def _spill(
    expert: int,
    home: int,
    remainder: int,
    level: list[int],
    capacity: int,
    min_chunk: int,
    slices: dict[tuple[int, int], int],
) -> bool:
    """Paper Alg. 3: chunks to the least-loaded other devices; a remainder nobody can take goes to the lightest.

    The paper scans the other devices in (level, id) order for the first whose room c = min(remainder,
    capacity - level) is at least m or the whole remainder, else forces the remainder onto the first. A device
    qualifies exactly when its level is at most capacity - min(remainder, m), which is monotone in level, so
    the first device in that order qualifies whenever any does: the target is always the least-loaded one.

    Returns:
        Whether a forced remainder pushed a device over capacity (the caller's set of overloaded devices grows).
    """
    devices = range(len(level))
    forced = False
    own = level[home]
    level[home] = 1 << 62  # never the least loaded while its expert spills
    while remainder > 0:
        # min() keeps the first of equal levels, and ids ascend, so this is the least (level, id).
        target = min(devices, key=level.__getitem__)
        room = capacity - level[target]
        if min_chunk <= room < remainder:
            chunk = room
        else:
            chunk = remainder
            forced = forced or room < remainder
        level[target] += chunk
        key = (expert, target)
        slices[key] = slices.get(key, 0) + chunk
        remainder -= chunk
    level[home] = own
    return forced
