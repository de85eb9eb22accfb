"""GPU checks of the live backend (skipped without CUDA): measured swap times against the model, a live episode."""

from __future__ import annotations

import gymnasium as gym
import pytest

from sysgym.envs.calibration import load
from sysgym.envs.preemption.swapcost import KVGeometry, SwapCostModel

pytestmark = pytest.mark.gpu


@pytest.mark.parametrize(("layout", "native"), [("block", False), ("group", True), ("gather", False)])
@pytest.mark.parametrize("direction", ["out", "in"])
def test_measured_swap_time_within_25_percent_of_the_model(layout: str, native: bool, direction: str) -> None:
    from sysgym.runtime.preemption.kvpool import PagedKV, PoolShape

    pool = PagedKV(PoolShape(gpu_blocks=512, host_blocks=512), "cuda")
    model = SwapCostModel.from_calibration(load())
    geometry = KVGeometry()
    blocks = 128  # a 2,048-token request
    src = pool.gpu_alloc.allocate(blocks) if direction == "out" else pool.host_alloc.allocate(blocks)
    dst = pool.host_alloc.allocate(blocks) if direction == "out" else pool.gpu_alloc.allocate(blocks)
    for _ in range(3):
        pool.swap(src, dst, direction, layout)
    runs = sorted(pool.swap(src, dst, direction, layout) for _ in range(10))
    measured = runs[len(runs) // 2]
    predicted = model.swap_s(
        "d2h" if direction == "out" else "h2d", blocks, geometry, layout, group_blocks=blocks, native=native
    )
    print(f"{layout} {direction}: measured {measured * 1e3:.3f} ms, model {predicted * 1e3:.3f} ms")
    assert measured == pytest.approx(predicted, rel=0.25)


def test_live_episode_runs_and_reports_measured_times() -> None:
    env = gym.make(
        "sysgym/Preemption-v0", backend="live", conversations=8, rate=20.0, think_s=0.5, users=2, gpu_mem_gib=21.5
    )
    env.reset(seed=0)
    for _ in range(500):
        _, _, terminated, truncated, info = env.step(env.action_space.sample())
        if terminated or truncated:
            break
    assert terminated or truncated
    metrics = info["metrics"]
    assert metrics["measured_decodes"] > 0
    assert metrics["finished"] > 0
