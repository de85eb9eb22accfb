"""Direction checks from the Sibyl / Harmonia papers and the device models behind them."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from sysgym.envs.storage.baselines import BASELINES, BOUNDS, pair
from sysgym.envs.storage.devices import CATALOGUE
from sysgym.envs.storage.queues import DeviceQueue
from sysgym.experiments.harness import run_episode

ENV = "sysgym/HybridStorage-v0"


def mean_latency(name: str, seeds: range, **kwargs: object) -> float:
    return float(
        np.mean([run_episode(ENV, BASELINES[name](), s, dict(kwargs)).metrics["mean_latency_us"] for s in seeds])
    )


@pytest.mark.slow
def test_perf_order_of_bounds_and_heuristics() -> None:
    """fast-only <= oracle < every capacity-respecting heuristic < slow-only; best heuristic >= 1.5x slow-only."""
    means = {name: mean_latency(name, range(2), config="perf", max_requests=6000) for name in BASELINES}
    heuristics = {k: v for k, v in means.items() if k not in BOUNDS}
    assert means["fast-only"] <= means["oracle"] < min(heuristics.values())
    assert max(heuristics.values()) < means["slow-only"]
    assert means["slow-only"] / min(heuristics.values()) >= 1.5


def test_perf_order_without_the_torch_baseline() -> None:
    """The same order on one short episode, fast enough for every run (RNN-HSS is in the slow test)."""
    names = [n for n in BASELINES if n != "rnn-hss"]
    means = {name: mean_latency(name, range(1), config="perf", max_requests=4000) for name in names}
    heuristics = {k: v for k, v in means.items() if k not in BOUNDS}
    assert means["fast-only"] <= means["oracle"] < min(heuristics.values())
    assert max(heuristics.values()) < means["slow-only"]
    assert means["slow-only"] / min(heuristics.values()) >= 1.5


def test_bound_spread_is_far_larger_with_an_hdd() -> None:
    """Paper check 5: Slow-Only / Fast-Only is far larger on H + L than on H + M."""
    spread = {
        config: mean_latency("slow-only", range(1), config=config, max_requests=3000)
        / mean_latency("fast-only", range(1), config=config, max_requests=3000)
        for config in ("perf", "cost")
    }
    assert spread["cost"] > 20 * spread["perf"]


def test_migrations_delay_foreground_requests() -> None:
    """One queue per device: the same placement with aggressive promotion raises latency under heavy load."""
    kwargs = {"workload": "heavy", "max_requests": 4000}
    quiet = run_episode(ENV, pair("slow", "none"), 0, kwargs).metrics
    busy = run_episode(ENV, pair("slow", "promote-k1"), 0, {**kwargs, "capacities": (0.01,)}).metrics
    assert busy["migrated_gib"] > 0
    assert busy["p99_latency_us"] > quiet["p99_latency_us"]


def test_queueing_appears_under_load() -> None:
    light = run_episode(ENV, BASELINES["slow-only"](), 0, {"max_requests": 4000}).metrics
    heavy = run_episode(ENV, BASELINES["slow-only"](), 0, {"max_requests": 4000, "workload": "heavy"}).metrics
    assert heavy["mean_latency_us"] > 1.2 * light["mean_latency_us"]


def test_device_models_match_their_datasheets() -> None:
    for name in ("optane", "sata-tlc", "tlc-nvme"):
        spec = CATALOGUE[name]
        queue = DeviceQueue(spec, 1e9, [0], 4096)
        latency = queue.read(0.0, 0, 1, 4096)
        typical = {"optane": 10.0, "sata-tlc": 36.0, "tlc-nvme": 77.0}[name]
        assert latency == pytest.approx(typical, rel=0.05)
        saturated = DeviceQueue(spec, 1e9, [0], 4096)
        end = max(saturated.read(0.0, 0, 1, 4096) for _ in range(20_000))
        assert 20_000 / (end / 1e6) == pytest.approx(spec.read_iops, rel=0.1)


def test_hdd_seek_grows_with_distance_and_sequential_runs_skip_it() -> None:
    hdd = CATALOGUE["hdd"]
    addresses = [*range(1000), 200_000_000]  # page 1000 sits 800 GB away
    queue = DeviceQueue(hdd, 1e12, addresses, 4096)
    t = queue.read(0.0, 0, 1, 4096)
    sequential = queue.read(t, 1, 1, 4096) - t
    t += sequential
    near = queue.read(t, 10, 1, 4096) - t
    t += near
    far = queue.read(t, 1000, 1, 4096) - t
    assert sequential < 200 < 5000 < near < far


def test_qlc_write_cliff_after_the_slc_cache() -> None:
    qlc = CATALOGUE["qlc-sata"]
    queue = DeviceQueue(qlc, 64 << 20, [0], 4096)
    cache = qlc.slc_cache_fraction * (64 << 20)
    t = 0.0
    latencies = []
    for _ in range(int(2 * cache // (256 << 10))):
        end = queue.write(t, 0, 64, 256 << 10)
        latencies.append(end - t)
        t = end
    assert latencies[-1] > 4 * latencies[0]


def test_fast_only_is_a_bound_even_with_capacity_limits_elsewhere() -> None:
    env = gym.make(ENV, max_requests=500, unlimited_capacity=True, preexisting=0)
    env.reset(seed=0)
    assert env.unwrapped._backend.capacity[0] == env.unwrapped._backend.capacity[1]
