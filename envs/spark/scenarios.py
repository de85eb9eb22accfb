"""The UWFQ benchmark's synthetic scenarios (reference §5b, exactly) and a multi-user Poisson generator.

Job model (LoopN): a UDF stage of CPU-bound tasks followed by a one-task `sum` stage. Without runtime
partitioning the UDF stage has `default_tasks` tasks (Spark's file splits) lasting the isolated runtime each;
with partitioning (-P) the same work is cut into the benchmark's task counts (about 0.5 s per task).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sysgym.envs.core.errors import UnknownNameError
from sysgym.envs.spark.config import SparkConfig
from sysgym.envs.spark.workload import JobSpec, Stream, Workload, isolated_runtime, skewed

REDUCE_TASK_S = 0.05
"""The `sum` stage: one short task after the UDF stage."""


@dataclass(frozen=True)
class LoopType:
    """A LoopN job type of §5b.

    Attributes:
        name: benchmark name.
        isolated_s: isolated runtime on the 32-core testbed (s).
        estimate_s: runtime estimate given to CFQ/UWFQ (core-seconds).
        partitioned_tasks: UDF-stage tasks under runtime partitioning.
    """

    name: str
    isolated_s: float
    estimate_s: float
    partitioned_tasks: int


LOOP_TYPES = {
    "Loop20": LoopType("Loop20", 0.852, 1.523, 16),
    "Loop100": LoopType("Loop100", 2.206, 26.926, 40),
    "Loop1000": LoopType("Loop1000", 10.864, 131.115, 222),
}


@dataclass(frozen=True)
class Entry:
    """One workload entry of a benchmark user: `iterations` jobs of one type from one driver thread.

    Attributes:
        user: user name (`user.name` local property).
        job_type: LoopN name.
        iterations: jobs submitted.
        start: first submission (s after warm-up).
        sequential: SEQ (closed loop) or PARA (open loop).
        rate_per_min: lambda of the exponential think time; 0 means none.
        job_class: the class the jobs are tagged with.
    """

    user: str
    job_type: str
    iterations: int
    start: float
    sequential: bool
    rate_per_min: float
    job_class: str


def _power_user(name: str, starts: tuple[float, ...]) -> list[Entry]:
    return [Entry(name, "Loop100", 20, s, False, 0.0, "power") for s in starts]


SCENARIOS: dict[str, tuple[Entry, ...]] = {
    "2_large_2_small_users": (
        Entry("user1_big", "Loop1000", 4, 0.1, True, 0.0, "large"),
        Entry("user2_big", "Loop1000", 4, 0.2, True, 0.0, "large"),
        Entry("user3_small", "Loop100", 6, 0.15, False, 15.0, "small"),
        Entry("user4_small", "Loop100", 6, 0.25, False, 15.0, "small"),
    ),
    "2_power_2_small_users": (
        *_power_user("user1_power", (0.1, 30.0, 60.0, 90.0)),
        *_power_user("user2_power", (0.2, 30.1, 60.1, 90.1)),
        Entry("user3_small", "Loop100", 12, 0.2, False, 8.0, "small"),
        Entry("user4_small", "Loop100", 12, 0.3, False, 8.0, "small"),
    ),
    "4_large_users": tuple(Entry(f"user{i}_big", "Loop1000", 4, 0.1 * i, True, 0.0, "large") for i in range(1, 5)),
    "4_super_small_users": tuple(
        Entry(f"user{i}_supersmall", "Loop20", 30, 0.1 * i, False, 0.0, "super_small") for i in range(1, 5)
    ),
}

POISSON = "poisson"
POISSON_MIX = (("Loop20", "super_small", 0.2), ("Loop100", "small", 0.6), ("Loop1000", "large", 0.2))
"""Job type, class and probability of each `poisson` submission."""

BUILTIN = (*SCENARIOS, POISSON)


@dataclass(frozen=True)
class Draws:
    """Independent random streams of one workload.

    Changing partitioning or noise settings then leaves the arrivals and job mix of a seed unchanged, so a -P
    policy meets the same users as the others.

    Attributes:
        arrivals: think times, arrival times and job types.
        tasks: task-duration skew.
        estimates: estimate noise.
    """

    arrivals: np.random.Generator
    tasks: np.random.Generator
    estimates: np.random.Generator

    @classmethod
    def split(cls, rng: np.random.Generator) -> Draws:
        """Three streams seeded from the episode's rng (a fixed number of draws from it)."""
        seeds = rng.integers(0, 2**63 - 1, size=3)
        return cls(*(np.random.default_rng(int(s)) for s in seeds))


def loop_job(loop: LoopType, user: int, job_class: int, config: SparkConfig, draws: Draws) -> JobSpec:
    """One LoopN job under `config`'s partitioning, skew and estimate noise."""
    udf = loop.isolated_s - REDUCE_TASK_S
    work = udf * config.default_tasks
    count = loop.partitioned_tasks if config.partitioning else config.default_tasks
    stages = (skewed(draws.tasks, count, work / count, config.task_skew), (REDUCE_TASK_S,))
    estimate = noisy(loop.estimate_s, config, draws.estimates)
    return JobSpec(user, job_class, stages, estimate, isolated_runtime(stages, config.cores))


def noisy(estimate: float, config: SparkConfig, rng: np.random.Generator) -> float:
    """The estimate a scheduler sees: exact, or with mean-one lognormal error of sigma `estimate_noise`."""
    if config.estimate_noise == 0.0:
        return estimate
    sigma = config.estimate_noise
    return float(estimate * rng.lognormal(-0.5 * sigma * sigma, sigma))


def think_times(rate_per_min: float, count: int, rng: np.random.Generator) -> tuple[float, ...]:
    """Exponential think times with mean 60/rate seconds (none when the rate is 0)."""
    if rate_per_min == 0.0:
        return (0.0,) * count
    return tuple(float(x) for x in rng.exponential(60.0 / rate_per_min, size=count))


def scenario_workload(name: str, config: SparkConfig, rng: np.random.Generator) -> Workload:
    """A §5b scenario; the episode's rng draws think times, task skew and estimate noise."""
    draws = Draws.split(rng)
    if name == POISSON:
        return poisson_workload(config, draws)
    if name not in SCENARIOS:
        raise UnknownNameError("Spark workload", name, [*BUILTIN, "<path to a WTA CSV>"])
    entries = SCENARIOS[name]
    users = tuple(dict.fromkeys(e.user for e in entries))
    classes = tuple(dict.fromkeys(e.job_class for e in entries))
    jobs: list[JobSpec] = []
    streams = []
    for entry in entries:
        first = len(jobs)
        for _ in range(entry.iterations):
            user = users.index(entry.user)
            jobs.append(loop_job(LOOP_TYPES[entry.job_type], user, classes.index(entry.job_class), config, draws))
        think = think_times(entry.rate_per_min, entry.iterations, draws.arrivals)
        streams.append(Stream(tuple(range(first, len(jobs))), entry.start, entry.sequential, think))
    return Workload(name, users, classes, tuple(jobs), tuple(streams))


def poisson_workload(config: SparkConfig, draws: Draws) -> Workload:
    """`poisson_users` open-loop users, each submitting at `poisson_rate_per_min` over `poisson_duration_s`.

    Job types follow `POISSON_MIX`; every user submits at least one job so no user is empty.
    """
    users = tuple(f"user{i + 1}" for i in range(config.poisson_users))
    classes = tuple(c for _, c, _ in POISSON_MIX)
    probs = np.array([p for _, _, p in POISSON_MIX])
    jobs: list[JobSpec] = []
    streams = []
    mean_gap = 60.0 / config.poisson_rate_per_min
    rng = draws.arrivals
    for user in range(len(users)):
        arrivals = np.cumsum(rng.exponential(mean_gap, size=1 + int(4 * config.poisson_duration_s / mean_gap)))
        arrivals = arrivals[arrivals <= config.poisson_duration_s]
        if arrivals.size == 0:
            arrivals = np.array([config.poisson_duration_s * rng.random()])
        first = len(jobs)
        for kind in rng.choice(len(POISSON_MIX), size=arrivals.size, p=probs):
            jobs.append(loop_job(LOOP_TYPES[POISSON_MIX[kind][0]], user, int(kind), config, draws))
        gaps = tuple(float(x) for x in np.diff(arrivals, append=arrivals[-1]))
        streams.append(Stream(tuple(range(first, len(jobs))), float(arrivals[0]), False, gaps))
    return Workload(POISSON, users, classes, tuple(jobs), tuple(streams))
