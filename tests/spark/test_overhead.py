"""The per-task terms of the model (`task_overhead_s`, `task_slowdown`) and the live-vs-model table."""

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


def test_one_job_alone_with_slowdown_takes_b_times_duration_plus_a():
    # one 2 s task alone on two cores: 1.5 x 2 + 0.25 = 3.25 s; its user is served that whole time
    wl = workload([(0, 0.0, ((2.0,),))])
    sim = SparkSim(2, 4, task_overhead=0.25, task_slowdown=1.5)
    sim.load(wl)
    assert sim.done
    assert response_times(sim) == [pytest.approx(3.25)]
    assert sim.user_service[0] == pytest.approx(3.25)
    # two stages (two 2 s tasks in parallel, then 0.5 s): (1.5 x 2 + 0.25) + (1.5 x 0.5 + 0.25) = 4.25 s
    chain = workload([(0, 0.0, ((2.0, 2.0), (0.5,)))])
    sim.load(chain)
    assert response_times(sim) == [pytest.approx(4.25)]


def test_slowdown_below_one_shortens_tasks():
    wl = workload([(0, 0.0, ((1.0, 1.0),)), (1, 0.0, ((1.0,),))], cores=1)
    sim = SparkSim(1, 4, task_slowdown=0.5)
    sim.load(wl)
    more = not sim.done
    while more:
        sim.launch(sim.candidates[0])
        more = sim.advance()
    assert response_times(sim) == [pytest.approx(1.0), pytest.approx(1.5)]


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


def episode(seed=0, **kwargs):
    env = gym.make(ENV, **QUICK, **kwargs)
    policy = FifoPolicy()
    obs, info = env.reset(seed=seed)
    done = False
    while not done:
        obs, _, terminated, truncated, info = env.step(policy.act(obs, info))
        done = terminated or truncated
    return info["metrics"]


def test_default_is_no_overhead_and_overhead_raises_response_time():
    default = episode()
    assert episode(task_overhead_s=0.0, task_slowdown=1.0) == default
    slower = episode(task_overhead_s=0.5)
    assert slower["mean_response_time_s"] > default["mean_response_time_s"] + 0.5
    assert slower["jobs_finished"] == default["jobs_finished"]


def test_slowdown_raises_response_time_and_keeps_jobs():
    default = episode()
    slower = episode(task_slowdown=1.5)
    assert slower["mean_response_time_s"] > 1.2 * default["mean_response_time_s"]
    assert slower["jobs_finished"] == default["jobs_finished"]


@pytest.mark.parametrize("value", [-0.1, 61.0])
def test_overhead_out_of_range_is_rejected(value):
    with pytest.raises(ConfigError, match="task_overhead_s"):
        gym.make(ENV, task_overhead_s=value)


@pytest.mark.parametrize("value", [0.0, 0.05, 10.5])
def test_slowdown_out_of_range_is_rejected(value):
    with pytest.raises(ConfigError, match="task_slowdown"):
        gym.make(ENV, task_slowdown=value)


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


LIVE_EXTRA = {
    compare.OVERHEAD: 0.4,
    compare.SLOWDOWN: 1.25,
    compare.RMS: 0.1,
    compare.EXCESS: 0.9,
    compare.FIT_EXCESS: 0.8,
    compare.OWN_OVERHEAD: 0.3,
    compare.OWN_SLOWDOWN: 1.5,
    compare.LOAD: 5.0,
}


def test_table_reports_error_before_and_after_calibration():
    live = summary({"fifo": 20.0, "uwfq": 10.0}, LIVE_EXTRA)
    model = summary({"fifo": 10.0, "uwfq": 5.0}, {})
    after = {"fifo": {compare.METRIC: 18.0, compare.SMALL: 18.0}, "uwfq": {compare.METRIC: 9.0, compare.SMALL: 9.0}}
    diag = {"fifo": {compare.METRIC: 21.0, compare.SMALL: 21.0}, "uwfq": {compare.METRIC: 11.0, compare.SMALL: 9.0}}
    own = {"fifo": {compare.METRIC: 19.0, compare.SMALL: 19.0}, "uwfq": {compare.METRIC: 9.5, compare.SMALL: 9.0}}
    text = compare.table(live, model, after, diag, own, "python -m sysgym.runtime.spark.compare a b --out c")
    assert "| fifo | 20.00 ± 0.00 | 10.00 | +50.0 % | 18.00 | +10.0 % | 21.00 | -5.0 % | 19.00 | +5.0 % |" in text
    assert "a = 0.400 s and b = 1.250 on average" in text and "(a 0.400-0.400 s, b 1.250-1.250)" in text
    assert "0.900 s on average" in text and "a = 0.300 s and b = 1.500 on average" in text
    assert "measured its own a and b at start-up" in text and "Nothing is read from the compared episodes" in text
    assert "before 50.0 %, after 10.0 %, diagnostic 10.0 %, episode fit 5.0 %" in text and "after meets it" in text
    assert "| uwfq | 0.400 | 1.250 | 0.100 | 0.900 | 0.800 | 0.300 / 1.500 | 5.00 |" in text
    assert text.count("(consistent)") == 2


def test_table_misses_goal_on_error_or_ranking():
    live = summary({"fifo": 20.0, "uwfq": 10.0}, LIVE_EXTRA)
    model = summary({"fifo": 10.0, "uwfq": 5.0}, {})
    far = {"fifo": {compare.METRIC: 14.0, compare.SMALL: 14.0}, "uwfq": {compare.METRIC: 9.0, compare.SMALL: 9.0}}
    assert "after misses it)" in compare.table(live, model, far, far, far, "")
    close = summary({"fifo": 20.0, "uwfq": 19.0}, LIVE_EXTRA)
    swapped = {"fifo": {compare.METRIC: 18.5, compare.SMALL: 18.0}, "uwfq": {compare.METRIC: 19.5, compare.SMALL: 9.0}}
    text = compare.table(close, model, swapped, swapped, swapped, "")
    assert "(NOT consistent)" in text and "after misses it on the ranking" in text


def test_policies_with_identical_decisions_are_left_out_of_the_ranking_check():
    # fifo and fair tie in the uncalibrated model; calibrated per episode they differ, opposite to live
    live = summary({"fifo": 20.0, "fair": 19.0, "uwfq": 10.0}, LIVE_EXTRA)
    model = summary({"fifo": 15.0, "fair": 15.0, "uwfq": 11.0}, {})
    after = {
        "fifo": {compare.METRIC: 19.0, compare.SMALL: 19.0},
        "fair": {compare.METRIC: 20.0, compare.SMALL: 20.0},
        "uwfq": {compare.METRIC: 10.5, compare.SMALL: 10.0},
    }
    text = compare.table(live, model, after, after, after, "")
    assert "after uwfq < fifo < fair (consistent)" in text and "after meets it" in text
    slower_uwfq = {**after, "uwfq": {compare.METRIC: 19.5, compare.SMALL: 10.0}}
    assert "(NOT consistent)" in compare.table(live, model, slower_uwfq, after, after, "")


def test_table_needs_live_diagnostics():
    old = summary({"fifo": 20.0}, {})
    with pytest.raises(ConfigError, match="live_task_overhead_s"):
        compare.table(old, old, {}, {}, {}, "")
    no_fit = summary({"fifo": 20.0}, {compare.OVERHEAD: 0.4, compare.EXCESS: 0.9, compare.LOAD: 5.0})
    with pytest.raises(ConfigError, match="live_task_slowdown"):
        compare.table(no_fit, no_fit, {}, {}, {}, "")


def test_run_model_uses_the_measured_overhead():
    live = summary({"fifo": 20.0}, {})
    plain = compare.run_model(live, ["fifo"], 0.0)
    slower = compare.run_model(live, ["fifo"], 0.5)
    scaled = compare.run_model(live, ["fifo"], 0.5, 1.5)
    assert plain["fifo"][compare.METRIC] == pytest.approx(episode()["mean_response_time_s"])
    assert slower["fifo"][compare.METRIC] > plain["fifo"][compare.METRIC]
    assert scaled["fifo"][compare.METRIC] == pytest.approx(
        episode(task_overhead_s=0.5, task_slowdown=1.5)["mean_response_time_s"]
    )
    assert scaled["fifo"][compare.METRIC] > slower["fifo"][compare.METRIC]


def test_run_model_calibrates_each_episode_with_its_own_live_fit():
    live = summary({"fifo": 20.0}, {})
    live["seeds"] = [0, 1]
    live["policies"]["fifo"][compare.OVERHEAD] = {"mean": 0.35, "std": 0.15, "values": [0.2, 0.5]}
    live["policies"]["fifo"][compare.SLOWDOWN] = {"mean": 1.25, "std": 0.25, "values": [1.5, 1.0]}
    live["policies"]["fifo"][compare.EXCESS] = {"mean": -0.1, "std": 0.0, "values": [-0.1, -0.1]}
    per_episode = compare.run_model(live, ["fifo"], compare.OVERHEAD, compare.SLOWDOWN)
    expected = [
        episode(0, task_overhead_s=0.2, task_slowdown=1.5)[compare.METRIC],
        episode(1, task_overhead_s=0.5, task_slowdown=1.0)[compare.METRIC],
    ]
    assert per_episode["fifo"][compare.METRIC] == pytest.approx(sum(expected) / 2)
    clipped = compare.run_model(live, ["fifo"], compare.EXCESS)
    assert clipped["fifo"][compare.METRIC] == pytest.approx(
        (episode(0)[compare.METRIC] + episode(1)[compare.METRIC]) / 2
    )
    with pytest.raises(ConfigError, match="live_task_fit_rms_s"):
        compare.run_model(live, ["fifo"], compare.RMS)
