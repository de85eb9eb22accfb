"""Least-Loaded Expert Parallelism (paper Algs. 2-4): gate, LPT assignment with capacity, least-loaded spills.

The paper loops over every expert in LPT order. An expert whose native device is within capacity stays there and
changes no state (the device's assigned-plus-pending load is unchanged), so only experts of overloaded devices
need visiting. This implementation walks those alone, in the same global LPT order, which gives the paper's plan
exactly while costing a few Python iterations per batch instead of N.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

import numpy as np
from mypy_extensions import mypyc_attr

from sysgym.envs.moe.plan import EMPTY, Plan, native_plan, split_by_weights


@mypyc_attr(native_class=False)
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
    takes, slices = assign_sparse(level, capacity, knobs.min_chunk, queues, big, n, per_device)
    keep = placed.copy()
    for expert, take, _ in takes:
        keep[expert] = take
    return _from_slices(keep, slices, tuple(t[0] for t in takes))


def assign_sparse(
    level: list[int],
    capacity: int,
    min_chunk: int,
    queue_rows: np.ndarray,
    big: int,
    radix: int,
    per_device: int,
) -> tuple[list[tuple[int, int, int]], dict[tuple[int, int], int]]:
    """LLEP's assignment (paper steps 2-4) in sparse form: the experts it visits and the slices it ships.

    Experts are visited in global LPT order, i.e. by the key (-load, id), encoded as the integer
    `(big - load) * radix + id` (`big` exceeds every load and `radix` every id, so a key below `big * radix` has
    load > 0). Row g of `queue_rows` holds device g's keys sorted ascending; a row is read only for devices that
    overload, the first time they do. Keys at or before the current one were placed natively already.

    Args:
        level: assigned plus pending load per device (updated in place; at the end, each device's tokens).
        capacity: alpha * total / P, rounded down.
        min_chunk: m.
        queue_rows: int [P, N/P] each device's keys, ascending.
        big: a bound above every load.
        radix: a bound above every expert id (N, or a power of two above it).
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
    limit = big * radix
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
                queue = queues[g] = queue_rows[g].tolist()
            p = position[g] = bisect_right(queue, current, position[g])
            if p < per_device and queue[p] < best:
                best, best_device = queue[p], g
        if best_device < 0:
            break
        position[best_device] += 1
        current = best
        load, expert = big - best // radix, best % radix
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


def assign_priced(
    level: list[int],
    capacity: int,
    min_chunk: int,
    queue_rows: np.ndarray,
    big: int,
    radix: int,
    compute: list[float],
    largest: list[int],
    grid: tuple[list[float], list[float], list[float]],
) -> tuple[list[int], list[int], int]:
    """`assign_sparse` with its plan priced as it is made: the model backend's hot path for knobs actions.

    The same visits and slices as `assign_sparse` (a test checks the cost against the general path), but no
    takes or slices are returned: each visit and each slice updates the per-device sums at once.
    mypyc (setup.py) compiles this loop; what it runs natively is spelled out: indexed updates as
    `a[i] = a[i] + x` (an indexed `+=` is a generic add), searches and the least-loaded scan as loops
    (`_after`, `_segment`, `_lightest`) rather than calls into bisect and min.

    Args:
        level: as in `assign_sparse` (at the end, each device's tokens).
        capacity: as in `assign_sparse`.
        min_chunk: m.
        queue_rows: as in `assign_sparse`.
        big: as in `assign_sparse`.
        radix: as in `assign_sparse`.
        compute: [P] EP compute per device, updated in place to the plan's.
        largest: [P] EP largest slice per device, updated in place to the plan's.
        grid: the slice-time curve as `ExpertCurve.scalar_grid` (evaluated inline: this loop runs every step).

    Returns:
        Weight copies received and sent per device, and the number of slices.
    """
    xs, ys, slopes = grid
    devices = len(level)
    per_device = queue_rows.shape[1]
    queues: dict[int, list[int]] = {}
    position = [0] * devices
    shipped: dict[int, int] = {}  # expert * devices + device -> tokens of that slice
    received = [0] * devices
    sent = [0] * devices
    first = [0] * devices  # each device's first queue entry not visited (its largest whole native slice)
    top = [0] * devices
    limit = big * radix
    current = -1
    over = [g for g in range(devices) if level[g] > capacity]
    while over:
        best = limit
        home = -1
        for g in over:
            queue = queues.get(g)
            if queue is None:
                queue = queues[g] = queue_rows[g].tolist()
            p = position[g] = _after(queue, current, position[g])
            if p < per_device and queue[p] < best:
                best, home = queue[p], g
        if home < 0:
            break
        q = position[home]
        position[home] = q + 1
        if q == first[home]:  # later entries are unvisited yet; an earlier gap (a skipped entry) stays first
            first[home] = q + 1
        current = best
        load, expert = big - best // radix, best % radix
        room = capacity - (level[home] - load)
        take = room if room > 0 else 0
        i, j = _segment(xs, take), _segment(xs, load)
        compute[home] = compute[home] + (slopes[i] * (take - xs[i]) + ys[i] - (slopes[j] * (load - xs[j]) + ys[j]))
        if take > top[home]:
            top[home] = take
        # The device is over capacity, so take < load: something always spills. Paper Alg. 3, as in `_spill`:
        # chunks to the least-loaded other devices, a remainder nobody can take whole to the lightest.
        remainder = load - take
        own = level[home] - remainder
        level[home] = 1 << 62
        forced = False
        base = expert * devices
        copies = 0
        while remainder > 0:
            target = _lightest(level)
            room = capacity - level[target]
            if min_chunk <= room < remainder:
                chunk = room
            else:
                chunk = remainder
                if room < remainder:
                    forced = True
            level[target] = level[target] + chunk
            remainder -= chunk
            key = base + target
            if key in shipped:
                # A forced remainder onto a device this spill already filled: one slice, priced whole.
                before = shipped[key]
                size = shipped[key] = before + chunk
                i, j = _segment(xs, size), _segment(xs, before)
                compute[target] = compute[target] + (
                    slopes[i] * (size - xs[i]) + ys[i] - (slopes[j] * (before - xs[j]) + ys[j])
                )
            else:
                size = shipped[key] = chunk
                i = _segment(xs, size)
                compute[target] = compute[target] + (slopes[i] * (size - xs[i]) + ys[i])
                received[target] = received[target] + 1
                copies += 1
            if size > largest[target]:
                largest[target] = size
        sent[home] = sent[home] + copies
        level[home] = own
        if forced:
            over = [g for g in range(devices) if level[g] > capacity]
        elif own <= capacity:
            over.remove(home)
    # Only devices that overloaded were visited; the others' largest slices were kept up to date above. For an
    # overloaded device that was never visited this recomputes the same value.
    for d, queue in queues.items():
        rest = big - queue[first[d]] // radix if first[d] < per_device else 0
        most = top[d] if top[d] > rest else rest
        if received[d]:  # a forced spill landed here: its slices count too
            most = max(most, max(t for key, t in shipped.items() if key % devices == d))
        largest[d] = most
    return received, sent, len(shipped)


def _after(queue: list[int], key: int, lo: int) -> int:
    """`bisect_right(queue, key, lo)`: the first position from `lo` on whose entry exceeds `key`."""
    hi = len(queue)
    while lo < hi:
        mid = (lo + hi) // 2
        if key < queue[mid]:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _segment(xs: list[float], tokens: int) -> int:
    """`bisect_right(xs, tokens) - 1`: the grid segment whose left end is the last point at or below `tokens`.

    A walk up the grid (about ten measured points); float(tokens) is exact below 2^53, so the comparisons equal
    bisect's int-to-float ones.
    """
    x = float(tokens)
    i, last = -1, len(xs) - 1
    while i < last and xs[i + 1] <= x:
        i += 1
    return i


def _lightest(level: list[int]) -> int:
    """`level.index(min(level))`: the least-loaded device, the first of equals."""
    target = 0
    low = level[0]
    for d in range(1, len(level)):
        if level[d] < low:
            low = level[d]
            target = d
    return target


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
    forced = False
    own = level[home]
    level[home] = 1 << 62  # never the least loaded while its expert spills
    while remainder > 0:
        # index() finds the first of equal levels, and ids ascend, so this is the least (level, id).
        target = level.index(min(level))
        room = capacity - level[target]
        if min_chunk <= room < remainder:
            chunk = room
        else:
            chunk = remainder
            forced = forced or room < remainder
        level[target] = level[target] + chunk
        key = (expert, target)
        slices[key] = slices.get(key, 0) + chunk
        remainder -= chunk
    level[home] = own
    return forced
