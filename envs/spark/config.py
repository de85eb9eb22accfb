"""The typed configuration of `sysgym/SparkJobOrder-v0`, built from `gym.make` kwargs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sysgym.envs.core.config import require


@dataclass(frozen=True)
class SparkConfig:
    """One Spark application shared by several users.

    Attributes:
        workload: a built-in scenario (`2_large_2_small_users`, `2_power_2_small_users`, `4_large_users`,
            `4_super_small_users`, `poisson`) or the path of a WTA-format Google CSV.
        cores: executor cores of the application (the UWFQ testbed had 32).
        max_candidates: size of the masked candidate set, i.e. of the Discrete action space.
        partitioning: runtime partitioning (the paper's -P): jobs are split into ~0.5 s tasks instead of
            Spark's default file splits.
        task_skew: lognormal sigma of task durations inside a stage (mean preserved); 0 gives equal tasks.
        estimate_noise: lognormal sigma of the multiplicative error of the runtime estimates that the
            schedulers and the observation see (0 = the benchmark's fixed estimates).
        fairness_weight: weight of the starved-user-seconds penalty added to the reward (0 = pure response time).
        trace_mode: how a WTA CSV workload is scaled: `hetero` (SCALING 2) or `homo` (SCALING 20, long jobs
            dropped), as in the UWFQ Google macro benchmark.
        poisson_users: users of the `poisson` workload.
        poisson_rate_per_min: job submissions per user per minute in the `poisson` workload.
        poisson_duration_s: length of the `poisson` workload's submission window.
        default_tasks: tasks per job stage under Spark's default file splitting (12 reproduces both the
            isolated runtimes and the runtime estimates of §5b: estimate / isolated runtime = 12.1 for Loop1000
            and 12.2 for Loop100).
        time_scale: factor applied to every time of the workload (task durations, estimates, start offsets,
            think times), so a scenario can run on a real Spark in tens of seconds; model metrics scale with it.
        master: Spark master URL of the live backend; empty means `local[cores]`.
        live_timeout_s: wall-clock limit of one live episode; past it the episode is truncated.
        task_overhead_s: fixed seconds every task holds its core beyond its work (not scaled by `time_scale`).
            0 models Spark's scheduler as free, as the paper-scale results assume; the live backend releases
            each task as its own Spark job, which pays job scheduling and Python-worker start-up, and measures
            that cost at start-up (metric `live_task_overhead_s`), so the model can be calibrated to a live
            run (`sysgym.runtime.spark.compare`). The live backend ignores this field (its overhead is real).
        task_slowdown: factor on every task's work time in the model: a task holds its core
            `task_slowdown * duration + task_overhead_s`. 1 runs tasks at their nominal durations; the live
            backend fits both terms to real UDF tasks timed at start-up (metrics `live_task_slowdown`,
            `live_task_overhead_s`), since its Python UDF runs slower than nominal under load. Ignored live.
    """

    workload: str = "2_power_2_small_users"
    cores: int = 32
    max_candidates: int = 16
    partitioning: bool = False
    task_skew: float = 0.25
    estimate_noise: float = 0.0
    fairness_weight: float = 0.0
    trace_mode: Literal["hetero", "homo"] = "hetero"
    poisson_users: int = 4
    poisson_rate_per_min: float = 8.0
    poisson_duration_s: float = 120.0
    default_tasks: int = 12
    time_scale: float = 1.0
    master: str = ""
    live_timeout_s: float = 900.0
    task_overhead_s: float = 0.0
    task_slowdown: float = 1.0

    def __post_init__(self) -> None:
        require(self.cores >= 1, f"cores must be >= 1, got {self.cores}")
        require(self.max_candidates >= 1, f"max_candidates must be >= 1, got {self.max_candidates}")
        require(0.0 <= self.task_skew <= 2.0, f"task_skew must be in [0, 2], got {self.task_skew}")
        require(0.0 <= self.estimate_noise <= 2.0, f"estimate_noise must be in [0, 2], got {self.estimate_noise}")
        require(self.fairness_weight >= 0.0, f"fairness_weight must be >= 0, got {self.fairness_weight}")
        require(self.poisson_users >= 1, f"poisson_users must be >= 1, got {self.poisson_users}")
        require(self.poisson_rate_per_min > 0.0, f"poisson_rate_per_min must be > 0, got {self.poisson_rate_per_min}")
        require(self.poisson_duration_s > 0.0, f"poisson_duration_s must be > 0, got {self.poisson_duration_s}")
        require(self.default_tasks >= 1, f"default_tasks must be >= 1, got {self.default_tasks}")
        require(bool(self.workload), "workload must be a scenario name or a CSV path")
        require(0.0 < self.time_scale <= 100.0, f"time_scale must be in (0, 100], got {self.time_scale}")
        require(self.live_timeout_s > 0.0, f"live_timeout_s must be > 0, got {self.live_timeout_s}")
        require(0.0 <= self.task_overhead_s <= 60.0, f"task_overhead_s must be in [0, 60], got {self.task_overhead_s}")
        require(0.1 <= self.task_slowdown <= 10.0, f"task_slowdown must be in [0.1, 10], got {self.task_slowdown}")
