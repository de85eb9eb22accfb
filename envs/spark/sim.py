"""Discrete-event simulator of one Spark application: C cores, users submitting chains of task stages.

Tasks are non-preemptive and a freed core is offered at once (Spark's resource offers); the agent decides
which waiting job gets a free core whenever at least two jobs have runnable tasks. With only one runnable job
the choice is forced and taken without asking (Spark never leaves a core idle while a task waits), so every
step of the env is a real choice.

The simulator's public attributes are the `info["system"]` view that heuristics read (see `SparkSim`); the live
backend exposes the same attributes. Per-step work is O(slots) plain Python: runnable sets are kept sorted
incrementally and the slots are recomputed only when the runnable set changes.
"""

from __future__ import annotations

import bisect
import heapq
import math

import numpy as np

from sysgym.envs.spark.workload import Workload

JOB_FEATURES = (
    "user_core_share",
    "user_service_share",
    "job_age",
    "estimated_remaining_work",
    "user_active_jobs",
    "job_running_share",
    "stage_waiting_tasks",
    "job_progress",
    "valid",
)
CLUSTER_FEATURES = ("free_cores", "busy_cores", "active_jobs", "runnable_jobs", "active_users", "starved_users")
AGE_SCALE_S = 10.0
WORK_SCALE_CORE_S = 30.0
ARRIVE, FINISH = 0, 1


class SparkSim:
    """The simulator's state, read by heuristics as `info["system"]` (treat as read-only).

    Attributes:
        now: simulated time (s) since the first user started.
        cores: the application's cores; free_cores: idle ones now.
        task_overhead: fixed seconds each task holds its core beyond its work (Spark's per-task cost).
        task_slowdown: factor on each task's work time (1 = nominal durations; calibrated to a live run).
        candidates: job index in each action slot (slot i is action i), in submission order.
        users, classes: names, indexed by `job_user` and `job_class`.
        job_user, job_class: per job (index into the workload's jobs). Per-job and per-user state are plain
            lists (cheap to update one item at a time); `job_arrival`/`job_finish` too.
        job_seq: Spark job id (submission order), -1 before submission.
        job_arrival, job_finish: submission and completion times (inf until they happen).
        job_estimate: runtime estimate (core-s) schedulers see; job_stage_estimates: per stage.
        job_running: running tasks; job_tasks_left: unfinished tasks; job_tasks_total: all tasks.
        job_stage: index of the current stage; job_unlaunched_work: true core-seconds not yet launched
            (oracle knowledge, for `srpt-oracle`).
        job_waiting: tasks of the current stage not yet launched.
        user_running: running tasks per user; user_active: jobs in the system per user; user_service:
            core-seconds of finished tasks per user.
        active_jobs, active_users: jobs and users with work in the system.
        stage_log: (time, job, stage) of every stage submission, append-only within an episode, so clock-based
            schedulers (UWFQ, CFQ) can replay submissions since their last decision.
        last_freed_job: the job whose task freed the most recent core (-1 before any).
    """

    def __init__(self, cores: int, max_candidates: int, task_overhead: float = 0.0, task_slowdown: float = 1.0) -> None:
        self.cores = cores
        self.task_overhead = task_overhead
        self.task_slowdown = task_slowdown
        self.max_candidates = max_candidates
        self.obs_size = max_candidates * len(JOB_FEATURES) + len(CLUSTER_FEATURES)
        self._masks: dict[int, np.ndarray] = {}

    def load(self, workload: Workload) -> None:
        """Start an episode on `workload` and run to its first decision."""
        self.begin(workload)
        self.done = not self.advance()

    def begin(self, workload: Workload) -> None:
        """Reset every per-episode structure for `workload` and queue the users' first submissions."""
        self.workload = workload
        jobs = workload.jobs
        n = len(jobs)
        self.users = workload.users
        self.classes = workload.classes
        self.now = 0.0
        self.free_cores = self.cores
        users = len(self.users)
        self.job_user = [j.user for j in jobs]
        self.job_class = [j.job_class for j in jobs]
        self.job_seq = [-1] * n
        self.job_arrival = [math.inf] * n
        self.job_finish = [math.inf] * n
        self.job_estimate = [j.estimate for j in jobs]
        self.job_tasks_total = [sum(len(s) for s in j.stages) for j in jobs]
        self.job_tasks_left = list(self.job_tasks_total)
        self.job_running = [0] * n
        self.job_waiting = [0] * n
        self.user_running = [0] * users
        self.user_service = [0.0] * users
        self.user_active = [0] * users
        self.job_stage = [0] * n
        self._stages = [j.stages for j in jobs]
        self.job_stage_estimates = [_stage_estimates(j.stages, j.estimate) for j in jobs]
        self.job_unlaunched_work = [float(sum(sum(s) for s in j.stages)) for j in jobs]
        self._next_task = [0] * n
        self._stage_left = [0] * n
        self._service_total = 0.0
        self.stage_log: list[tuple[float, int, int]] = []
        self.last_freed_job = -1
        self.candidates: list[int] = []
        self._runnable: list[int] = []
        self._user_runnable: list[list[int]] = [[] for _ in self.users]
        self._user_by_estimate: list[list[tuple[float, int]]] = [[] for _ in self.users]
        self._users_runnable: dict[int, None] = {}
        self._dirty = True
        self._seq_job: list[int] = []
        self._events: list[tuple[float, int, int, int, float]] = []
        self._counter = 0
        self._stream_of = [0] * n
        self._pos_of = [0] * n
        for s, stream in enumerate(workload.streams):
            for pos, job in enumerate(stream.jobs):
                self._stream_of[job] = s
                self._pos_of[job] = pos
            self._push(stream.start, ARRIVE, stream.jobs[0], 0.0)
        self.active_jobs = 0
        self.active_users = 0
        self.starved_users = 0
        self.finished_jobs = 0
        self.job_seconds = 0.0
        self.starved_user_seconds = 0.0
        self.done = False

    def _push(self, time: float, kind: int, job: int, duration: float) -> None:
        self._counter += 1
        heapq.heappush(self._events, (time, self._counter, kind, job, duration))

    def advance(self) -> bool:
        """Run until a decision is due (True) or every job has finished (False)."""
        events = self._events
        while True:
            if self.dispatch():
                return True
            if not events:
                self.candidates = []
                self._dirty = True
                return False
            self.advance_clock(events[0][0])
            while events and events[0][0] <= self.now:
                _, _, kind, job, duration = heapq.heappop(events)
                if kind == FINISH:
                    self.finish_task(job, duration)
                else:
                    self.arrive(job)

    def dispatch(self) -> bool:
        """Take the forced choices (one runnable job gets the free cores); True when a real decision is due."""
        while self.free_cores and self._runnable:
            if len(self._runnable) >= 2:
                self.select_candidates()
                return True
            job = self._seq_job[self._runnable[0]]
            for _ in range(min(self.free_cores, self.job_waiting[job])):
                self.launch(job)
        return False

    def advance_clock(self, time: float) -> None:
        """Move the clock forward to `time`, accruing job-seconds and starved-user-seconds."""
        if time > self.now:
            elapsed = time - self.now
            self.job_seconds += self.active_jobs * elapsed
            self.starved_user_seconds += self.starved_users * elapsed
            self.now = time

    def launch(self, job: int) -> None:
        """Start the next task of `job`'s current stage on a free core."""
        stage = self._stages[job][self.job_stage[job]]
        duration = stage[self._next_task[job]]
        self._next_task[job] += 1
        self.job_unlaunched_work[job] -= duration
        self.free_cores -= 1
        self.job_running[job] += 1
        self.job_waiting[job] -= 1
        if self.job_waiting[job] == 0:
            self._unrunnable(job)
        user = self.job_user[job]
        if self.user_running[user] == 0:
            self.starved_users -= 1
        self.user_running[user] += 1
        self.start_task(job, duration)

    def start_task(self, job: int, duration: float) -> None:
        """Run one task: the simulator schedules its completion (the live backend submits it to Spark).

        The core is held for the work (times the slowdown) plus the fixed overhead, and that whole time counts
        as the user's service, as it does live (where a task's time is measured from submission to completion).
        """
        held = duration * self.task_slowdown + self.task_overhead
        self._push(self.now + held, FINISH, job, held)

    def arrive(self, job: int) -> None:
        """Submit `job` now: its first stage becomes runnable and an open-loop user schedules its next job."""
        seq = len(self._seq_job)
        self._seq_job.append(job)
        self.job_seq[job] = seq
        self.job_arrival[job] = self.now
        self.active_jobs += 1
        user = self.job_user[job]
        if self.user_active[user] == 0:
            self.active_users += 1
            if self.user_running[user] == 0:
                self.starved_users += 1
        self.user_active[user] += 1
        self._submit_stage(job, 0)
        stream = self.workload.streams[self._stream_of[job]]
        pos = self._pos_of[job]
        if not stream.sequential and pos + 1 < len(stream.jobs):
            self._push(self.now + stream.think[pos], ARRIVE, stream.jobs[pos + 1], 0.0)

    def _submit_stage(self, job: int, stage: int) -> None:
        count = len(self._stages[job][stage])
        self.job_stage[job] = stage
        self._next_task[job] = 0
        self._stage_left[job] = count
        self.job_waiting[job] = count
        seq = self.job_seq[job]
        user = self.job_user[job]
        bisect.insort(self._runnable, seq)
        if user not in self._users_runnable:
            self._users_runnable[user] = None
        bisect.insort(self._user_runnable[user], seq)
        bisect.insort(self._user_by_estimate[user], (self.job_estimate[job], seq))
        self._dirty = True
        self.stage_log.append((self.now, job, stage))

    def _unrunnable(self, job: int) -> None:
        seq = self.job_seq[job]
        user = self.job_user[job]
        del self._runnable[bisect.bisect_left(self._runnable, seq)]
        mine = self._user_runnable[user]
        del mine[bisect.bisect_left(mine, seq)]
        if not mine:
            del self._users_runnable[user]
        keyed = self._user_by_estimate[user]
        del keyed[bisect.bisect_left(keyed, (self.job_estimate[job], seq))]
        self._dirty = True

    def finish_task(self, job: int, duration: float) -> None:
        """A task of `job` that ran `duration` seconds finished now: free its core, advance stage or job."""
        self.free_cores += 1
        self.last_freed_job = job
        self.job_running[job] -= 1
        self.job_tasks_left[job] -= 1
        user = self.job_user[job]
        self.user_running[user] -= 1
        self.user_service[user] += duration
        self._service_total += duration
        if self.user_running[user] == 0:
            self.starved_users += 1
        self._stage_left[job] -= 1
        if self._stage_left[job]:
            return
        stages = self._stages[job]
        if self.job_stage[job] + 1 < len(stages):
            self._submit_stage(job, self.job_stage[job] + 1)
            return
        self.job_finish[job] = self.now
        self.finished_jobs += 1
        self.active_jobs -= 1
        self.user_active[user] -= 1
        if self.user_active[user] == 0:
            self.active_users -= 1
            if self.user_running[user] == 0:
                self.starved_users -= 1
        stream = self.workload.streams[self._stream_of[job]]
        pos = self._pos_of[job]
        if stream.sequential and pos + 1 < len(stream.jobs):
            self._push(self.now + stream.think[pos], ARRIVE, stream.jobs[pos + 1], 0.0)

    def select_candidates(self) -> None:
        """Fill the action slots: all runnable jobs when they fit, else a per-user spread (documented).

        With more runnable jobs than slots, the slots take, in order until full: the globally oldest runnable
        job, the oldest runnable job of each user, each user's runnable job with the smallest estimate, then the
        users' further jobs round-robin in submission order. The slots are then sorted by submission order, so
        slot 0 is always the globally oldest runnable job (Spark FIFO's choice). Slots only change when the set
        of runnable jobs does.
        """
        if not self._dirty:
            return
        self._dirty = False
        runnable = self._runnable
        seq_job = self._seq_job
        k = self.max_candidates
        if len(runnable) <= k:
            self.candidates = [seq_job[s] for s in runnable]
            return
        by_user = self._user_runnable
        users = sorted(self._users_runnable)
        chosen: dict[int, None] = {runnable[0]: None}
        for user in users:
            chosen[by_user[user][0]] = None
        for user in users:
            chosen[self._user_by_estimate[user][0][1]] = None
        depth = 1
        while len(chosen) < k:
            for user in users:
                if depth < len(by_user[user]):
                    chosen[by_user[user][depth]] = None
            depth += 1
        picks = list(chosen)[:k]
        picks.sort()
        self.candidates = [seq_job[s] for s in picks]

    def observation(self) -> np.ndarray:
        """Job features (feature-major: feature f of slot i at f * max_candidates + i), then cluster features.

        Every entry lies in [0, 1]; empty slots are all zero. Built with plain Python arithmetic: for at most a
        few dozen slots that is faster than numpy's per-call overhead (measured), and this is the hottest path.
        """
        cands = self.candidates
        cores = self.cores
        inv_cores = 1.0 / cores
        now = self.now
        inv_service = 1.0 / self._service_total if self._service_total > 0.0 else 0.0
        job_user = self.job_user
        user_running = self.user_running
        user_service = self.user_service
        user_active = self.user_active
        arrival = self.job_arrival
        left_tasks = self.job_tasks_left
        total_tasks = self.job_tasks_total
        estimate = self.job_estimate
        running = self.job_running
        waiting = self.job_waiting
        share, service, ages, work, actives, runs, waits, progress = [], [], [], [], [], [], [], []
        for j in cands:
            u = job_user[j]
            share.append(user_running[u] * inv_cores)
            service.append(user_service[u] * inv_service)
            age = now - arrival[j]
            ages.append(age / (age + AGE_SCALE_S))
            left = left_tasks[j] / total_tasks[j]
            rem = estimate[j] * left
            work.append(rem / (rem + WORK_SCALE_CORE_S))
            active = user_active[u]
            actives.append(active / (active + 4.0))
            runs.append(running[j] * inv_cores)
            w = waiting[j]
            waits.append(w / (w + cores))
            progress.append(1.0 - left)
        pad = [0.0] * (self.max_candidates - len(cands))
        runnable = len(self._runnable)
        free = self.free_cores * inv_cores
        users = self.active_users
        values = share
        for column in (service, ages, work, actives, runs, waits, progress, [1.0] * len(cands)):
            values += pad
            values += column
        values += pad
        values += (
            free,
            1.0 - free,
            self.active_jobs / (self.active_jobs + 16.0),
            runnable / (runnable + 16.0),
            users / (users + 4.0),
            self.starved_users / users if users else 0.0,
        )
        return np.array(values, dtype=np.float32)

    def action_mask(self) -> np.ndarray:
        """True for the filled slots (a fresh copy of a cached template: slots fill from the front)."""
        n = len(self.candidates)
        mask = self._masks.get(n)
        if mask is None:
            mask = np.zeros(self.max_candidates, dtype=bool)
            mask[:n] = True
            self._masks[n] = mask
        return mask.copy()

    def take_signals(self) -> tuple[float, float]:
        """Job-seconds and starved-user-seconds accrued since the previous call."""
        signals = (self.job_seconds, self.starved_user_seconds)
        self.job_seconds = 0.0
        self.starved_user_seconds = 0.0
        return signals


def _stage_estimates(stages: tuple[tuple[float, ...], ...], estimate: float) -> tuple[float, ...]:
    """Split a job's estimate over its stages in proportion to their true work (what CFQ keys on)."""
    work = [sum(s) for s in stages]
    total = sum(work)
    return tuple(estimate * w / total for w in work)
