"""The live PySpark backend. Tests marked `spark` start a real JVM (local[2], a few small jobs from two users)."""

import os

import gymnasium as gym
import pytest

import sysgym  # noqa: F401
from sysgym.envs.core.errors import BackendUnavailableError
from sysgym.envs.spark.baselines import FifoPolicy, UWFQPolicy
from sysgym.runtime.spark.session import allocation_xml

ENV = "sysgym/SparkJobOrder-v0"
LIVE = {
    "backend": "live",
    "workload": "poisson",
    "poisson_users": 2,
    "poisson_rate_per_min": 30.0,
    "poisson_duration_s": 10.0,
    "cores": 2,
    "default_tasks": 2,
    "time_scale": 0.05,
    "live_timeout_s": 240.0,
}


def alive(pid):
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def test_missing_java_names_what_is_missing(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.delenv("JAVA_HOME", raising=False)
    with pytest.raises(BackendUnavailableError, match="Java"):
        gym.make(ENV, **LIVE)


def test_local_master_refuses_more_cores_than_cpus():
    with pytest.raises(BackendUnavailableError, match="CPUs"):
        gym.make(ENV, **{**LIVE, "cores": (os.cpu_count() or 1) + 1})


def test_allocation_file_declares_fair_user_pools():
    xml = allocation_xml(["alice", "bob"])
    assert xml.count("<schedulingMode>FAIR</schedulingMode>") == 2
    assert '<pool name="alice">' in xml


@pytest.mark.spark
def test_live_episode_then_failed_job_truncates_and_stops_spark():
    env = gym.make(ENV, **LIVE)
    backend = env.unwrapped._backend
    model = gym.make(ENV, **{**LIVE, "backend": "model"})
    try:
        policy = UWFQPolicy()
        obs, info = env.reset(seed=1)
        pid = backend.runtime.jvm_pid
        assert pid is not None and alive(pid)
        jobs = len(backend.state.workload.jobs)
        steps = 0
        done = False
        while not done:
            assert env.observation_space.contains(obs)
            obs, _, terminated, truncated, info = env.step(policy.act(obs, info))
            steps += 1
            done = terminated or truncated
        assert terminated and not truncated, info.get("error")
        assert info["metrics"]["jobs_finished"] == jobs
        assert len(info["samples"]["response_time_s"]) == jobs
        assert min(info["samples"]["response_time_s"]) > 0.0
        _, model_info = model.reset(seed=1)
        live_only = {
            "live_task_overhead_s",
            "live_task_slowdown",
            "live_task_fit_rms_s",
            "live_task_excess_s",
            "live_task_fit_excess_s",
            "live_episode_task_overhead_s",
            "live_episode_task_slowdown",
            "live_load_avg_1m",
        }
        metrics = info["metrics"]
        assert set(metrics) == set(_model_metrics(model, model_info)) | live_only
        # the start-up fit: real UDF tasks at >= 2 durations, a line with a non-negative fixed cost per task
        fit = backend.task_fit
        assert fit.samples >= 2 * 2 and metrics["live_task_overhead_s"] == fit.overhead_s
        assert 0.0 <= fit.overhead_s < 60.0 and 0.1 < fit.slowdown < 10.0 and fit.rms_s >= 0.0
        assert metrics["live_task_slowdown"] == fit.slowdown
        assert metrics["live_task_excess_s"] > 0.0 and metrics["live_load_avg_1m"] >= 0.0
        durations = [t for job in backend.state.workload.jobs for stage in job.stages for t in stage]
        predicted = fit.overhead_s + (fit.slowdown - 1.0) * sum(durations) / len(durations)
        assert metrics["live_task_fit_excess_s"] == pytest.approx(predicted)
        assert metrics["live_episode_task_overhead_s"] >= 0.0 and metrics["live_episode_task_slowdown"] > 0.0

        # second episode, same SparkSession and workload: the last-submitted job's tasks raise inside the UDF
        last = max(range(jobs), key=lambda j: backend.state.job_arrival[j])
        obs, info = env.reset(seed=1, options={"fail_job": last})
        fifo = FifoPolicy()
        done = False
        while not done:
            obs, _, terminated, truncated, info = env.step(fifo.act(obs, info))
            done = terminated or truncated
        assert truncated and not terminated
        assert "failed" in info["error"] and f"env job {last}" in info["error"]
        assert backend.runtime is None
        assert not alive(pid)
    finally:
        env.close()
    assert backend.runtime is None


def _model_metrics(model, info):
    done = False
    while not done:
        _, _, terminated, truncated, info = model.step(0)
        done = terminated or truncated
    return info["metrics"]
