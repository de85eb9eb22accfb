"""The calibrated cost model against the H100 measurements it was fitted to, and the step model's invariants."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from sysgym.envs import calibration
from sysgym.envs.moe.cost import expert_curve, launch_overhead_ms
from sysgym.envs.moe.llep import Knobs, llep_plan
from sysgym.envs.moe.models import MODELS, model_config
from sysgym.envs.moe.plan import native_plan
from tests.moe.helpers import backend

CAL = calibration.load()
GPT = model_config("gpt-oss-120b")


def expert_rows(shape: tuple[int, int]) -> list[dict[str, float]]:
    return [r for r in CAL["sections"]["moe_expert"] if "tokens" in r and (r["hidden"], r["inter"]) == shape]


def test_launch_overhead_is_the_measured_57_us() -> None:
    assert 0.055 <= launch_overhead_ms(CAL) <= 0.060


@pytest.mark.parametrize("shape", [(2880, 2880), (4096, 14336), (2048, 1408)])
def test_measured_shapes_follow_their_curve(shape: tuple[int, int]) -> None:
    curve = expert_curve(GPT, CAL, *shape)
    for row in expert_rows(shape):
        if row["tokens"] >= 1024:
            assert curve.one_ms(row["tokens"]) == pytest.approx(row["ms"], rel=1e-6)
        else:
            assert curve.one_ms(row["tokens"]) == pytest.approx(row["ms"], rel=0.25)


def test_eager_loops_of_many_experts_are_predicted_within_20_percent() -> None:
    for row in CAL["sections"]["per_gemm_overhead"]:
        curve = expert_curve(GPT, CAL, row["hidden"], row["inter"])
        predicted = row["experts"] * curve.one_ms(row["tokens_per_expert"])
        assert predicted == pytest.approx(row["ms"], rel=0.20), row


@pytest.mark.parametrize("shape", [(2880, 2880), (4096, 14336), (2048, 1408)])
def test_unmeasured_shapes_scale_within_20_percent_at_large_batches(shape: tuple[int, int]) -> None:
    held_out = copy.deepcopy(CAL)
    held_out["sections"]["moe_expert"] = [
        r for r in CAL["sections"]["moe_expert"] if (r.get("hidden"), r.get("inter")) != shape
    ]
    curve = expert_curve(GPT, held_out, *shape)
    assert curve.scale != 1.0
    for row in expert_rows(shape):
        error = curve.one_ms(row["tokens"]) / row["ms"] - 1
        assert abs(error) <= (0.20 if row["tokens"] >= 4096 else 0.55), (row, error)


def test_curve_is_non_decreasing_and_extrapolates_linearly() -> None:
    curve = expert_curve(GPT, CAL)
    tokens = np.arange(0, 200_000, 97)
    times = curve.slice_ms(tokens)
    assert times[0] == 0 and np.all(np.diff(times) >= 0)
    points = {r["tokens"]: r["ms"] for r in expert_rows((2880, 2880))}
    last, before = points[65536], points[16384]
    slope = (last - before) / (65536 - 16384)
    assert curve.one_ms(131072) == pytest.approx(last + slope * 65536, rel=1e-6)


def test_split_never_beats_min_work_bound() -> None:
    curve = expert_curve(GPT, CAL)
    rng = np.random.default_rng(0)
    for _ in range(200):
        total = int(rng.integers(1, 300_000))
        parts = rng.multinomial(total, rng.dirichlet(np.ones(int(rng.integers(1, 9)))))
        assert curve.slice_ms(parts).sum() >= curve.min_work_ms(np.array([total]))[0] - 1e-9


def test_scaled_models_have_a_curve() -> None:
    for model in MODELS.values():
        curve = expert_curve(model, CAL)
        assert curve.one_ms(4096) > 0


def test_incremental_pricing_equals_the_full_model() -> None:
    b = backend(workload="drift", batches=8)
    rng = np.random.default_rng(1)
    for _ in range(8):
        for knobs in (Knobs(), Knobs(1.0, 1.05, 128), Knobs(1.1, 1.5, 8192)):
            plan = llep_plan(b.loads, b.devices, knobs)
            fast = b.price(plan, None)
            full = b.layer_model.cost(plan, np.ones(plan.spills, dtype=bool), b._held)
            assert fast.step_ms == pytest.approx(full.step_ms, rel=1e-9)
            np.testing.assert_allclose(fast.memory_bytes, full.memory_bytes, rtol=1e-9)
            np.testing.assert_allclose(fast.compute_ms, full.compute_ms, rtol=1e-9)
        b.apply(int(rng.integers(b.action_space.n)))


def test_ep_step_time_is_dominated_by_the_hot_device() -> None:
    b = backend(workload="hot1-95", batches=2)
    ep = b.price(native_plan(b.loads), None)
    llep = b.price(llep_plan(b.loads, b.devices), None)
    assert int(np.argmax(ep.compute_ms)) == 0
    assert ep.step_ms > 5 * llep.step_ms > 5 * b.layer_model.lower_bound_ms(b.loads)
    assert ep.memory_bytes[0] > 4 * llep.memory_bytes.max()


@pytest.mark.parametrize("model", sorted(MODELS))
def test_scalar_slice_time_equals_the_interpolation_exactly(model: str) -> None:
    curve = expert_curve(MODELS[model], calibration.load())
    tokens = np.concatenate([np.arange(0, 5000), np.random.default_rng(0).integers(0, 2_000_000, 3000)])
    assert [curve.one_ms(t) for t in tokens.tolist()] == curve.slice_ms(tokens).tolist()
