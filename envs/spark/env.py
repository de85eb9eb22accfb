"""`sysgym/SparkJobOrder-v0`: which user's job gets the next free core of a shared Spark application."""

from __future__ import annotations

from typing import Any, ClassVar

from sysgym.envs.core.backend import Backend
from sysgym.envs.core.frontend import SysEnv
from sysgym.envs.spark.config import SparkConfig


class SparkJobOrderEnv(SysEnv[SparkConfig]):
    """Multi-user Spark job ordering (UWFQ, arXiv 2510.15485).

    ## Description
    One Spark application with `cores` executor cores is shared by several users, each a driver thread
    submitting jobs over time (the UWFQ benchmark's LoopN jobs, or Google-trace workflows). A job is a chain of
    stages; a stage is a set of non-preemptive tasks. Whenever a core is free and at least two jobs have runnable
    tasks, the agent chooses which job's current stage gets the core, exactly the choice Spark's scheduler pool
    makes at each resource offer. With one runnable job the choice is forced and taken without a step. The goal
    is a low mean response time, especially for small jobs, without a heavy submitter taking more than one
    user's share.

    Design choices worth knowing:
    - "Fair" is Spark's FAIR mode as the benchmark deployed it: one `default` pool, FIFO inside, so the `fair`
      baseline orders jobs like `fifo`. Per-user fair pools are `ujf`, the fairness reference of DVR.
    - Jobs are LoopN: a UDF stage then a one-task `sum` stage. Without runtime partitioning the UDF stage has
      `default_tasks` (12) tasks as long as the job's isolated runtime on the testbed; `partitioning=True`
      splits the same work into the benchmark's -P task counts (about 0.5 s per task).
    - Runtime estimates (what UWFQ/CFQ and the observation see) are the benchmark's, optionally noisy
      (`estimate_noise`); `srpt-oracle` alone reads true remaining work.

    ## Action Space
    `Discrete(max_candidates)`: the slot of the job that gets the free core. `info["action_mask"]` marks the
    filled slots. Slots hold all runnable jobs in submission order when they fit; otherwise each user's oldest
    job, each user's job with the least estimated remaining work, then further jobs round-robin by user, sorted
    by submission order (slot 0 is always Spark FIFO's choice).

    ## Observation Space
    `Box(0, 1, (max_candidates * 9 + 6,), float32)`. Per slot: the user's share of cores, the user's share of
    the service delivered so far, job age a/(a+10 s), estimated remaining work r/(r+30 core-s), the user's
    active jobs n/(n+4), the job's running tasks / cores, its stage's waiting tasks w/(w+cores), its progress
    (fraction of tasks done) and a valid flag (empty slots are all zero). Then the cluster: free cores and busy
    cores as fractions, active jobs and runnable jobs n/(n+16), active users n/(n+4), and the fraction of active
    users with no running task.

    ## Rewards
    Minus the job-seconds accrued since the previous decision (jobs in the system x elapsed time), so the
    undiscounted return is exactly minus the total response time of the episode (time before the first
    decision is counted in the first step). With `fairness_weight` w > 0 the reward also subtracts
    w x starved-user-seconds: the time integral of the number of users with jobs in the system but no
    running task, a user-level starvation penalty that is zero under a user-fair schedule with enough cores.

    ## Episode End
    Terminated when every job of the workload has finished. No truncation on the model backend (workloads are
    finite); the live backend truncates when Spark fails a job or the episode exceeds `live_timeout_s`.
    At the end `info["metrics"]` holds
    `mean_response_time_s` (headline), `small_job_mean_response_time_s` (jobs tagged `small`; NaN when there
    are none), `p90_response_time_s`, `mean_slowdown` (response time / isolated runtime), `dvr` (mean positive
    violation ratio against a UJF run of the same workload and seed), `makespan_s` and `jobs_finished`;
    `info["samples"]["response_time_s"]` has every job's response time.

    ## Arguments
    `gym.make("sysgym/SparkJobOrder-v0", backend="model", workload="2_power_2_small_users", **overrides)`;
    see `SparkConfig` for every override (cores, max_candidates, partitioning, task_skew, estimate_noise,
    fairness_weight, trace_mode, poisson_*, default_tasks, time_scale, master, live_timeout_s,
    task_overhead_s, task_slowdown). Workloads:
    `2_large_2_small_users`, `2_power_2_small_users`, `4_large_users`, `4_super_small_users`, `poisson`, or a
    path to a WTA-format Google CSV. `info["system"]` is the simulator state documented in
    `sysgym.envs.spark.sim.SparkSim`.

    `backend="live"` runs the same decisions on a real PySpark application (`master`, default `local[cores]`,
    FAIR scheduler with one FAIR pool per user): each task the policy picks is released to Spark as a
    one-partition LoopN job in its user's pool (see `sysgym.runtime.spark.live`), observations come from the same
    bookkeeping fed by real completions, metrics from real times. Use `time_scale` (and `default_tasks`) to make
    an episode last tens of seconds. `task_overhead_s` (default 0) and `task_slowdown` (default 1) make every
    task of the model hold its core `task_slowdown * duration + task_overhead_s`, the terms that calibrate it to
    a live run: the live backend times real UDF tasks at start-up, fits that line and reports it, with other
    diagnostics, as the extra metrics `live_task_overhead_s`, `live_task_slowdown` and the other `live_*`
    metrics (see `sysgym.runtime.spark.live`). A failed Spark job truncates the episode with
    `info["error"]` and stops the SparkSession; `reset(options={"fail_job": j})` injects such a failure into
    job j's tasks.

    ## Version History
    - v0: initial release.
    - v0 (same version): `task_overhead_s` added, default 0, so the registered behaviour is unchanged.
    - v0 (same version): `task_slowdown` added, default 1, so the registered behaviour is unchanged.
    """

    config_cls: ClassVar[type] = SparkConfig
    backends: ClassVar[tuple[str, ...]] = ("model", "live")

    def __init__(self, backend: str = "model", **kwargs: Any) -> None:
        super().__init__(backend, **kwargs)

    def _make_backend(self, config: SparkConfig, backend: str) -> Backend[Any, Any]:
        if backend == "live":
            from sysgym.runtime.spark.live import SparkLiveBackend

            return SparkLiveBackend(config)
        from sysgym.envs.spark.model import SparkModelBackend

        return SparkModelBackend(config)

    def _reward(self, signals: dict[str, float]) -> float:
        penalty = signals["job_seconds"] + self.config.fairness_weight * signals["starved_user_seconds"]
        return -penalty
