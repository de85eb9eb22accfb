"""The start-up task-time fit (`real = a + b * nominal`) and the choice of calibration durations."""

import pytest

from sysgym.envs.core.errors import ConfigError
from sysgym.runtime.spark.task_time import calibration_points, fit_task_time


def test_exact_line_is_recovered():
    samples = [(x, 0.5 + 1.3 * x) for x in (0.025, 1.0, 5.5) for _ in range(2)]
    fit = fit_task_time(samples)
    assert fit.overhead_s == pytest.approx(0.5)
    assert fit.slowdown == pytest.approx(1.3)
    assert fit.rms_s == pytest.approx(0.0, abs=1e-12)
    assert fit.samples == 6


def test_noisy_fit_is_least_squares():
    # points (0, 1), (1, 2), (2, 4): slope = sxy / sxx = 3 / 2, intercept = 7/3 - 1.5 = 5/6
    fit = fit_task_time([(0.0, 1.0), (1.0, 2.0), (2.0, 4.0)])
    assert fit.slowdown == pytest.approx(1.5)
    assert fit.overhead_s == pytest.approx(5 / 6)
    residuals = [1.0 - 5 / 6, 2.0 - 5 / 6 - 1.5, 4.0 - 5 / 6 - 3.0]
    assert fit.rms_s == pytest.approx((sum(r * r for r in residuals) / 3) ** 0.5)


def test_negative_intercept_refits_through_origin():
    # the free line is y = -0.5 + 2x; the intercept is clamped to 0 and b = sum(xy) / sum(xx) = (1.5 + 16.5) / 10
    fit = fit_task_time([(1.0, 1.5), (3.0, 5.5)])
    assert fit.overhead_s == 0.0
    assert fit.slowdown == pytest.approx(1.8)


@pytest.mark.parametrize("samples", [[], [(1.0, 1.2)], [(1.0, 1.2), (1.0, 1.4)]])
def test_fit_needs_two_distinct_durations(samples):
    with pytest.raises(ConfigError, match="two distinct"):
        fit_task_time(samples)


def test_points_span_shortest_median_and_p90():
    durations = [0.025] * 20 + [1.0] * 20 + [float(x) for x in range(2, 12)]
    # 50 sorted values: median between items 24 and 25 (both 1.0), p90 at position 44.1: 6 + 0.1 * (7 - 6)
    assert calibration_points(durations) == (0.025, 1.0, 6.1)


def test_points_of_a_single_task_size_add_an_empty_task():
    assert calibration_points([0.3, 0.3, 0.3]) == (0.0, 0.3)


def test_points_need_tasks():
    with pytest.raises(ConfigError, match="without tasks"):
        calibration_points([])


def test_episode_task_metrics_compare_real_times_with_the_start_up_fit():
    from sysgym.runtime.spark.live import _episode_task_times
    from sysgym.runtime.spark.task_time import TaskTimeFit

    timed = [(1.0, 1.5), (3.0, 4.1), (0.025, 0.3)]
    metrics = _episode_task_times(timed, TaskTimeFit(0.2, 1.2, 0.0, 6))
    assert metrics["live_task_excess_s"] == pytest.approx((0.5 + 1.1 + 0.275) / 3)
    assert metrics["live_task_fit_excess_s"] == pytest.approx(0.2 + 0.2 * (1.0 + 3.0 + 0.025) / 3)
    own = fit_task_time(timed)
    assert metrics["live_episode_task_overhead_s"] == own.overhead_s
    assert metrics["live_episode_task_slowdown"] == own.slowdown
    single = _episode_task_times([(1.0, 1.5), (1.0, 1.7)], TaskTimeFit(0.2, 1.2, 0.0, 6))
    assert single["live_task_excess_s"] == pytest.approx(0.6)
    assert single["live_episode_task_slowdown"] != single["live_episode_task_slowdown"]  # NaN: no line
