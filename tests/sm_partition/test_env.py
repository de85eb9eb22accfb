import pickle

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import sysgym  # noqa: F401
from sysgym.envs.core.errors import ConfigError, TraceFormatError
from sysgym.envs.sm_partition.backend import partitions
from sysgym.envs.sm_partition.baselines import BASELINES, DynamicPartition

QUICK = {"requests": 200, "rate": 30.0}


def rollout(seed: int, **kw: object) -> tuple[list[np.ndarray], list[float], dict[str, float]]:
    env = gym.make("sysgym/SMPartition-v0", **{**QUICK, **kw})
    obs, info = env.reset(seed=seed)
    env.action_space.seed(seed)
    observations, rewards = [obs], []
    while True:
        action = env.action_space.sample(mask=info["action_mask"].astype(np.int8))
        obs, reward, term, trunc, info = env.step(action)
        observations.append(obs)
        rewards.append(float(reward))
        if term or trunc:
            return observations, rewards, info["metrics"]


def test_env_checker_and_pickle() -> None:
    env = gym.make("sysgym/SMPartition-v0", **QUICK)
    check_env(env.unwrapped, skip_render_check=True)
    env.reset(seed=1)
    clone = pickle.loads(pickle.dumps(env))
    assert clone.unwrapped.config == env.unwrapped.config


def test_seeded_rollouts_are_identical() -> None:
    a, b = rollout(7), rollout(7)
    assert all(np.array_equal(x, y) for x, y in zip(a[0], b[0], strict=True))
    assert a[1] == b[1] and a[2] == b[2]
    for obs in a[0]:
        assert obs.dtype == np.float32 and np.all(obs >= 0) and np.all(obs <= 1)


def test_action_set_is_green_context_granular() -> None:
    parts = partitions(132)
    assert len(parts) == 17
    assert parts[0] == (8, 124, False) and parts[15] == (128, 4, False) and parts[16] == (132, 132, True)
    assert all(p % 8 == 0 for p, _, over in parts if not over)


def test_baseline_deployments_mask_the_split() -> None:
    env = gym.make("sysgym/SMPartition-v0", system="vllm-chunked", **QUICK)
    _, info = env.reset(seed=0)
    assert info["action_mask"].tolist() == [False] * 16 + [True]


def test_switch_costs_the_measured_green_context_time() -> None:
    env = gym.make("sysgym/SMPartition-v0", **QUICK)
    env.reset(seed=0)
    backend = env.unwrapped._backend
    assert 1.4e-3 < backend.switch_s < 2.0e-3
    env.step(3)
    assert backend.engine.workers[0].sms == 32 and backend.engine.workers[1].sms == 100


def test_bad_config_and_trace_errors() -> None:
    with pytest.raises(ConfigError, match="rate"):
        gym.make("sysgym/SMPartition-v0", rate=-1.0)
    with pytest.raises(ConfigError, match="initial_action"):
        gym.make("sysgym/SMPartition-v0", initial_action=40)
    with pytest.raises(TraceFormatError):
        gym.make("sysgym/SMPartition-v0", workload="/nonexistent/trace.csv")


def test_trace_workload(tmp_path: object) -> None:
    import pathlib

    path = pathlib.Path(str(tmp_path)) / "t.csv"
    path.write_text(
        "arrival_s,prompt_tokens,output_tokens\n" + "".join(f"{i * 0.05},{200 + i},{30}\n" for i in range(40))
    )
    _, _, metrics = rollout(0, workload=str(path))
    assert metrics["finished"] == 40


def test_every_baseline_runs_an_episode() -> None:
    for name, factory in BASELINES.items():
        policy = factory()
        kw = {**QUICK, "requests": 120, **policy.env_overrides}
        env = gym.make("sysgym/SMPartition-v0", **kw)
        obs, info = env.reset(seed=0)
        policy.reset(0)
        while True:
            obs, _, term, trunc, info = env.step(policy.act(obs, info))
            if term or trunc:
                break
        assert info["metrics"]["finished"] == 120, name


def test_dynamic_raises_prefill_share_when_only_ttft_misses() -> None:
    env = gym.make("sysgym/SMPartition-v0", **QUICK, initial_action=1)
    obs, info = env.reset(seed=0)
    view = info["system"]
    policy = DynamicPartition()
    assert policy.act(obs, info) == 1
    view.p90_ttft_s, view.p90_tpot_s = 10 * view.slo.ttft_s, 0.5 * view.slo.tpot_s
    view.window.ttft.append(view.p90_ttft_s)
    view.rate_rps, view.l100_s = 30.0, 0.005
    up = policy.act(obs, info)
    assert view.partitions[up][0] > view.partitions[1][0]
    view.p90_ttft_s, view.p90_tpot_s = 0.5 * view.slo.ttft_s, 10 * view.slo.tpot_s
    view.action = 8
    down = policy.act(obs, info)
    assert view.partitions[down][0] < view.partitions[8][0]


def test_windows_advance_time_without_jumps() -> None:
    env = gym.make("sysgym/SMPartition-v0", **QUICK, window_iters=10)
    env.reset(seed=0)
    engine = env.unwrapped._backend.engine
    last = 0.0
    for _ in range(5):
        env.step(16)
        assert 0 < engine.now - last < 1.0
        assert all(event[0] >= engine.now for event in engine._events)
        last = engine.now


def test_dynamic_keeps_oversubscription_on_ttft_miss_and_leaves_it_on_tpot_miss() -> None:
    env = gym.make("sysgym/SMPartition-v0", **QUICK)
    obs, info = env.reset(seed=0)
    view = info["system"]
    policy = DynamicPartition()
    assert policy.act(obs, info) == 16
    view.window.ttft.append(1.0)
    view.p90_ttft_s, view.p90_tpot_s = 10 * view.slo.ttft_s, 0.5 * view.slo.tpot_s
    assert policy.act(obs, info) == 16
    view.p90_ttft_s, view.p90_tpot_s = 0.5 * view.slo.ttft_s, 10 * view.slo.tpot_s
    down = policy.act(obs, info)
    assert not view.partitions[down][2] and view.partitions[down][0] <= 64
