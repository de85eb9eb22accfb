import math

import gymnasium as gym
import numpy as np
import pytest

import sysgym  # noqa: F401
from sysgym.envs.core.errors import ConfigError, InvalidActionError, UnknownNameError
from sysgym.envs.spark.baselines import FifoPolicy, SRPTOraclePolicy
from sysgym.envs.spark.sim import SparkSim
from sysgym.envs.spark.workload import isolated_runtime

from .helpers import response_times, run, workload

ENV = "sysgym/SparkJobOrder-v0"


def two_jobs():
    # job 0: two 4 s tasks; job 1: two 1 s tasks; both submitted at t=0 on two cores.
    return workload([(0, 0.0, ((4.0, 4.0),)), (1, 0.0, ((1.0, 1.0),))])


def test_two_jobs_fifo_on_two_cores_exact_response_times():
    sim, chosen, job_seconds = run(FifoPolicy(), two_jobs())
    # FIFO gives both cores to job 0 (done at 4 s), then job 1 runs 4-5 s.
    assert chosen == [0, 0]
    assert response_times(sim) == [4.0, 5.0]
    assert job_seconds == pytest.approx(9.0)


def test_two_jobs_srpt_runs_short_job_first():
    sim, chosen, _ = run(SRPTOraclePolicy(), two_jobs())
    assert chosen == [1, 1]
    assert response_times(sim) == [5.0, 1.0]


def test_stage_chain_waits_for_previous_stage():
    wl = workload([(0, 0.0, ((2.0, 3.0), (1.0,)))])
    sim = SparkSim(2, 4)
    sim.load(wl)
    assert sim.done  # a single job never needs a decision: both stages are forced
    assert response_times(sim) == [4.0]
    assert [entry[2] for entry in sim.stage_log] == [0, 1]
    assert [entry[0] for entry in sim.stage_log] == [0.0, 3.0]


def test_single_runnable_job_is_dispatched_without_a_decision():
    # Job 1 arrives while job 0 holds both cores; a decision only happens when a core frees with both waiting.
    wl = workload([(0, 0.0, ((1.0, 1.0, 1.0),)), (1, 0.5, ((1.0,),))])
    sim, chosen, _ = run(FifoPolicy(), wl)
    assert chosen == [0]
    assert response_times(sim) == [2.0, 1.5]


def test_isolated_runtime_list_schedules_waves():
    assert isolated_runtime(((1.0, 1.0, 1.0),), 2) == 2.0
    assert isolated_runtime(((3.0, 1.0, 1.0, 1.0), (0.5,)), 2) == 3.5


@pytest.mark.parametrize("workload_name", ["2_large_2_small_users", "4_super_small_users"])
@pytest.mark.parametrize("fairness_weight", [0.0, 2.0])
def test_return_is_minus_total_response_time(workload_name, fairness_weight):
    env = gym.make(ENV, workload=workload_name, fairness_weight=fairness_weight)
    rng = np.random.default_rng(3)
    _, info = env.reset(seed=3)
    total = 0.0
    starved = 0.0
    done = False
    while not done:
        action = int(rng.choice(np.flatnonzero(info["action_mask"])))
        _obs, reward, terminated, truncated, info = env.step(action)
        total += reward
        done = terminated or truncated
    response = sum(info["samples"]["response_time_s"])
    if fairness_weight == 0.0:
        assert total == pytest.approx(-response, rel=1e-9)
    else:
        starved = -(total + response) / fairness_weight
        assert starved > 0.0
    assert info["metrics"]["jobs_finished"] == len(info["samples"]["response_time_s"])
    assert info["metrics"]["mean_response_time_s"] == pytest.approx(response / len(info["samples"]["response_time_s"]))


def test_metric_names_and_values():
    env = gym.make(ENV, workload="2_large_2_small_users")
    _, info = env.reset(seed=0)
    done = False
    while not done:
        _obs, _, terminated, truncated, info = env.step(0)
        done = terminated or truncated
    metrics = info["metrics"]
    assert set(metrics) == {
        "mean_response_time_s",
        "small_job_mean_response_time_s",
        "p90_response_time_s",
        "mean_slowdown",
        "dvr",
        "makespan_s",
        "jobs_finished",
    }
    assert metrics["jobs_finished"] == 20
    assert metrics["mean_slowdown"] >= 1.0 - 1e-9
    assert metrics["p90_response_time_s"] >= metrics["mean_response_time_s"] * 0.5
    assert metrics["dvr"] >= 0.0
    assert len(info["samples"]["response_time_s"]) == 20


def test_no_small_jobs_gives_nan_small_metric():
    env = gym.make(ENV, workload="4_large_users")
    _, info = env.reset(seed=0)
    done = False
    while not done:
        _obs, _, terminated, truncated, info = env.step(0)
        done = terminated or truncated
    assert math.isnan(info["metrics"]["small_job_mean_response_time_s"])


def test_observation_in_bounds_and_mask_matches_candidates():
    env = gym.make(ENV, workload="2_power_2_small_users", max_candidates=8)
    obs, info = env.reset(seed=1)
    rng = np.random.default_rng(1)
    for _ in range(300):
        assert env.observation_space.contains(obs)
        system = info["system"]
        assert info["action_mask"].sum() == len(system.candidates) >= 2
        assert system.free_cores >= 1
        seqs = [system.job_seq[j] for j in system.candidates]
        assert seqs == sorted(seqs)
        assert all(system.job_waiting[j] > 0 for j in system.candidates)
        # slot 0 is always the globally oldest runnable job
        assert system.job_seq[system.candidates[0]] == min(system._runnable)
        assert obs[8 * 8 + 0] == 1.0  # valid flag of slot 0 (feature-major layout)
        obs, _, terminated, _, info = env.step(int(rng.choice(np.flatnonzero(info["action_mask"]))))
        if terminated:
            break


def test_partitioning_keeps_arrivals_and_changes_task_counts():
    plain = gym.make(ENV, workload="poisson").unwrapped
    split = gym.make(ENV, workload="poisson", partitioning=True).unwrapped
    plain.reset(seed=5)
    split.reset(seed=5)
    a = plain._backend.sim.workload
    b = split._backend.sim.workload
    assert [s.start for s in a.streams] == [s.start for s in b.streams]
    assert [j.job_class for j in a.jobs] == [j.job_class for j in b.jobs]
    assert len(b.jobs[0].stages[0]) in (16, 40, 222)
    assert len(a.jobs[0].stages[0]) == 12


def test_bad_input_is_rejected_with_typed_errors():
    with pytest.raises(ConfigError, match="cores"):
        gym.make(ENV, cores=-4)
    with pytest.raises(UnknownNameError, match="2_power_2_small_users"):
        gym.make(ENV, workload="no_such_scenario")
    with pytest.raises(ConfigError, match="unknown argument"):
        gym.make(ENV, corez=4)
    with pytest.raises(ConfigError, match="backend"):
        gym.make(ENV, backend="gpu")
    env = gym.make(ENV, workload="2_large_2_small_users")
    _, info = env.reset(seed=0)
    masked = int(np.flatnonzero(~info["action_mask"])[0])
    with pytest.raises(InvalidActionError, match="masked"):
        env.step(masked)
    with pytest.raises(InvalidActionError):
        env.step(99)


def test_time_scale_scales_every_time_metric_exactly():
    results = []
    for scale in (1.0, 0.25):
        env = gym.make(ENV, workload="2_large_2_small_users", time_scale=scale)
        _, info = env.reset(seed=6)
        done = False
        while not done:
            _, _, terminated, truncated, info = env.step(0)
            done = terminated or truncated
        results.append(info["metrics"])
    full, quarter = results
    for key in ("mean_response_time_s", "p90_response_time_s", "makespan_s", "small_job_mean_response_time_s"):
        assert quarter[key] == pytest.approx(full[key] * 0.25, rel=1e-6)
    assert quarter["mean_slowdown"] == pytest.approx(full["mean_slowdown"], rel=1e-6)
