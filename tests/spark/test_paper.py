"""The UWFQ paper's small-job claims, on the model backend (mean over three seeds)."""

import gymnasium as gym
import numpy as np

import sysgym  # noqa: F401
from sysgym.envs.spark.baselines import FairPolicy, UWFQPolicy

ENV = "sysgym/SparkJobOrder-v0"
SEEDS = (0, 1, 2)


def small_job_rt(policy_cls, workload_name):
    values = []
    for seed in SEEDS:
        policy = policy_cls()
        policy.reset(seed)
        env = gym.make(ENV, workload=workload_name, **policy.env_overrides)
        obs, info = env.reset(seed=seed)
        done = False
        while not done:
            obs, _, terminated, truncated, info = env.step(policy.act(obs, info))
            done = terminated or truncated
        values.append(info["metrics"]["small_job_mean_response_time_s"])
    return float(np.mean(values))


def test_uwfq_halves_small_job_response_time_with_power_users():
    uwfq = small_job_rt(UWFQPolicy, "2_power_2_small_users")
    fair = small_job_rt(FairPolicy, "2_power_2_small_users")
    assert uwfq <= 0.5 * fair, (uwfq, fair)


def test_uwfq_beats_fair_for_small_jobs_next_to_large_users():
    uwfq = small_job_rt(UWFQPolicy, "2_large_2_small_users")
    fair = small_job_rt(FairPolicy, "2_large_2_small_users")
    assert uwfq < fair, (uwfq, fair)
