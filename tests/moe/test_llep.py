"""LLEP's plan against hand-worked examples of the paper's algorithm, a naive reference, and conservation."""

from __future__ import annotations

import math
from bisect import bisect_right

import numpy as np
import pytest

from sysgym.envs.moe.llep import Knobs, _after, _lightest, _segment, llep_plan, plan_with_rows
from sysgym.envs.moe.plan import Plan, check_conserves, split_by_weights


def slices(plan: Plan) -> dict[tuple[int, int], int]:
    return {
        (e, d): t
        for e, d, t in zip(
            plan.spill_expert.tolist(), plan.spill_device.tolist(), plan.spill_tokens.tolist(), strict=True
        )
    }


# 4 devices x 2 experts: device 0 holds experts 0, 1; device 1 holds 2, 3; ...
HOT = np.array([100, 0, 10, 10, 10, 10, 10, 10])


def test_forced_spill_goes_whole_to_the_least_loaded_device() -> None:
    # capacity = 160 / 4 = 40. Expert 0 keeps 40 at home; 60 spills. Each other device has room 20 < m = 1024 and
    # 20 != 60, so none qualifies: the whole 60 goes to the least-loaded device (1, lowest id among ties).
    # Device 1 is now at 80 > 40, so its experts 2 and 3 (later in LPT order) spill whole, each to the then
    # least-loaded other device: 2 -> device 2 (20), 3 -> device 3 (20 < 30).
    plan = llep_plan(HOT, 4)
    assert plan.keep.tolist() == [40, 0, 0, 0, 10, 10, 10, 10]
    assert slices(plan) == {(0, 1): 60, (2, 2): 10, (3, 3): 10}
    assert plan.device_tokens(4).tolist() == [40, 60, 30, 30]
    check_conserves(plan, HOT, 4)


def test_chunks_of_at_least_m_fill_the_least_loaded_devices() -> None:
    # With m = 10 every room of 20 qualifies: chunks of 20 go to devices 1, 2, 3 in least-loaded order, and every
    # device ends exactly at capacity.
    plan = llep_plan(HOT, 4, Knobs(lam=1.3, alpha=1.0, min_chunk=10))
    assert plan.keep.tolist() == [40, 0, 10, 10, 10, 10, 10, 10]
    assert slices(plan) == {(0, 1): 20, (0, 2): 20, (0, 3): 20}
    assert plan.device_tokens(4).tolist() == [40, 40, 40, 40]


def test_partial_native_take_then_chunk_equal_to_remainder() -> None:
    # alpha = 1.25: capacity 50. Expert 0 keeps 50 and 50 spills; rooms are 30 each (< m = 40) and 30 != 50,
    # so the remainder goes whole to device 1 (forced), which then holds 70 > 50. It sheds expert 2 (room
    # 50 - 60 < 0) to device 2, the chunk min(10, 50 - 20) = 10 being the whole remainder; then expert 3 has
    # room 50 - 50 = 0, so it spills whole too, to device 3 (20 < 30 < 50).
    plan = llep_plan(HOT, 4, Knobs(lam=1.3, alpha=1.25, min_chunk=40))
    assert plan.keep.tolist() == [50, 0, 0, 0, 10, 10, 10, 10]
    assert slices(plan) == {(0, 1): 50, (2, 2): 10, (3, 3): 10}


def test_gate_keeps_standard_ep_when_balanced_enough() -> None:
    loads = np.array([12, 10, 10, 10, 9, 10, 10, 9])
    assert llep_plan(loads, 4, Knobs(lam=1.3)).spills == 0
    assert llep_plan(HOT, 4, Knobs(lam=math.inf)).spills == 0
    assert llep_plan(loads, 4, Knobs(lam=1.0)).spills > 0


def reference_llep(loads: np.ndarray, devices: int, knobs: Knobs) -> dict[tuple[int, int], int]:
    """The paper's loop over every expert, written plainly."""
    n = loads.size
    per = n // devices
    if loads.max() < knobs.lam * loads.mean():
        return {(e, e // per): int(loads[e]) for e in range(n) if loads[e] > 0}
    cap = int(knobs.alpha * int(loads.sum()) / devices)
    ga = [0] * devices
    gp = [int(loads[g * per : (g + 1) * per].sum()) for g in range(devices)]
    out: dict[tuple[int, int], int] = {}
    for e in sorted(range(n), key=lambda e: (-int(loads[e]), e)):
        load, g = int(loads[e]), e // per
        gp[g] -= load
        na = cap - ga[g] - gp[g]
        if load <= na:
            take, r = load, 0
        elif na > 0:
            take, r = na, load - na
        else:
            take, r = 0, load
        ga[g] += take
        if take:
            out[(e, g)] = take
        while r > 0:
            others = sorted((o for o in range(devices) if o != g), key=lambda o: (ga[o] + gp[o], o))
            for o in others:
                c = min(r, cap - ga[o] - gp[o])
                if c >= knobs.min_chunk or c == r:
                    break
            else:
                o, c = others[0], r
            ga[o] += c
            out[(e, o)] = out.get((e, o), 0) + c
            r -= c
    return out


@pytest.mark.parametrize("seed", range(300))
def test_fast_plan_equals_the_papers_loop_and_conserves_tokens(seed: int) -> None:
    rng = np.random.default_rng(seed)
    devices = int(rng.choice([2, 4, 8]))
    n = devices * int(rng.integers(1, 9))
    loads = rng.integers(0, 2000, n) * (rng.random(n) < 0.8)
    loads[rng.integers(n)] += int(rng.integers(0, 20000))
    knobs = Knobs(
        float(rng.choice([1.0, 1.3, 2.0])), float(rng.choice([1.0, 1.1, 1.5])), int(rng.choice([1, 64, 1024]))
    )
    plan = llep_plan(loads, devices, knobs)
    check_conserves(plan, loads, devices)
    dense = plan.matrix(devices)
    got = {(e, d): int(dense[e, d]) for e, d in zip(*np.nonzero(dense), strict=True)}
    assert got == reference_llep(loads, devices, knobs)


@pytest.mark.parametrize("seed", range(20))
def test_plans_with_explicit_rows_conserve_tokens(seed: int) -> None:
    rng = np.random.default_rng(seed)
    devices, n = 8, 64
    loads = rng.integers(0, 5000, n)
    loads[:3] += 50000
    order = np.argsort(-loads, kind="stable")
    rows = int(rng.integers(1, n + 1))
    weights = rng.integers(0, 5, (rows, devices)) * (rng.random((rows, 1)) < 0.7)
    plan = plan_with_rows(loads, devices, order[:rows], weights)
    check_conserves(plan, loads, devices)


def test_split_by_weights_is_exact() -> None:
    loads = np.array([10, 7, 1_000_003])
    weights = np.array([[1, 1, 1], [0, 2, 1], [3, 0, 5]])
    split = split_by_weights(loads, weights)
    assert split.sum(axis=1).tolist() == loads.tolist()
    assert split[1, 0] == 0 and split[2, 1] == 0
    assert abs(split[2, 0] - 1_000_003 * 3 / 8) < 1


def test_native_searches_equal_bisect_and_min() -> None:
    # The compiled hot path spells bisect_right and level.index(min(level)) as loops; they must agree exactly,
    # ties and ends included.
    rng = np.random.default_rng(0)
    grid = [0.0, 1.0, 16.0, 64.0, 256.0, 1024.0, 4096.0, 1e12]
    for tokens in [0, 1, 2, 15, 16, 17, 1023, 1024, 4096, 10**9, *rng.integers(0, 100_000, 200).tolist()]:
        assert _segment(grid, tokens) == bisect_right(grid, tokens) - 1
    for _ in range(300):
        queue = sorted(rng.integers(0, 20, int(rng.integers(0, 12))).tolist())
        key, lo = int(rng.integers(-1, 22)), int(rng.integers(0, len(queue) + 1))
        assert _after(queue, key, lo) == bisect_right(queue, key, lo)
        level = rng.integers(0, 5, int(rng.integers(1, 9))).tolist()
        assert _lightest(level) == level.index(min(level))
