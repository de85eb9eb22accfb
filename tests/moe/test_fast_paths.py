"""The model backend's fast paths against the plain computations they replace (same plan, same numbers)."""

from __future__ import annotations

import numpy as np
import pytest

from sysgym.envs import calibration
from sysgym.envs.moe.actions import EP_ACTION, KNOB_COUNT, LLEP_DEFAULT, knobs_of
from sysgym.envs.moe.cost import expert_curve
from sysgym.envs.moe.llep import llep_plan
from sysgym.envs.moe.models import MODELS
from tests.moe.helpers import backend

CAL = calibration.load()


@pytest.mark.parametrize("workload", ["drift", "hot1-95", "hot16-50", "balanced"])
def test_sparse_knobs_path_prices_like_the_plan_path(workload: str) -> None:
    b = backend(workload=workload, batches=12, memory_gib=10.0)
    assert b._fused
    rng = np.random.default_rng(3)
    for _ in range(12):
        for action in [*rng.integers(KNOB_COUNT, size=12).tolist(), 0, KNOB_COUNT - 1]:
            plan = llep_plan(b.loads, b.devices, knobs_of(action))
            full = b.layer_model.cost(plan, np.ones(plan.spills, dtype=bool), b._held)
            fast = b._fused_cost(action)
            assert fast.step_ms == pytest.approx(full.step_ms, rel=1e-12)
            assert fast.a2a_ms == pytest.approx(full.a2a_ms, rel=1e-12)
            np.testing.assert_allclose(fast.compute_ms, full.compute_ms, rtol=1e-12)
            assert fast.tokens == full.device_tokens.tolist()
            assert fast.copied_experts == full.copied_experts
            assert fast.oom_devices == full.oom_devices
            assert fast.peak_bytes == full.peak_bytes
        b.apply(int(rng.integers(KNOB_COUNT)))


def test_low_memory_counts_the_same_out_of_memory_events_on_both_paths() -> None:
    fast = backend(workload="hot1-95", batches=6, memory_gib=12.0)
    slow = backend(workload="hot1-95", batches=6, memory_gib=12.0)
    slow._fused = False
    rng = np.random.default_rng(0)
    for action in [EP_ACTION, LLEP_DEFAULT, *rng.integers(KNOB_COUNT, size=4).tolist()]:
        a, b = fast.apply(action), slow.apply(action)
        assert a.signals == pytest.approx(b.signals, rel=1e-12)
    assert fast.metrics() == pytest.approx(slow.metrics(), rel=1e-12)
    assert fast.metrics()["oom_count"] > 0


@pytest.mark.parametrize("model", sorted(MODELS))
def test_min_work_interpolation_equals_the_running_minimum_formula(model: str) -> None:
    curve = expert_curve(MODELS[model], CAL)
    rng = np.random.default_rng(0)
    tokens = np.concatenate([rng.integers(0, 400_000, 5000), np.arange(0, 3000), curve.tokens[:-1].astype(np.int64)])
    index = np.searchsorted(curve.tokens[1:-1], tokens, side="right") - 1
    grid = np.where(index >= 0, curve.ratio_grid[np.clip(index, 0, None)], 1e30)
    np.testing.assert_allclose(curve.min_work_ms(tokens), np.minimum(curve.slice_ms(tokens), grid * tokens), rtol=1e-12)


def test_lower_bound_equals_the_minimum_over_shipped_experts() -> None:
    b = backend(workload="drift", batches=4)
    model = b.layer_model
    loads = np.random.default_rng(1).integers(0, 40_000, (16, b.model.experts))
    for copies in (True, False):
        p = b.devices
        whole = np.sort(model.curve.slice_ms(loads.reshape(len(loads), p, -1)), axis=2)[:, :, ::-1]
        shipped = np.concatenate([np.zeros((len(loads), p, 1)), np.cumsum(whole, axis=2)], axis=2)
        copy_ms = model.memory.expert_bytes / model.fabric.bytes_per_ms if copies else 0.0
        own = (whole.sum(axis=2, keepdims=True) - shipped + copy_ms * np.arange(whole.shape[2] + 1)).min(axis=2)
        work = model.curve.min_work_ms(loads).sum(axis=1) / p
        busiest = loads.sum(axis=1) / p * (p - 1) / p
        a2a = 2.0 * (busiest * model.token_bytes / model.fabric.bytes_per_ms + model.fabric.collective_ms)
        expected = a2a + np.maximum(work, own.max(axis=1))
        np.testing.assert_allclose(model.lower_bounds_ms(loads, copies), expected, rtol=1e-12, atol=1e-12)


def test_block_observations_match_step_by_step_bookkeeping() -> None:
    b = backend(workload="drift", batches=40, history=3, layers=2)
    n, p, h = b.model.experts, b.devices, 3
    ema = np.full((2, n), 1.0 / n)
    history = np.full((2, h, p), 1.0 / p)
    rng = np.random.default_rng(0)
    for step in range(80):
        layer = b.layer
        obs = b.observation()
        share = b.loads / b.loads.sum()
        device_share = share.reshape(p, -1).sum(axis=1)
        np.testing.assert_allclose(obs[:n], np.sort(share)[::-1], rtol=1e-6)
        np.testing.assert_allclose(obs[n : 2 * n], (b.order // b.per_device) / (p - 1), rtol=1e-6)
        np.testing.assert_allclose(obs[2 * n : 3 * n], ema[layer], rtol=1e-6)
        np.testing.assert_allclose(obs[3 * n : 3 * n + h * p], history[layer].ravel(), rtol=1e-6)
        np.testing.assert_allclose(obs[3 * n + h * p : 3 * n + h * p + p], device_share, rtol=1e-6)
        assert obs[-2] == pytest.approx(layer)
        assert obs[-1] == pytest.approx(min(1.0, (step // 2) / 40))
        ema[layer] = 0.75 * ema[layer] + 0.25 * share
        history[layer, 1:] = history[layer, :-1]
        history[layer, 0] = device_share
        b.apply(int(rng.integers(KNOB_COUNT)))
