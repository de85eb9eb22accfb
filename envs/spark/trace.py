"""Loader for the WTA-format Google 2011 excerpts of the UWFQ macro benchmark (reference §5, §5b).

One CSV row per task, joined with its workflow. A workflow is one job, its user the `user_id`; rows with a CPU
request of 0 are dropped, as in the benchmark. Each task row is one LoopCustom Spark job whose isolated runtime is
scaled = SCALING * resource_run_time / 1000 / 32 seconds; the env models a workflow as one job whose UDF stage
holds the tasks of all its rows, submitted at the workflow's first submission (the benchmark submits a
workflow's rows concurrently in one job group and measures the group from its first submission to its last
completion). `hetero` uses SCALING 2; `homo` SCALING 20 and drops workflows at or above 5x the median runtime.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sysgym.envs.core.errors import TraceFormatError
from sysgym.envs.spark.config import SparkConfig
from sysgym.envs.spark.scenarios import REDUCE_TASK_S, Draws, noisy
from sysgym.envs.spark.workload import MIN_TASK_S, JobSpec, Stream, Workload, isolated_runtime, skewed

BENCH_CORES = 32
"""CORES of the benchmark's job-runtime formula (fixed by the trace preparation, not by the env's cores)."""
SCALING = {"hetero": 2.0, "homo": 20.0}
HOMO_DROP = 5.0
PARALLEL_SCALING = 24.0
MAX_VALUE = 1e9
"""Largest accepted submission time (s) or resource_run_time: about 30 years or 11 core-days per task."""
MAX_TASKS = 1_000_000
"""Largest workload the loader builds; a bigger one is almost surely a corrupt file, and would not fit a run."""
REQUIRED = ("workflow_id", "ts_submit_seconds", "resource_run_time", "resource_amount_requested", "user_id")


@dataclass(frozen=True)
class TraceTask:
    """One kept task row.

    Attributes:
        line: 1-based line in the file.
        workflow: workflow id.
        user: user id as written.
        submit_s: submission time (s).
        resource_run_time: runtime x CPU request, the job-runtime term.
    """

    line: int
    workflow: str
    user: str
    submit_s: float
    resource_run_time: float


def read_tasks(path: str | Path) -> list[TraceTask]:
    """Parse and validate every row; any malformed row raises TraceFormatError with its line."""
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TraceFormatError(path, text_line(Path(path).read_bytes(), exc.start), "not UTF-8 text") from exc
    except OSError as exc:
        raise TraceFormatError(path, 0, f"cannot read: {exc.strerror}") from exc
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
        if header is None:
            raise TraceFormatError(path, 1, "empty file; expected a header with " + ", ".join(REQUIRED))
        header = [h.strip() for h in header]
        missing = [c for c in REQUIRED if c not in header]
        if missing:
            raise TraceFormatError(path, 1, f"header lacks column(s) {', '.join(missing)}")
        index = {c: header.index(c) for c in REQUIRED}
        tasks = []
        for row in reader:
            if not row or all(not cell.strip() for cell in row):
                continue
            task = _task(path, reader.line_num, row, index, len(header))
            if task is not None:
                tasks.append(task)
    except csv.Error as exc:
        raise TraceFormatError(path, reader.line_num, f"CSV syntax: {exc}") from exc
    if not tasks:
        raise TraceFormatError(path, max(reader.line_num, 1), "no task row with a CPU request > 0")
    return tasks


def text_line(data: bytes, offset: int) -> int:
    """1-based line of byte `offset`."""
    return data.count(b"\n", 0, offset) + 1


def _number(path: str | Path, line: int, row: list[str], index: dict[str, int], column: str) -> float:
    cell = row[index[column]].strip()
    try:
        value = float(cell)
    except ValueError as exc:
        raise TraceFormatError(path, line, f"{column} is not a number: {cell[:40]!r}") from exc
    if not math.isfinite(value) or not 0.0 <= value <= MAX_VALUE:
        raise TraceFormatError(path, line, f"{column} must be in [0, {MAX_VALUE:g}], got {cell[:40]!r}")
    return value


def _task(path: str | Path, line: int, row: list[str], index: dict[str, int], width: int) -> TraceTask | None:
    if len(row) != width:
        raise TraceFormatError(path, line, f"expected {width} fields, got {len(row)}")
    requested = _number(path, line, row, index, "resource_amount_requested")
    submit = _number(path, line, row, index, "ts_submit_seconds")
    run_time = _number(path, line, row, index, "resource_run_time")
    workflow = row[index["workflow_id"]].strip()
    user = row[index["user_id"]].strip()
    if not workflow or not user:
        raise TraceFormatError(path, line, "workflow_id and user_id must not be empty")
    if requested <= 0.0:
        return None
    return TraceTask(line, workflow, user, submit, run_time)


def trace_workload(path: str, config: SparkConfig, rng: np.random.Generator) -> Workload:
    """The benchmark's Google workload from a WTA CSV, scaled as `config.trace_mode` says.

    Jobs are tagged `small` when their runtime is below the median job runtime and `large` otherwise.
    """
    tasks = read_tasks(path)
    draws = Draws.split(rng)
    scaling = SCALING[config.trace_mode]
    origin = min(t.submit_s for t in tasks)
    groups: dict[str, list[TraceTask]] = {}
    for task in tasks:
        groups.setdefault(task.workflow, []).append(task)
    runtimes = {w: sum(_scaled(t, scaling) for t in g) for w, g in groups.items()}
    median = float(np.median(list(runtimes.values())))
    if config.trace_mode == "homo":
        groups = {w: g for w, g in groups.items() if runtimes[w] < HOMO_DROP * median}
        if not groups:
            raise TraceFormatError(path, tasks[0].line, "homo mode drops every workflow (all >= 5x the median)")
    order = sorted(groups, key=lambda w: (min(t.submit_s for t in groups[w]), min(t.line for t in groups[w])))
    users: dict[str, int] = {}
    jobs = []
    starts = []
    budget = MAX_TASKS
    for workflow in order:
        rows = groups[workflow]
        user = users.setdefault(rows[0].user, len(users))
        job_class = 0 if runtimes[workflow] < median else 1
        job = _job(path, rows, scaling, user, job_class, config, draws, budget)
        budget -= len(job.stages[0])
        jobs.append(job)
        starts.append(min(t.submit_s for t in rows) - origin)
    streams = tuple(Stream((i,), start, False, (0.0,)) for i, start in enumerate(starts))
    return Workload(str(path), tuple(users), ("small", "large"), tuple(jobs), streams)


def _scaled(task: TraceTask, scaling: float) -> float:
    return max(scaling * task.resource_run_time / 1000.0 / BENCH_CORES, MIN_TASK_S)


def _job(
    path: str,
    rows: list[TraceTask],
    scaling: float,
    user: int,
    job_class: int,
    config: SparkConfig,
    draws: Draws,
    budget: int,
) -> JobSpec:
    durations: list[float] = []
    for task in rows:
        scaled = _scaled(task, scaling)
        work = scaled * config.default_tasks
        if config.partitioning:
            count = round(4 + 1.832672 * (PARALLEL_SCALING * scaled) ** 1.012495)
        else:
            count = config.default_tasks
        if len(durations) + count > budget:
            raise TraceFormatError(path, task.line, f"the workload exceeds {MAX_TASKS} tasks at this row")
        durations.extend(skewed(draws.tasks, count, max(work / count, MIN_TASK_S), config.task_skew))
    stages = (tuple(durations), (REDUCE_TASK_S,))
    work_total = float(sum(durations))
    return JobSpec(
        user, job_class, stages, noisy(work_total, config, draws.estimates), isolated_runtime(stages, config.cores)
    )
