"""The per-task overhead term (`task_overhead_s`) and the live-vs-model table that calibrates it."""

import gymnasium as gym
import pytest

import sysgym  # noqa: F401
from sysgym.envs.core.errors import ConfigError
from sysgym.envs.spark.baselines import FifoPolicy
from sysgym.envs.spark.sim import SparkSim
from sysgym.runtime.spark import compare

from .helpers import response_times, run, workload

ENV = "sysgym/SparkJobOrder-v0"
QUICK = {"workload": "2_large_2_small_users", "cores": 2, "time_scale": 0.5, "default_tasks": 2}


def test_overhead_holds_each_task_core_longer():
    # one job: a stage of two 2 s tasks on two cores, then a 0.5 s stage: 2 + 0.5 s of work, 2 tasks deep.
    wl = workload([(0, 0.0, ((2.0, 2.0), (0.5,)))])
    sim = SparkSim(2, 4, task_overhead=0.25)
    sim.load(wl)
    assert sim.done
    assert response_times(sim) == [pytest.approx(2.5 + 2 * 0.25)]
    assert sim.user_service[0] == pytest.approx(4.5 + 3 * 0.25)


def test_two_jobs_on_one_core_pay_overhead_per_task():
    wl = workload([(0, 0.0, ((1.0, 1.0),)), (1, 0.0, ((1.0,),))], cores=1)
    plain, _, _ = run(FifoPolicy(), wl, cores=1)
    sim = SparkSim(1, 4, task_overhead=0.5)
    sim.load(wl)
    more = not sim.done
    while more:
        sim.launch(sim.candidates[0])
        more = sim.advance()
    assert response_times(plain) == [2.0, 3.0]
    assert response_times(sim) == [pytest.approx(3.0), pytest.approx(4.5)]


def episode(**kwargs):
    env = gym.make(ENV, **QUICK, **kwargs)
    policy = FifoPolicy()
    obs, info = env.reset(seed=0)
    done = False
    while not done:
        obs, _, terminated, truncated, info = env.step(policy.act(obs, info))
        done = terminated or truncated
    return info["metrics"]


def test_default_is_no_overhead_and_overhead_raises_response_time():
    default = episode()
    assert episode(task_overhead_s=0.0) == default
    slower = episode(task_overhead_s=0.5)
    assert slower["mean_response_time_s"] > default["mean_response_time_s"] + 0.5
    assert slower["jobs_finished"] == default["jobs_finished"]


@pytest.mark.parametrize("value", [-0.1, 61.0])
def test_overhead_out_of_range_is_rejected(value):
    with pytest.raises(ConfigError, match="task_overhead_s"):
        gym.make(ENV, task_overhead_s=value)


def summary(values, extra):
    return {
        "env": ENV,
        "workload": "2_large_2_small_users",
        "seeds": [0],
        "env_kwargs": QUICK,
        "command": "sysgym eval ...",
        "policies": {
            p: {
                "mean_response_time_s": {"mean": v, "std": 0.0, "values": [v]},
                "small_job_mean_response_time_s": {"mean": v, "std": 0.0, "values": [v]},
                **{k: {"mean": x, "std": 0.0, "values": [x]} for k, x in extra.items()},
            }
            for p, v in values.items()
        },
    }


def test_table_reports_error_before_and_after_calibration():
    live = summary({"fifo": 20.0, "uwfq": 10.0}, {compare.OVERHEAD: 0.4, compare.EXCESS: 0.9, compare.LOAD: 5.0})
    model = summary({"fifo": 10.0, "uwfq": 5.0}, {})
    after = {"fifo": {compare.METRIC: 18.0, compare.SMALL: 18.0}, "uwfq": {compare.METRIC: 9.0, compare.SMALL: 9.0}}
    diag = {"fifo": {compare.METRIC: 21.0, compare.SMALL: 21.0}, "uwfq": {compare.METRIC: 11.0, compare.SMALL: 9.0}}
    text = compare.table(live, model, after, diag, "python -m sysgym.runtime.spark.compare a b --out c")
    assert "| fifo | 20.00 ± 0.00 | 10.00 | +50.0 % | 18.00 | +10.0 % | 21.00 | -5.0 % |" in text
    assert "task_overhead_s=0.400" in text and "task_overhead_s=0.900" in text
    assert "before 50.0 %, after 10.0 %, diagnostic 10.0 %" in text and "after meets it" in text
    assert "| uwfq | 0.400 | 0.900 | 5.00 |" in text
    assert text.count("(consistent)") == 2


def test_table_needs_live_diagnostics():
    old = summary({"fifo": 20.0}, {})
    with pytest.raises(ConfigError, match="live_task_overhead_s"):
        compare.table(old, old, {}, {}, "")


def test_run_model_uses_the_measured_overhead():
    live = summary({"fifo": 20.0}, {})
    plain = compare.run_model(live, ["fifo"], 0.0)
    slower = compare.run_model(live, ["fifo"], 0.5)
    assert plain["fifo"][compare.METRIC] == pytest.approx(episode()["mean_response_time_s"])
    assert slower["fifo"][compare.METRIC] > plain["fifo"][compare.METRIC]
