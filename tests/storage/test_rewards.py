"""The two reward forms: Sibyl's code form checked by hand, the default latency form unchanged, one shared function."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from sysgym.agents.random_policy import sample_action
from sysgym.envs.core.errors import UnknownNameError
from sysgym.envs.storage.config import StorageConfig
from sysgym.envs.storage.parallel import HybridStorageParallelEnv
from sysgym.envs.storage.rewards import reward

QUICK: dict[str, Any] = {"max_requests": 1_500}


def test_sibyl_formula_by_hand() -> None:
    # Two requests of 50 us and 200 us, the second evicting 3 pages:
    # 0.1 / 0.05 ms + 0.1 / 0.2 ms - (0 ** 0.09 + 3 ** 0.09) = 2.0 + 0.5 - 1.1039284 = 1.3960716.
    signals = {
        "latency_us": 250.0,
        "migration_us": 40.0,
        "ref_us": 36.0,
        "inv_latency_ms": 1000.0 / 50.0 + 1000.0 / 200.0,
        "evict_term": 3**0.09,
    }
    assert reward(StorageConfig(reward="sibyl"), signals) == pytest.approx(1.3960716, abs=1e-7)
    # The default form of the same step: -(250 + 1.0 * 40) / 36.
    assert reward(StorageConfig(), signals) == pytest.approx(-290.0 / 36.0)


def test_unknown_reward_names_the_known_ones() -> None:
    with pytest.raises(UnknownNameError, match="latency, sibyl"):
        gym.make("sysgym/HybridStorage-v0", reward="speed")


def _steps(env_id: str, seed: int, **kwargs: Any) -> list[tuple[float, list[float], int]]:
    """Per step: the reward, the latencies of the requests it served, and the pages it sent down a tier."""
    env: Any = gym.make(env_id, disable_env_checker=True, **{**QUICK, **kwargs}).unwrapped
    core = env._backend
    rng = np.random.default_rng(seed)
    _, info = env.reset(seed=seed)
    out = []
    while True:
        served, demoted = len(core.latencies), core.demoted_pages
        _, r, terminated, _, info = env.step(sample_action(env.action_space, info["action_mask"], rng))
        out.append((float(r), core.latencies[served:], core.demoted_pages - demoted))
        if terminated:
            return out


def test_sibyl_reward_of_every_step() -> None:
    # Placement only, no migration heuristic: evictions happen only at the decided write (a small fast device
    # overflows), so each step's n_evict is the pages sent down during it.
    steps = _steps("sysgym/HybridStorage-Placement-v0", 3, reward="sibyl", migration_policy="none", capacities=(0.02,))
    assert any(n > 0 for _, _, n in steps)
    for r, latencies, n_evict in steps:
        expected = sum(0.1 / (max(x, 1.0) / 1000.0) for x in latencies) - n_evict**0.09
        assert r == pytest.approx(expected, rel=1e-9)


def test_default_reward_is_the_latency_form() -> None:
    assert StorageConfig().reward == "latency"
    # A fast device that holds everything and no migration heuristic: no page moves, so the reward is the
    # latency term alone.
    kwargs = {"migration_policy": "none", "capacities": (1.0,)}
    default = _steps("sysgym/HybridStorage-Placement-v0", 1, **kwargs)
    explicit = _steps("sysgym/HybridStorage-Placement-v0", 1, reward="latency", **kwargs)
    assert default == explicit
    ref_us = 28.7 + 4096 / 560.0  # sata-tlc (the slowest device of perf): 28.7 us base + 4 KiB at 560 MB/s
    for r, latencies, n_evict in default:
        assert n_evict == 0
        assert r == pytest.approx(-sum(latencies) / ref_us, rel=1e-12)


def test_pettingzoo_uses_the_same_reward() -> None:
    joint = gym.make("sysgym/HybridStorage-v0", reward="sibyl", **QUICK).unwrapped
    par = HybridStorageParallelEnv(reward="sibyl", **QUICK)
    joint.reset(seed=5)
    _, pinfo = par.reset(seed=5)
    rng = np.random.default_rng(5)
    while par.agents:
        place = sample_action(par.action_space("placement"), pinfo["placement"]["action_mask"], rng)
        mig = sample_action(par.action_space("migration"), pinfo["migration"]["action_mask"], rng)
        _, rewards, _, _, pinfo = par.step({"placement": place, "migration": mig})
        _, r, _, _, _ = joint.step(place * 25 + mig)
        assert rewards["placement"] == rewards["migration"] == r
