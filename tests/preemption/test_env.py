from __future__ import annotations

import contextlib
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sysgym.envs.core.errors import BackendUnavailableError, ConfigError, TraceFormatError, UnknownNameError
from sysgym.envs.preemption.trace import load_conversations
from sysgym.envs.registry import spec

SPEC = spec("sysgym/Preemption-v0")
QUICK = dict(SPEC.quick_kwargs)


def run(policy_name: str, **overrides: object) -> dict[str, float]:
    policy = SPEC.baselines[policy_name]()
    env = gym.make("sysgym/Preemption-v0", **{**QUICK, **policy.env_overrides, **overrides})
    obs, info = env.reset(seed=0)
    policy.reset(0)
    while True:
        assert env.observation_space.contains(obs)
        obs, _, terminated, truncated, info = env.step(policy.act(obs, info))
        if terminated or truncated:
            return dict(info["metrics"])


def test_every_baseline_finishes_the_quick_workload() -> None:
    results = {name: run(name) for name in SPEC.baselines}
    finished = {m["finished"] for m in results.values()}
    assert len(finished) == 1, "every policy serves the same turns"
    assert results["fcfs"]["preemptions"] <= results["vllm-swap"]["preemptions"]
    assert results["vllm-recompute"]["swap_gib"] == 0.0
    assert results["fastswitch"]["reused_gib"] > 0.0
    for metrics in results.values():
        assert metrics["simulated_s"] > 0 and 0 < metrics["fairness_jain"] <= 1


def test_fastswitch_beats_vllm_swap_on_tails_with_the_same_priorities() -> None:
    fast = run("fastswitch")
    slow = run("vllm-swap")
    assert fast["p99_ttft_s"] < slow["p99_ttft_s"]
    assert fast["p999_tbt_s"] < slow["p999_tbt_s"]


def test_choose_recompute_variant_doubles_the_action() -> None:
    env = gym.make("sysgym/Preemption-v0", **QUICK, choose_recompute=True)
    assert env.action_space.shape == (2 * QUICK.get("candidates", 32),)
    env.reset(seed=1)
    action = np.ones(env.action_space.shape, dtype=np.float32)
    _, _, terminated, _, info = env.step(action)
    assert not terminated or "metrics" in info


def test_bad_names_list_the_known_ones() -> None:
    with pytest.raises(UnknownNameError, match="fastswitch"):
        gym.make("sysgym/Preemption-v0", mechanism="nope")
    with pytest.raises(UnknownNameError, match="multiturn"):
        gym.make("sysgym/Preemption-v0", workload="no-such-workload")
    with pytest.raises(ConfigError, match="update_freq"):
        gym.make("sysgym/Preemption-v0", update_freq=2.0)


def test_live_backend_refuses_without_cuda() -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(BackendUnavailableError, match="CUDA"):
        gym.make("sysgym/Preemption-v0", backend="live")


def test_trace_workload_runs(tmp_path: Path) -> None:
    trace = tmp_path / "conv.csv"
    rows = [
        "arrival_s,prompt_tokens,output_tokens,user,conversation,turn",
        "0,200,100,1,0,0",
        "0.5,300,50,0,1,0",
        "2,500,100,1,0,1",
        "4,800,100,1,0,2",
    ]
    trace.write_text("\n".join(rows) + "\n")
    work = load_conversations(trace, users=2, max_context=8192)
    assert work.count == 2
    assert list(np.diff(work.first)) == [3, 1]
    assert list(work.prompt_tokens[:3]) == [200, 200, 200]
    metrics = run("fcfs", workload=str(trace), users=2)
    assert metrics["finished"] == 4
    with pytest.raises(TraceFormatError, match=r"conv.csv:2: user 1 is not below the env's users=1"):
        load_conversations(trace, users=1, max_context=8192)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=300))
def test_trace_loader_on_random_bytes(tmp_path: Path, data: bytes) -> None:
    trace = tmp_path / "random.csv"
    trace.write_bytes(data)
    with contextlib.suppress(TraceFormatError):
        load_conversations(trace, users=4, max_context=8192)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(position=st.integers(0, 120), replacement=st.sampled_from(["", ",", "x", "-1", "\n", "99999999999", "1e400"]))
def test_trace_loader_on_mutated_valid_files(tmp_path: Path, position: int, replacement: str) -> None:
    text = (
        "arrival_s,prompt_tokens,output_tokens,user,conversation,turn\n0,100,20,0,0,0\n1.5,220,30,1,0,1\n2,50,5,2,1,0\n"
    )
    cut = min(position, len(text))
    trace = tmp_path / "mutated.csv"
    trace.write_text(text[:cut] + replacement + text[cut + 1 :])
    try:
        work = load_conversations(trace, users=4, max_context=8192)
        assert work.turns >= 1
    except TraceFormatError:
        pass
