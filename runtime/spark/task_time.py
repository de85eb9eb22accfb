"""The live task-time calibration: which nominal durations to time at start-up, and the fit `a + b * nominal`.

A released task's real time is not its nominal duration: every task pays a fixed cost (Spark's job scheduling,
task dispatch, the Python worker, result collection) and the CPU-burning UDF itself runs slower or faster than
the rate measured in the driver (the Python worker's own speed, both cores busy at once, other load on the
machine). Timing real UDF tasks at a few nominal durations and fitting a straight line separates the two: the
intercept `a` is the model's `task_overhead_s`, the slope `b` its `task_slowdown`. Pure functions, so the fit is
tested without a JVM.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from sysgym.envs.core.errors import ConfigError

QUANTILES = (0.0, 0.5, 0.9)
"""Calibration points: the shortest, the median and the 90th percentile of the workload's task durations."""


@dataclass(frozen=True)
class TaskTimeFit:
    """Real task time = overhead_s + slowdown * nominal duration, fitted by least squares.

    Attributes:
        overhead_s: fixed seconds per task (the intercept a, >= 0).
        slowdown: real UDF time per nominal second (the slope b).
        rms_s: root-mean-square residual of the fit over the timed tasks (s), how well a line explains them.
        samples: tasks timed.
    """

    overhead_s: float
    slowdown: float
    rms_s: float
    samples: int


def calibration_points(durations: Sequence[float]) -> tuple[float, ...]:
    """Distinct nominal durations spanning `durations` (quantiles `QUANTILES`, rounded to 1 ms).

    When the workload has a single task size, 0 is added (an empty task measures the intercept directly), so
    there are always at least two distinct points to fit a line through.
    """
    if not durations:
        raise ConfigError("cannot choose calibration points for a workload without tasks")
    ordered = sorted(durations)
    points = sorted({round(_quantile(ordered, q), 3) for q in QUANTILES})
    if len(points) < 2:
        points = sorted({0.0, *points})
    return tuple(points)


def _quantile(ordered: list[float], q: float) -> float:
    """Linear-interpolated quantile of an ascending list (numpy's default method)."""
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def fit_task_time(samples: Sequence[tuple[float, float]]) -> TaskTimeFit:
    """Least-squares line through (nominal, measured) task times, with the intercept kept >= 0.

    A negative intercept (noise when the fixed cost is small) would make short tasks cheaper than free, so the
    line is then refitted through the origin. Raises ConfigError with fewer than two distinct nominal values.
    """
    if len({x for x, _ in samples}) < 2:
        raise ConfigError(f"fitting task times needs at least two distinct nominal durations, got {list(samples)}")
    n = len(samples)
    mean_x = sum(x for x, _ in samples) / n
    mean_y = sum(y for _, y in samples) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in samples)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in samples)
    slope = sxy / sxx
    intercept = mean_y - slope * mean_x
    if intercept < 0.0:
        intercept = 0.0
        slope = sum(x * y for x, y in samples) / sum(x * x for x, _ in samples)
    rms = math.sqrt(sum((y - intercept - slope * x) ** 2 for x, y in samples) / n)
    return TaskTimeFit(intercept, slope, rms, n)
