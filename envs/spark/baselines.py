"""The paper's schedulers as policies over the candidate slots (reference §2, §3, §7).

Each reads `info["system"]` (a `SparkSim`, or the live backend's view with the same attributes) and returns the
slot of the job that gets the free core. Spark re-sorts its queue at every resource offer, so choosing per freed
core is how each scheduler behaves in Spark. Ties break by Spark job id (FIFO), as Spark's comparators do.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from typing import Any, ClassVar

from sysgym.agents.policy import Policy
from sysgym.envs.spark.virtual_time import CFQClock, UWFQClock


def fifo_choice(system: Any) -> int:
    """Spark FIFO: the lowest job id (submission order), then stage id."""
    seq = system.job_seq
    cands = system.candidates
    return min(range(len(cands)), key=lambda i: seq[cands[i]])


def ujf_choice(system: Any) -> int:
    """UJF: a FAIR pool per user at the root (fewest running tasks, weight 1, ties by pool name), FAIR inside.

    Inside a user's pool the job with the fewest running tasks wins, ties by job id (Spark breaks them by
    TaskSet name, which orders by stage id for single-digit stages and approximately otherwise).
    """
    users = system.users
    user_running = system.user_running
    job_user = system.job_user
    running = system.job_running
    seq = system.job_seq
    best = min(
        (user_running[job_user[j]], users[job_user[j]], running[j], seq[j], i) for i, j in enumerate(system.candidates)
    )
    return best[4]


class FifoPolicy(Policy):
    """T-Fifo: Spark's FIFO order (job id, then stage id)."""

    name = "fifo"

    def act(self, obs: Any, info: dict[str, Any]) -> int:
        """The oldest runnable job."""
        return fifo_choice(info["system"])


class FairPolicy(Policy):
    """Spark FAIR as the benchmark deploys it: one `default` pool, which is FIFO inside (reference §5b).

    With every job in one FIFO pool its order equals FIFO's; it is kept as its own baseline because that equality
    is the paper's point about stock FAIR, and a pool declared FAIR would be a different policy.
    """

    name = "fair"

    def act(self, obs: Any, info: dict[str, Any]) -> int:
        """The oldest runnable job, as the default pool orders them."""
        return fifo_choice(info["system"])


class UJFPolicy(Policy):
    """User-job fair: the fairness reference of the paper's DVR."""

    name = "ujf"

    def act(self, obs: Any, info: dict[str, Any]) -> int:
        """The user with the fewest running tasks, then that user's job with the fewest."""
        return ujf_choice(info["system"])


class _ClockPolicy(Policy):
    """Replays the stage submissions logged since the previous decision into a virtual clock."""

    def __init__(self) -> None:
        self._log: list[tuple[float, int, int]] | None = None
        self._cursor = 0

    def reset(self, seed: int) -> None:
        """Forget the previous episode's clock."""
        self._log = None

    def _sync(self, system: Any) -> None:
        if system.stage_log is not self._log:
            self._log = system.stage_log
            self._cursor = 0
            self._new_clock(system.cores)
        log = system.stage_log
        for time, job, stage in log[self._cursor :]:
            self._submit(system, time, job, stage)
        self._cursor = len(log)

    @abstractmethod
    def _new_clock(self, cores: int) -> None:
        """Start a fresh clock for a new episode."""

    @abstractmethod
    def _submit(self, system: Any, time: float, job: int, stage: int) -> None:
        """Feed one logged stage submission to the clock."""


class UWFQPolicy(_ClockPolicy):
    """UWFQ (§2): earliest global virtual deadline first, users equal, a user's jobs chained."""

    name = "uwfq"

    def _new_clock(self, cores: int) -> None:
        self.clock = UWFQClock(cores)

    def _submit(self, system: Any, time: float, job: int, stage: int) -> None:
        self.clock.submit(time, int(system.job_user[job]), job, float(system.job_estimate[job]))

    def act(self, obs: Any, info: dict[str, Any]) -> int:
        """The candidate with the smallest D_j, ties by job id."""
        system = info["system"]
        self._sync(system)
        deadline = self.clock.deadline
        seq = system.job_seq
        cands = system.candidates
        return min(range(len(cands)), key=lambda i: (deadline.get(cands[i], math.inf), int(seq[cands[i]])))


class UWFQPartitionedPolicy(UWFQPolicy):
    """UWFQ-P: UWFQ with runtime partitioning (~0.5 s tasks), which bounds its priority inversions."""

    name = "uwfq-p"
    env_overrides: ClassVar[dict[str, Any]] = {"partitioning": True}


class CFQPolicy(_ClockPolicy):
    """CFQ (§3): stage-level fair queuing without a user level, earliest virtual finish first."""

    name = "cfq"

    def _new_clock(self, cores: int) -> None:
        self.clock = CFQClock(cores)

    def _submit(self, system: Any, time: float, job: int, stage: int) -> None:
        self.clock.submit(time, job, stage, float(system.job_stage_estimates[job][stage]))

    def act(self, obs: Any, info: dict[str, Any]) -> int:
        """The candidate whose current stage has the earliest virtual finish, ties by job id."""
        system = info["system"]
        self._sync(system)
        deadline = self.clock.deadline
        stage = system.job_stage
        seq = system.job_seq
        cands = system.candidates
        return min(
            range(len(cands)),
            key=lambda i: (deadline.get((cands[i], stage[cands[i]]), math.inf), int(seq[cands[i]])),
        )


class DynamicPartitionPolicy(Policy):
    """Decima's `dynamic_partition` (§7): each unfinished job holds at most ceil(C / unfinished jobs) cores.

    A freed core prefers the job that freed it; otherwise the oldest job under its cap. When every runnable
    job is at its cap the core still goes to the oldest one, since the env (like Spark) never idles a core.
    """

    name = "dynamic-partition"

    def act(self, obs: Any, info: dict[str, Any]) -> int:
        """The freeing job if under its cap, else the oldest under-cap candidate."""
        system = info["system"]
        cands = system.candidates
        cap = math.ceil(system.cores / max(system.active_jobs, 1))
        running = system.job_running
        under = [i for i, j in enumerate(cands) if running[j] < cap]
        for i in under:
            if cands[i] == system.last_freed_job:
                return i
        if under:
            seq = system.job_seq
            return min(under, key=lambda i: seq[cands[i]])
        return fifo_choice(system)


class SRPTOraclePolicy(Policy):
    """Shortest remaining processing time with the true task durations (an oracle bound, not a Spark policy)."""

    name = "srpt-oracle"

    def act(self, obs: Any, info: dict[str, Any]) -> int:
        """The candidate with the least true unlaunched work, ties by job id."""
        system = info["system"]
        work = system.job_unlaunched_work
        seq = system.job_seq
        cands = system.candidates
        return min(range(len(cands)), key=lambda i: (work[cands[i]], int(seq[cands[i]])))


BASELINES: dict[str, type[Policy]] = {
    p.name: p
    for p in (
        FifoPolicy,
        FairPolicy,
        UJFPolicy,
        CFQPolicy,
        UWFQPolicy,
        UWFQPartitionedPolicy,
        DynamicPartitionPolicy,
        SRPTOraclePolicy,
    )
}
