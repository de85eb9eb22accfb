"""`backend="live"`: the job-ordering env on a real Spark application.

Mapping from the model's action to what Spark is told: the model gives one free core to one task of the chosen
job. Live, each task of the env job is one partition of that job's generated rows, run as its own one-partition
Spark job (LoopN UDF, sized to the task's duration) in the job's user pool, tagged with the user (`user.name`)
and the env job (job group). The adapter releases a task to Spark only when the policy picks its job while
fewer than `cores` released tasks are unfinished, so Spark never holds more runnable work than cores and the
policy's order is the order Spark runs tasks in (gating submission; no forked scheduler). `partitioning=True`
changes the partition count exactly as in the model. A job's response time is its first submission to the
completion of its last partition's Spark job, as the UWFQ benchmark measures job groups.

The one-task `sum` stage of the model is released the same way, as a one-partition Spark job of its (short)
duration once the UDF stage's tasks have finished. DVR is computed against the model's UJF run of the same drawn
workload (a live UJF reference would double every episode's wall time), with the task-time fit measured at
start-up.

Calibration at start-up (before the episode's clock starts, so never from the episode it is compared with):
one-partition jobs running the real UDF at the shortest, median and 90th-percentile task durations of the drawn
workload, from `cores` threads at once, timed end to end and fitted as `real = a + b * nominal`
(`sysgym.runtime.spark.task_time`). Reported next to the model's metrics (names prefixed `live_`):
`live_task_overhead_s` (a, what the model's `task_overhead_s` is set to when calibrating) and
`live_task_slowdown` (b, the model's `task_slowdown`); `live_task_fit_rms_s`, the fit's residual;
`live_task_excess_s`, the mean over the episode's tasks of real task time minus the task's duration, and
`live_task_fit_excess_s`, what the start-up fit predicted for the same tasks (a + (b - 1) * duration), to show
how well the start-up calibration held during the episode; `live_episode_task_overhead_s` and
`live_episode_task_slowdown`, the same line fitted to the episode's own tasks afterwards (a diagnostic of what a
perfectly calibrated line would give, never used as the calibration; NaN when the episode's tasks had a single
duration); `live_load_avg_1m`, the machine's 1-minute load average sampled at every decision (it includes this
run's own busy cores).
"""

from __future__ import annotations

import heapq
import math
import os
import queue
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import numpy as np

from sysgym.envs.core.backend import Backend, Outcome
from sysgym.envs.core.errors import BackendUnavailableError, ConfigError
from sysgym.envs.spark.config import SparkConfig
from sysgym.envs.spark.metrics import episode_metrics
from sysgym.envs.spark.model import job_times, reference_run, spaces
from sysgym.envs.spark.sim import ARRIVE, SparkSim
from sysgym.envs.spark.workloads import build_workload, check_workload
from sysgym.runtime.spark.session import SparkRuntime, require_spark
from sysgym.runtime.spark.task_time import TaskTimeFit, calibration_points, fit_task_time

POLL_S = 0.5
"""Longest wait for a completion before re-checking arrivals and the episode's time limit."""
JVM_EXIT_WAIT_S = 2.0
"""Longest wait, after a Spark call failed, for the JVM's exit to show (a dead JVM is named as the cause)."""
EPISODE_TASK_METRICS = (
    "live_task_excess_s",
    "live_task_fit_excess_s",
    "live_episode_task_overhead_s",
    "live_episode_task_slowdown",
)
"""Metrics comparing the episode's real task times with their nominal durations (NaN without tasks)."""


class LiveState(SparkSim):
    """The simulator's bookkeeping, driven by real Spark completions instead of simulated ones.

    It exposes exactly the `SparkSim` attributes (so observations, masks and `info["system"]` match the model),
    plus `spark_active_tasks` (running tasks per Spark's status tracker at the last decision) and `error`.
    """

    def begin(self, workload: Any) -> None:
        """Reset for a new live episode; tasks chosen for launch queue up in `released`."""
        super().begin(workload)
        self.released: list[tuple[int, float]] = []
        self.spark_active_tasks = 0
        self.error: str | None = None

    def start_task(self, job: int, duration: float) -> None:
        """Queue the task for submission to Spark (the backend submits it at once)."""
        self.released.append((job, duration))

    def next_arrival(self) -> float | None:
        """Time of the next user submission, or None when every user is done submitting."""
        return self._events[0][0] if self._events else None

    def arrive_due(self) -> None:
        """Submit every job whose user thread's submission time has come."""
        while self._events and self._events[0][0] <= self.now:
            _, _, kind, job, _ = heapq.heappop(self._events)
            if kind == ARRIVE:
                self.arrive(job)


class SparkLiveBackend(Backend[np.ndarray, int]):
    """Real PySpark behind `sysgym/SparkJobOrder-v0`; one SparkSession kept across episodes until `close()`."""

    def __init__(self, config: SparkConfig) -> None:
        require_spark()
        check_workload(config.workload)
        cpus = os.cpu_count() or 1
        local = config.master in ("", "local") or config.master.startswith("local[")
        if local and config.cores > cpus:
            raise BackendUnavailableError(
                f"a local live run with cores={config.cores} needs {config.cores} CPUs and this machine has "
                f"{cpus}; pass cores<={cpus} (and time_scale to shorten jobs) or a cluster master URL"
            )
        self.config = config
        self.state = LiveState(config.cores, config.max_candidates)
        self.observation_space, self.action_space = spaces(config)
        self.runtime: SparkRuntime | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._done: queue.Queue[tuple[int, float, float, float, str | None]] = queue.Queue()
        self.task_fit = TaskTimeFit(0.0, 1.0, 0.0, 0)
        self._timed: list[tuple[float, float]] = []
        self._loads: list[float] = []
        self._fail_job = -1
        self._reference: Any = None
        self._finalizer = weakref.finalize(self, _stop, self)  # also runs at interpreter exit

    def reset(self, rng: np.random.Generator, options: dict[str, Any]) -> None:
        """Draw the workload, start Spark if needed and run to the first decision in real time.

        Options: `fail_job` (int) makes that job's tasks raise inside the UDF, to test failure handling.
        """
        try:
            workload = build_workload(self.config, rng)
            self._fail_job = int(options.get("fail_job", -1))
            self._drain_previous()
            if self.runtime is None:
                master = self.config.master or f"local[{self.config.cores}]"
                self.runtime = SparkRuntime(master, list(workload.users))
                self.runtime.warm_up(self.config.cores)
                durations = [task for job in workload.jobs for stage in job.stages for task in stage]
                timed = self.runtime.measure_task_times(self.config.cores, calibration_points(durations))
                self.task_fit = fit_task_time(timed)
                self._pool = ThreadPoolExecutor(self.config.cores, thread_name_prefix="sysgym-spark-task")
            self._reference = None
            self._timed = []
            self._loads = [os.getloadavg()[0]]
            self._workload = workload
            self.state.begin(workload)
            self._start = time.perf_counter()
            if not self._advance():
                if self.state.error is not None:
                    raise ConfigError(f"live Spark failed before the first decision: {self.state.error}")
                raise ConfigError(f"workload {self.config.workload!r} has no decision on {self.config.cores} cores")
        except BaseException:
            self.close()
            raise

    def _drain_previous(self) -> None:
        """Wait for tasks a previous (truncated) episode left running, so they do not count in this one."""
        while not self._done.empty():
            self._done.get_nowait()

    def observation(self) -> np.ndarray:
        """Same features as the model, from the live bookkeeping."""
        return self.state.observation()

    def action_mask(self) -> np.ndarray:
        """The filled candidate slots."""
        return self.state.action_mask()

    def apply(self, action: int) -> Outcome:
        """Release one task of the chosen job to Spark and wait for the next decision in real time."""
        state = self.state
        try:
            state.launch(state.candidates[action])
            more = self._advance()
            self._loads.append(os.getloadavg()[0])
        except BaseException:
            self.close()
            raise
        job_seconds, starved = state.take_signals()
        signals = {"job_seconds": job_seconds, "starved_user_seconds": starved}
        if state.error is not None:
            self.close()
            return Outcome(signals, truncated=True, events={"error": state.error})
        return Outcome(signals, terminated=not more)

    def _now(self) -> float:
        return time.perf_counter() - self._start

    def _advance(self) -> bool:
        state = self.state
        while True:
            self._submit_released()
            self._collect(block=False)
            if state.error is not None:
                return False
            state.advance_clock(self._now())
            state.arrive_due()
            if state.dispatch():
                self._submit_released()
                assert self.runtime is not None
                try:
                    state.spark_active_tasks = self.runtime.active_tasks()
                except Exception as exc:  # the JVM died between completions: same error as a task would give
                    state.error = _spark_error(self.runtime, "reading Spark's status", exc)
                    return False
                return True
            self._submit_released()
            running = state.cores - state.free_cores
            upcoming = state.next_arrival()
            if running == 0 and upcoming is None:
                state.candidates = []
                return False
            if self._now() > self.config.live_timeout_s:
                state.error = f"live episode exceeded live_timeout_s={self.config.live_timeout_s:g} s"
                return False
            wait = POLL_S if upcoming is None else min(POLL_S, max(upcoming - self._now(), 0.0))
            if running:
                self._collect(block=True, timeout=wait)
            elif wait > 0:
                time.sleep(wait)

    def _submit_released(self) -> None:
        state = self.state
        runtime = self.runtime
        pool = self._pool
        assert runtime is not None and pool is not None
        for job, duration in state.released:
            user = state.users[state.job_user[job]]
            pool.submit(self._run, runtime, job, user, duration, job == self._fail_job)
        state.released.clear()

    def _run(self, runtime: SparkRuntime, job: int, user: str, duration: float, fail: bool) -> None:
        start = time.perf_counter()
        error = None
        try:
            runtime.run_task(user, user, f"sysgym-job-{job}", duration, fail)
        except Exception as exc:  # any Spark or py4j failure ends the episode with its message
            error = _spark_error(runtime, f"Spark job for env job {job} (user {user})", exc)
        end = time.perf_counter()
        self._done.put((job, duration, end - start, end - self._start, error))

    def _collect(self, block: bool, timeout: float = 0.0) -> None:
        state = self.state
        try:
            item = self._done.get(timeout=timeout) if block else self._done.get_nowait()
        except queue.Empty:
            return
        while True:
            job, requested, duration, finished_at, error = item
            if error is not None:
                state.error = error
                return
            self._timed.append((requested, duration))
            state.advance_clock(max(finished_at, state.now))
            state.finish_task(job, duration)
            try:
                item = self._done.get_nowait()
            except queue.Empty:
                return

    def system(self) -> LiveState:
        """The live bookkeeping, with the model's attributes (see `SparkSim`)."""
        return self.state

    def metrics(self) -> dict[str, float]:
        """The model's metric names, from real submission and completion times, plus the `live_` diagnostics."""
        fit = self.task_fit
        if self._reference is None:
            calibrated = replace(
                self.config,
                task_overhead_s=min(fit.overhead_s, 60.0),
                task_slowdown=min(max(fit.slowdown, 0.1), 10.0),
            )
            self._reference = reference_run(self._workload, calibrated)
        metrics = episode_metrics(job_times(self.state), self._reference)
        metrics["live_task_overhead_s"] = fit.overhead_s
        metrics["live_task_slowdown"] = fit.slowdown
        metrics["live_task_fit_rms_s"] = fit.rms_s
        metrics.update(_episode_task_times(self._timed, fit))
        metrics["live_load_avg_1m"] = float(np.mean(self._loads))
        return metrics

    def samples(self) -> dict[str, list[float]]:
        """Each finished job's real response time."""
        state = self.state
        return {
            "response_time_s": [f - a for f, a in zip(state.job_finish, state.job_arrival, strict=True) if f < np.inf]
        }

    def close(self) -> None:
        """Stop the worker threads, the SparkSession and its JVM (idempotent)."""
        _stop(self)


def _episode_task_times(timed: list[tuple[float, float]], fit: TaskTimeFit) -> dict[str, float]:
    """Real vs nominal times of the episode's tasks: mean excess, the start-up fit's prediction, the own fit."""
    if not timed:
        return dict.fromkeys(EPISODE_TASK_METRICS, math.nan)
    nominal = np.array([x for x, _ in timed])
    real = np.array([y for _, y in timed])
    own = fit_task_time(timed) if len(set(nominal.tolist())) >= 2 else TaskTimeFit(math.nan, math.nan, math.nan, 0)
    return {
        "live_task_excess_s": float(np.mean(real - nominal)),
        "live_task_fit_excess_s": float(np.mean(fit.overhead_s + (fit.slowdown - 1.0) * nominal)),
        "live_episode_task_overhead_s": own.overhead_s,
        "live_episode_task_slowdown": own.slowdown,
    }


def _spark_error(runtime: SparkRuntime, what: str, exc: Exception) -> str:
    """Name the failure: a dead JVM (killed executor, local mode) first, else Spark's own first message line."""
    from py4j.protocol import Py4JJavaError

    lines = str(exc).strip().splitlines()
    detail = (lines[0] if lines else type(exc).__name__)[:300]
    answered = isinstance(exc, Py4JJavaError)  # the JVM itself reported the error, so it is alive: no wait
    code = runtime.jvm_exit_code(wait_s=0.0 if answered else JVM_EXIT_WAIT_S)
    if code is not None:
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        return (
            f"{what} failed: Spark's JVM (pid {runtime.jvm_pid}, the driver with its local executors) {how}, "
            f"so its executors are lost ({type(exc).__name__}: {detail})"
        )
    return f"{what} failed: {detail}"


def _stop(backend: SparkLiveBackend) -> None:
    pool, runtime = backend._pool, backend.runtime
    backend._pool = None
    backend.runtime = None
    if runtime is not None:
        stopper = threading.Thread(target=runtime.stop, name="sysgym-spark-stop")
        stopper.start()
        stopper.join(timeout=120)
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)
