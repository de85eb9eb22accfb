"""The env's contract: checkers, spaces, determinism, pickling, errors, memory events, replicas and layers."""

from __future__ import annotations

import pickle
import warnings
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from sysgym.agents.random_policy import sample_action
from sysgym.envs.core.errors import ConfigError, InvalidActionError, UnknownNameError
from sysgym.envs.moe.actions import EP_ACTION, LLEP_DEFAULT, knobs_of
from sysgym.envs.moe.plan import check_conserves
from tests.moe.helpers import ENV_ID

MODES = [{"action": "knobs"}, {"action": "plan"}, {"action": "plan", "plan_experts": 0, "layers": 2}]


def make(**kwargs: Any) -> gym.Env[Any, Any]:
    return gym.make(ENV_ID, disable_env_checker=True, **{"batches": 6, **kwargs}).unwrapped


@pytest.mark.parametrize("kwargs", MODES)
def test_checkers_pass(kwargs: dict[str, Any]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gym_check_env(make(**kwargs), skip_render_check=True)
        sb3_check_env(make(**kwargs), warn=False)


def rollout(seed: int, **kwargs: Any) -> list[Any]:
    env = make(**kwargs)
    rng = np.random.default_rng(seed)
    obs, info = env.reset(seed=seed)
    out: list[Any] = [obs]
    while True:
        obs, reward, terminated, truncated, info = env.step(sample_action(env.action_space, info["action_mask"], rng))
        assert env.observation_space.contains(obs)
        out += [obs, reward]
        if terminated or truncated:
            return [*out, info["metrics"], info["samples"]]


@pytest.mark.parametrize("kwargs", MODES)
def test_seeded_rollouts_are_bit_identical(kwargs: dict[str, Any]) -> None:
    first, second = rollout(5, **kwargs), rollout(5, **kwargs)
    for a, b in zip(first, second, strict=True):
        if isinstance(a, dict):
            assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
        else:
            assert np.array_equal(a, b)
    assert not np.array_equal(rollout(6, **kwargs)[0], first[0])


def test_pickles_after_reset_and_continues_identically() -> None:
    env = make(workload="drift")
    env.reset(seed=2)
    clone = pickle.loads(pickle.dumps(env))
    a = env.step(LLEP_DEFAULT)
    b = clone.step(LLEP_DEFAULT)
    assert np.array_equal(a[0], b[0]) and a[1] == b[1]


def test_metrics_and_samples_at_episode_end() -> None:
    env = make(workload="hot4-80", batches=3, layers=2)
    env.reset(seed=0)
    steps = 0
    while True:
        _, reward, terminated, _, info = env.step(LLEP_DEFAULT)
        steps += 1
        assert reward < 0
        if terminated:
            break
    assert steps == 6
    assert set(info["metrics"]) >= {
        "mean_step_time_ms",
        "p99_step_time_ms",
        "peak_memory_gib",
        "weights_moved_gib",
        "oom_count",
    }
    assert len(info["samples"]["step_time_ms"]) == 6
    assert info["metrics"]["mean_step_time_ms"] >= info["metrics"]["mean_bound_ms"]


def test_observation_layout() -> None:
    env = make(workload="hot1-95")
    obs, info = env.reset(seed=0)
    n, p = 128, 8
    system = info["system"]
    assert obs[0] == pytest.approx(system.loads.max() / system.loads.sum(), rel=1e-6)
    assert np.all(np.diff(obs[:n]) <= 0)
    assert obs[n] == 0.0  # the hottest expert lives on device 0
    device_share = obs[3 * n + 4 * p : 3 * n + 5 * p]
    assert device_share[0] > 0.9 and device_share.sum() == pytest.approx(1.0, rel=1e-5)


def test_bad_input_raises_typed_errors() -> None:
    with pytest.raises(ConfigError, match="model must be one of"):
        make(model="gpt-5")
    with pytest.raises(ConfigError, match="must divide"):
        make(devices=3)
    with pytest.raises(ConfigError, match="unknown argument"):
        make(lambda_=2)
    with pytest.raises(UnknownNameError, match="balanced"):
        make(workload="hot3-95")
    with pytest.raises(ConfigError, match="no backend"):
        gym.make(ENV_ID, backend="cluster")
    env = make()
    env.reset(seed=0)
    with pytest.raises(InvalidActionError):
        env.step(10_000)


def test_every_plan_action_conserves_tokens() -> None:
    env = make(action="plan", workload="drift")
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    backend = env._backend  # type: ignore[attr-defined]
    for _ in range(5):
        action = sample_action(env.action_space, None, rng)
        check_conserves(backend.plan_for(action), backend.loads, 8)
        _, _, done, _, _ = env.step(action)
        if done:
            break


def test_out_of_memory_is_counted_and_penalised() -> None:
    env = make(workload="hot1-95", memory_gib=20.0, batches=2)
    env.reset(seed=0)
    _, ep_reward, _, _, _ = env.step(EP_ACTION)
    _, _, _, _, info = env.step(EP_ACTION)
    assert info["metrics"]["oom_count"] == 2
    assert info["metrics"]["peak_memory_gib"] > 20
    env.reset(seed=0)
    _, llep_reward, _, _, _ = env.step(LLEP_DEFAULT)
    _, _, _, _, info = env.step(LLEP_DEFAULT)
    assert info["metrics"]["oom_count"] == 0
    assert ep_reward < llep_reward - 10


def test_resident_replicas_save_copies() -> None:
    moved = {}
    for slots in (0, 4):
        env = make(workload="hot1-95", replica_slots=slots, batches=8)
        env.reset(seed=0)
        while True:
            *_, done, _, info = env.step(LLEP_DEFAULT)
            if done:
                break
        moved[slots] = info["metrics"]["weights_moved_gib"]
    assert moved[4] < moved[0] / 4


def test_knob_grid_decodes_the_paper_defaults() -> None:
    knobs = knobs_of(LLEP_DEFAULT)
    assert (knobs.lam, knobs.alpha, knobs.min_chunk) == (1.3, 1.0, 1024)
    assert knobs_of(EP_ACTION).lam == float("inf")
