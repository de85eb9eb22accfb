"""The three storage ids and the PettingZoo env: API checks, masks, determinism, decisions and bookkeeping."""

from __future__ import annotations

import pickle
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from pettingzoo.test import parallel_api_test

from sysgym.agents.random_policy import sample_action
from sysgym.envs.core.errors import ConfigError, InvalidActionError, UnknownNameError
from sysgym.envs.storage import SPECS, parallel_env
from sysgym.envs.storage.parallel import HybridStorageParallelEnv

IDS = [s.id for s in SPECS]
QUICK = {"max_requests": 1_500}


def rollout(env_id: str, seed: int, **kwargs: Any) -> tuple[list[Any], dict[str, float]]:
    env = gym.make(env_id, disable_env_checker=True, **{**QUICK, **kwargs})
    rng = np.random.default_rng(seed)
    obs, info = env.reset(seed=seed)
    trace = [obs]
    while True:
        obs, reward, terminated, truncated, info = env.step(sample_action(env.action_space, info["action_mask"], rng))
        assert env.observation_space.contains(obs)
        trace += [obs, reward]
        if terminated or truncated:
            return trace, info["metrics"]


@pytest.mark.parametrize("env_id", IDS)
def test_random_rollouts_are_deterministic_and_complete(env_id: str) -> None:
    first, metrics = rollout(env_id, 4)
    second, metrics2 = rollout(env_id, 4)
    assert metrics == metrics2
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    assert metrics["requests"] == QUICK["max_requests"]
    for name in ("mean_latency_us", "p99_latency_us", "throughput_iops", "migrated_gib", "fast_hit_ratio"):
        assert np.isfinite(metrics[name]) and metrics[name] >= 0
    other, _ = rollout(env_id, 5)
    assert len(other) != len(first) or not all(np.array_equal(a, b) for a, b in zip(first, other, strict=True))


@pytest.mark.parametrize("config", ["perf", "cost", "tri", "quad"])
def test_configs_have_their_devices_and_spaces(config: str) -> None:
    env = gym.make("sysgym/HybridStorage-v0", config=config, **QUICK)
    n_devices = {"perf": 2, "cost": 2, "tri": 3, "quad": 4}[config]
    assert env.action_space.n == n_devices * 25
    assert env.observation_space.shape == (12 + 2 * n_devices + 32,)
    _, metrics = rollout("sysgym/HybridStorage-v0", 0, config=config)
    assert metrics["mean_latency_us"] > 0


def test_joint_mask_allows_only_the_pending_decisions() -> None:
    env = gym.make("sysgym/HybridStorage-v0", **QUICK).unwrapped
    _, info = env.reset(seed=0)
    view = info["system"]
    seen_place_only = seen_mig = False
    rng = np.random.default_rng(0)
    for _ in range(300):
        mask = info["action_mask"].reshape(2, 5, 5)
        if view.needs_placement and not view.needs_migration:
            seen_place_only = True
            assert mask[:, 0, 0].all() and mask.sum() == 2
        if view.needs_migration:
            seen_mig = True
            n_promote = sum(1 for x in view.levels if x <= len(view.promote_candidates))
            assert mask[0, :, 0].sum() == n_promote
            if not view.needs_placement:
                assert not mask[1].any()
        _, _, done, _, info = env.step(sample_action(env.action_space, info["action_mask"], rng))
        if done:
            break
    assert seen_place_only and seen_mig
    bad = int(np.flatnonzero(~info["action_mask"])[0])
    with pytest.raises(InvalidActionError, match="masked"):
        env.step(bad)


def test_page_bookkeeping_stays_consistent() -> None:
    env = gym.make("sysgym/HybridStorage-v0", config="tri", **QUICK).unwrapped
    rng = np.random.default_rng(1)
    _, info = env.reset(seed=1)
    done = False
    while not done:
        _, _, done, _, info = env.step(sample_action(env.action_space, info["action_mask"], rng))
    core = env._backend
    counted = np.bincount([d for d in core.loc if d >= 0], minlength=3)
    assert counted.tolist() == core.used
    assert all(core.used[d] <= core.capacity[d] for d in range(2))
    for d in range(2):
        assert set(core.lru[d]) == {p for p, where in enumerate(core.loc) if where == d}


def test_pickle_after_reset_continues_identically() -> None:
    env = gym.make("sysgym/HybridStorage-Migration-v0", **QUICK).unwrapped
    env.reset(seed=2)
    clone = pickle.loads(pickle.dumps(env))
    a = env.step(0)
    b = clone.step(0)
    assert np.array_equal(a[0], b[0]) and a[1] == b[1]


def test_bad_arguments_name_the_problem() -> None:
    with pytest.raises(UnknownNameError, match="perf"):
        gym.make("sysgym/HybridStorage-v0", config="fastest")
    with pytest.raises(UnknownNameError, match="mixed"):
        gym.make("sysgym/HybridStorage-v0", workload="no-such-workload").reset(seed=0)
    with pytest.raises(ConfigError, match="capacities"):
        gym.make("sysgym/HybridStorage-v0", config="tri", capacities=(0.1,))
    with pytest.raises(UnknownNameError, match="hdd"):
        gym.make("sysgym/HybridStorage-v0", devices=("optane", "floppy"))
    with pytest.raises(UnknownNameError, match="lru-watermark"):
        gym.make("sysgym/HybridStorage-Placement-v0", migration_policy="magic")


def test_pettingzoo_parallel_api() -> None:
    env = parallel_env(max_requests=600)
    assert isinstance(env, HybridStorageParallelEnv)
    parallel_api_test(env, num_cycles=300)


def test_pettingzoo_matches_joint_env() -> None:
    joint = gym.make("sysgym/HybridStorage-v0", **QUICK).unwrapped
    par = HybridStorageParallelEnv(**QUICK)
    joint_obs, _ = joint.reset(seed=7)
    obs, pinfo = par.reset(seed=7)
    rng = np.random.default_rng(7)
    total_joint = total_par = 0.0
    while par.agents:
        assert np.array_equal(obs["placement"]["observation"], joint_obs)
        place = sample_action(par.action_space("placement"), pinfo["placement"]["action_mask"], rng)
        mig = sample_action(par.action_space("migration"), pinfo["migration"]["action_mask"], rng)
        obs, rewards, _, _, pinfo = par.step({"placement": place, "migration": mig})
        joint_obs, reward, done, _, _ = joint.step(place * 25 + mig)
        total_par += rewards["placement"]
        total_joint += reward
        assert done == (not par.agents)
    assert total_par == pytest.approx(total_joint)


def test_placement_reports_no_mask_and_still_checks_actions() -> None:
    env = gym.make("sysgym/HybridStorage-Placement-v0", **QUICK).unwrapped
    _, info = env.reset(seed=0)
    assert info["action_mask"] is None
    assert env.action_masks().all() and len(env.action_masks()) == 2
    _, _, _, _, info = env.step(1)
    assert info["action_mask"] is None
    with pytest.raises(InvalidActionError, match="outside"):
        env.step(2)
