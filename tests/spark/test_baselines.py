import gymnasium as gym
import numpy as np
import pytest

import sysgym  # noqa: F401
from sysgym.envs.registry import spec
from sysgym.envs.spark.baselines import (
    BASELINES,
    CFQPolicy,
    DynamicPartitionPolicy,
    FairPolicy,
    FifoPolicy,
    SRPTOraclePolicy,
    UJFPolicy,
    UWFQPolicy,
)

from .helpers import response_times, run, workload

ENV = "sysgym/SparkJobOrder-v0"


def big_then_small():
    # user 0: 6 one-second tasks at t=0; user 1: 2 one-second tasks at t=0.5 (2 cores).
    return workload([(0, 0.0, ((1.0,) * 6,)), (1, 0.5, ((1.0, 1.0),))])


def test_registered_baseline_names():
    assert list(spec(ENV).baselines) == [
        "fifo",
        "fair",
        "ujf",
        "cfq",
        "uwfq",
        "uwfq-p",
        "dynamic-partition",
        "srpt-oracle",
    ]
    assert BASELINES["uwfq-p"].env_overrides == {"partitioning": True}


def test_fifo_keeps_the_big_job_first():
    sim, chosen, _ = run(FifoPolicy(), big_then_small())
    assert chosen[:2] == [0, 0]
    assert response_times(sim) == [3.0, 3.5]


@pytest.mark.parametrize("policy", [UWFQPolicy, CFQPolicy, SRPTOraclePolicy])
def test_estimate_based_schedulers_serve_the_small_job_at_the_first_free_cores(policy):
    sim, chosen, _ = run(policy(), big_then_small())
    assert chosen[:2] == [1, 1]
    # the small job takes both cores at t=1 and ends at t=2; the big one then finishes its last 4 tasks
    assert response_times(sim) == [4.0, 1.5]


def test_ujf_alternates_users_then_fifo_inside_a_user():
    wl = workload([(0, 0.0, ((2.0, 2.0),)), (0, 0.0, ((2.0, 2.0),)), (1, 0.0, ((2.0, 2.0),))])
    _, chosen, _ = run(UJFPolicy(), wl)
    # both pools idle: tie by pool name (u0); then u1 has fewer running tasks
    assert chosen[:2] == [0, 2]
    _, fifo_chosen, _ = run(FifoPolicy(), wl)
    assert fifo_chosen[:2] == [0, 0]


def test_ujf_within_a_user_prefers_the_job_with_fewer_running_tasks():
    wl = workload([(0, 0.0, ((2.0,) * 3,)), (0, 0.0, ((2.0,) * 3,))], users=1, cores=2)
    _, chosen, _ = run(UJFPolicy(), wl)
    assert chosen[:2] == [0, 1]


def test_dynamic_partition_caps_each_job_at_its_share():
    # 4 cores, 2 jobs: cap = 2 cores each, so the second job gets cores 3 and 4 although it is younger
    wl = workload([(0, 0.0, ((1.0,) * 8,)), (1, 0.0, ((1.0,) * 8,))], cores=4)
    _, chosen, _ = run(DynamicPartitionPolicy(), wl, cores=4)
    assert chosen[:4] == [0, 0, 1, 1]


def test_fair_equals_fifo_on_the_benchmark_deployment():
    runs = {}
    for policy in (FifoPolicy(), FairPolicy()):
        env = gym.make(ENV, workload="2_power_2_small_users")
        obs, info = env.reset(seed=2)
        actions = []
        done = False
        while not done:
            action = policy.act(obs, info)
            actions.append(action)
            obs, _, terminated, truncated, info = env.step(action)
            done = terminated or truncated
        runs[policy.name] = (actions, info["metrics"])
    assert runs["fifo"] == runs["fair"]


def test_every_baseline_finishes_an_episode_and_is_deterministic():
    for name, factory in spec(ENV).baselines.items():
        results = []
        for _ in range(2):
            policy = factory()
            env = gym.make(ENV, **{**spec(ENV).quick_kwargs, **policy.env_overrides})
            policy.reset(7)
            obs, info = env.reset(seed=7)
            done = False
            while not done:
                obs, _, terminated, truncated, info = env.step(policy.act(obs, info))
                done = terminated or truncated
            results.append(info["metrics"])
        assert results[0] == results[1], name
        assert np.isfinite(results[0]["mean_response_time_s"])


def test_ujf_has_zero_dvr_against_itself():
    policy = UJFPolicy()
    env = gym.make(ENV, workload="2_large_2_small_users")
    obs, info = env.reset(seed=4)
    done = False
    while not done:
        obs, _, terminated, truncated, info = env.step(policy.act(obs, info))
        done = terminated or truncated
    assert info["metrics"]["dvr"] == 0.0
