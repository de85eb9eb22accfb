"""A drawn workload: the jobs of one episode and the user threads that submit them.

Jobs are fixed when the episode starts (their task durations and estimates are drawn from the episode's rng),
but arrivals of closed-loop (SEQ) users depend on when their previous job finishes, so a workload keeps the
submission programme (`Stream`) rather than a list of arrival times.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class JobSpec:
    """One Spark job: a chain of stages of non-preemptive tasks.

    Attributes:
        user: index into `Workload.users`.
        job_class: index into `Workload.classes` (`small`, `large`, `power`, ...).
        stages: task durations (s) of each stage, in execution order.
        estimate: runtime estimate in core-seconds, what estimate-based schedulers and the observation see.
        isolated: runtime of the job alone on the application's cores (s), the slowdown denominator.
    """

    user: int
    job_class: int
    stages: tuple[tuple[float, ...], ...]
    estimate: float
    isolated: float


@dataclass(frozen=True)
class Stream:
    """One user driver thread of the UWFQ benchmark.

    Attributes:
        jobs: indices of the jobs it submits, in order.
        start: time of its first submission (s).
        sequential: SEQ (wait for each job to finish before the think time) or PARA (open loop).
        think: think time after each submission (s), drawn when the workload is built.
    """

    jobs: tuple[int, ...]
    start: float
    sequential: bool
    think: tuple[float, ...]


@dataclass(frozen=True)
class Workload:
    """Everything one episode runs.

    Attributes:
        name: the scenario name or trace path.
        users: user names, in order of first appearance.
        classes: job class names.
        jobs: every job of the episode.
        streams: the submission programme.
    """

    name: str
    users: tuple[str, ...]
    classes: tuple[str, ...]
    jobs: tuple[JobSpec, ...]
    streams: tuple[Stream, ...]


def scaled(workload: Workload, factor: float) -> Workload:
    """`workload` with every time multiplied by `factor` (durations, estimates, starts, think times)."""
    if factor == 1.0:
        return workload
    jobs = tuple(
        JobSpec(
            j.user,
            j.job_class,
            tuple(tuple(d * factor for d in stage) for stage in j.stages),
            j.estimate * factor,
            j.isolated * factor,
        )
        for j in workload.jobs
    )
    streams = tuple(
        Stream(s.jobs, s.start * factor, s.sequential, tuple(t * factor for t in s.think)) for s in workload.streams
    )
    return Workload(workload.name, workload.users, workload.classes, jobs, streams)


def isolated_runtime(stages: tuple[tuple[float, ...], ...], cores: int) -> float:
    """Runtime of a job alone on `cores`, greedy list scheduling per stage (what Spark's offers do)."""
    total = 0.0
    for tasks in stages:
        if len(tasks) <= cores:
            total += max(tasks)
            continue
        free = [0.0] * cores
        for duration in tasks:
            heapq.heapreplace(free, free[0] + duration)
        total += max(free)
    return total


def skewed(rng: np.random.Generator, count: int, duration: float, sigma: float) -> tuple[float, ...]:
    """`count` task durations with mean `duration` and lognormal spread `sigma` (data skew across splits)."""
    if sigma == 0.0:
        return (duration,) * count
    factors = rng.lognormal(-0.5 * sigma * sigma, sigma, size=count)
    return tuple(float(x) for x in np.maximum(duration * factors, MIN_TASK_S))


MIN_TASK_S = 0.01
"""Shortest task the model runs: Spark's task launch and result handling cost about 10 ms."""
