"""A real SparkSession for the live backend: start with the FAIR scheduler, run CPU-burning tasks, stop cleanly.

Stopping matters: `SparkSession.stop()` leaves PySpark's JVM (launched by py4j) running until the Python process
exits, so `SparkRuntime.stop` also shuts the gateway down and waits for the JVM process to end.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

from sysgym.envs.core.errors import BackendUnavailableError

ROWS_PER_TASK = 8
"""Generated rows per task; each row burns an equal share of the task's duration (LoopN: sqrt per iteration)."""
CALIBRATION_REPEATS = 2
"""Tasks of each calibration duration that each core's thread times at start-up (after one discarded)."""


def require_spark() -> None:
    """Raise BackendUnavailableError naming what is missing (Java, pyspark) before anything starts."""
    java_home = os.environ.get("JAVA_HOME")
    java = Path(java_home) / "bin" / "java" if java_home else None
    if not (java is not None and java.is_file()) and shutil.which("java") is None:
        raise BackendUnavailableError(
            "the live Spark backend needs Java (17 recommended), and none was found: no `java` on PATH and no "
            "JAVA_HOME/bin/java; install it (Debian: apt-get install openjdk-17-jre-headless) or set JAVA_HOME"
        )
    try:
        import pyspark  # noqa: F401
    except ImportError as exc:
        raise BackendUnavailableError("the live Spark backend needs pyspark (pip install pyspark)") from exc


def loop_udf(row: int, iterations: int, fail: bool) -> float:
    """The LoopN UDF: `iterations` square roots per row (runs in Spark's Python workers)."""
    if fail:
        raise RuntimeError("sysgym injected task failure")
    total = 0.0
    for i in range(iterations):
        total += math.sqrt(i + row)
    return total


def loop_rate(seconds: float = 0.2) -> float:
    """LoopN iterations per second of this Python, measured now (workers run the same interpreter)."""
    count = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        loop_udf(1, 20_000, False)
        count += 20_000
    return count / (time.perf_counter() - start)


def allocation_xml(pools: list[str]) -> str:
    """A FAIR allocation file: one pool per user, FAIR inside, weight 1, minShare 0 (UJF's pools)."""
    lines = ['<?xml version="1.0"?>', "<allocations>"]
    for pool in pools:
        lines += [
            f"  <pool name={quoteattr(pool)}>",
            "    <schedulingMode>FAIR</schedulingMode>",
            "    <weight>1</weight>",
            "    <minShare>0</minShare>",
            "  </pool>",
        ]
    return "\n".join([*lines, "</allocations>", ""])


class SparkRuntime:
    """One SparkSession with the FAIR scheduler and per-user pools.

    Attributes:
        master: the master URL it was started with.
        pools: pools declared in the allocation file (others are created by Spark with its defaults).
        rate: LoopN iterations per second used to size tasks.
    """

    def __init__(self, master: str, pools: list[str]) -> None:
        require_spark()
        from pyspark.sql import SparkSession

        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        self.master = master
        self.pools = pools
        self._dir = tempfile.mkdtemp(prefix="sysgym-spark-")
        allocation = Path(self._dir) / "fairscheduler.xml"
        allocation.write_text(allocation_xml(pools))
        self.session: Any = (
            SparkSession.builder.master(master)
            .appName("sysgym-spark-live")
            .config("spark.scheduler.mode", "FAIR")
            .config("spark.scheduler.allocation.file", str(allocation))
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.task.maxFailures", "1")
            .config("spark.local.dir", self._dir)
            .getOrCreate()
        )
        self.context: Any = self.session.sparkContext
        self.context.setLogLevel("ERROR")
        self._gateway: Any = self.context._gateway
        self._process: Any = getattr(self._gateway, "proc", None)
        self.rate = loop_rate()

    def warm_up(self, cores: int) -> None:
        """Start the Python workers on every core (the benchmark warms each job type up before time 0)."""
        self.context.parallelize(range(cores), cores).map(lambda row: loop_udf(row, 1000, False)).sum()

    def measure_task_times(
        self, cores: int, nominals: Sequence[float], repeats: int = CALIBRATION_REPEATS
    ) -> list[tuple[float, float]]:
        """Real seconds of UDF tasks of each nominal duration, as (nominal, measured) pairs to fit a line to.

        Each of `cores` threads runs `repeats` one-partition LoopN jobs of every duration in `nominals`, exactly
        as the backend releases tasks (pool, user, job group, the UDF sized from `rate`), so the measured time
        holds everything an episode's task pays: Spark's job scheduling and dispatch, the Python worker, the
        UDF's real speed with every core busy at once, and the machine's load at that moment. A first task per
        thread is discarded (it warms the code paths). Threads walk the durations in opposite orders so that
        short and long tasks overlap as they do in an episode.
        """
        pool = self.pools[0] if self.pools else "default"

        def submit(index: int) -> list[tuple[float, float]]:
            group = f"sysgym-calibrate-{index}"
            self.run_task(pool, pool, group, 0.0, False)
            order = list(nominals) if index % 2 == 0 else list(reversed(nominals))
            timed = []
            for _ in range(repeats):
                for nominal in order:
                    start = time.perf_counter()
                    self.run_task(pool, pool, group, nominal, False)
                    timed.append((nominal, time.perf_counter() - start))
            return timed

        with ThreadPoolExecutor(cores, thread_name_prefix="sysgym-spark-calibrate") as threads:
            return [pair for timed in threads.map(submit, range(cores)) for pair in timed]

    def run_task(self, pool: str, user: str, group: str, duration: float, fail: bool) -> None:
        """Run one task of `duration` seconds as a one-partition Spark job in `pool`, tagged with `user`.

        Local properties are per thread (PySpark's pinned-thread mode), so each call sets them itself.
        """
        context = self.context
        context.setLocalProperty("spark.scheduler.pool", pool)
        context.setLocalProperty("user.name", user)
        context.setJobGroup(group, f"{user} {group}", interruptOnCancel=True)
        iterations = max(1, int(duration * self.rate / ROWS_PER_TASK))
        rows = context.parallelize(range(ROWS_PER_TASK), 1)
        rows.map(lambda row: loop_udf(row, iterations, fail)).sum()

    def active_tasks(self) -> int:
        """Tasks Spark reports running now, from its status tracker."""
        tracker = self.context.statusTracker()
        total = 0
        for stage_id in tracker.getActiveStageIds():
            info = tracker.getStageInfo(stage_id)
            if info is not None:
                total += int(info.numActiveTasks)
        return total

    def stop(self) -> None:
        """Stop the session, shut the py4j gateway down and wait for the JVM to exit (idempotent).

        When the JVM already died (a killed executor in local mode), calling into it would only raise, so the
        session is dropped on the Python side alone and the gateway's sockets are closed.
        """
        from pyspark import SparkContext
        from pyspark.sql import SparkSession

        gateway = self._gateway
        if gateway is None:
            return
        self._gateway = None
        try:
            if self.jvm_exit_code() is None:
                self.context.cancelAllJobs()
                self.session.stop()
        finally:
            process = self._process
            try:
                gateway.shutdown()
            finally:
                if process is not None:
                    process.terminate()
                    try:
                        process.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        process.kill()
                        process.wait(timeout=30)
                SparkContext._gateway = None
                SparkContext._jvm = None
                SparkContext._active_spark_context = None
                SparkSession._instantiatedSession = None
                SparkSession._activeSession = None
                shutil.rmtree(self._dir, ignore_errors=True)

    def jvm_exit_code(self, wait_s: float = 0.0) -> int | None:
        """The JVM's exit code once it has ended (killed: minus the signal), None while it runs or if unknown.

        A dying JVM closes its sockets a moment before the kernel reports its exit, so a caller that just saw
        the connection drop passes `wait_s` to give the exit time to show.
        """
        if self._process is None:
            return None
        try:
            return int(self._process.wait(timeout=wait_s)) if wait_s > 0 else self._process.poll()
        except subprocess.TimeoutExpired:
            return None

    @property
    def jvm_pid(self) -> int | None:
        """Process id of the JVM this runtime started (None once stopped or when attached to a running one)."""
        process = self._process if self._gateway is not None else None
        return None if process is None else int(process.pid)
