"""The virtual clocks of UWFQ and CFQ (reference §2, §3), as the public Spark implementation keeps them.

Both are WFQ-style fluid simulations advanced only at stage submissions: the dispatcher then serves the job (or
stage) with the earliest virtual finish. Times are seconds and work is core-seconds; the reference's 3000 ms
grace becomes 3 s.
"""

from __future__ import annotations

from dataclasses import dataclass, field

GRACE_S = 3.0


@dataclass
class _User:
    """One user of UWFQ's two-level fluid system."""

    global_start: float = 0.0
    global_end: float = 0.0
    clock: float = 0.0
    jobs: dict[int, tuple[float, float]] = field(default_factory=dict)
    known: set[int] = field(default_factory=set)


class UWFQClock:
    """User Weighted Fair Queuing: users share C equally in virtual time, a user's jobs run back to back.

    Call `submit` at each stage submission (in time order) and read `deadline[job]`, the job's global virtual
    finish D_j; the dispatcher serves the smallest D first.
    """

    def __init__(self, cores: int) -> None:
        self.cores = float(cores)
        self.grace = GRACE_S * cores / 2.0
        self.virtual = 0.0
        self.t_prev = 0.0
        self.active: dict[int, _User] = {}
        self.historic: dict[int, _User] = {}
        self.deadline: dict[int, float] = {}

    def advance(self, now: float) -> None:
        """Step 1 of §2: run the fluid system to `now`, retiring users and jobs whose virtual finish passed."""
        while self.active:
            share = self.cores / len(self.active)
            user_id = min(self.active, key=lambda u: (self.active[u].global_end, u))
            user = self.active[user_id]
            tau = self.t_prev + max(user.global_end - self.virtual, 0.0) / share
            if tau > now:
                break
            self._advance_users(tau - self.t_prev, share)
            self.virtual = max(self.virtual, user.global_end)
            self.t_prev = tau
            user.jobs.clear()
            self.historic[user_id] = self.active.pop(user_id)
        if self.active:
            share = self.cores / len(self.active)
            self._advance_users(now - self.t_prev, share)
            self.virtual += (now - self.t_prev) * share
        self.t_prev = now

    def _advance_users(self, elapsed: float, share: float) -> None:
        for user in self.active.values():
            left = elapsed
            while user.jobs and left > 0.0:
                rate = share / len(user.jobs)
                job, (due, work) = min(user.jobs.items(), key=lambda item: (item[1][0], item[0]))
                needed = (due - user.clock) / rate
                if needed > left:
                    user.clock += left * rate
                    break
                user.clock = due
                left -= needed
                del user.jobs[job]
                user.global_start += work

    def submit(self, now: float, user_id: int, job: int, estimate: float) -> None:
        """Steps 1-4 of §2 for one stage of `job` (user `user_id`, job estimate in core-seconds)."""
        self.advance(now)
        user = self.active.get(user_id)
        if user is None:
            user = self.historic.pop(user_id, None)
            keep = user is not None and job in user.known and self.virtual - user.global_end <= self.grace
            if user is None:
                user = _User()
            if not keep:
                user.global_start = self.virtual
            self.active[user_id] = user
        if job not in user.known:
            user.known.add(job)
            user.jobs[job] = (user.clock + estimate, estimate)
        self._chain(user)

    def _chain(self, user: _User) -> None:
        end = user.global_start
        for job, (_, work) in sorted(user.jobs.items(), key=lambda item: (item[1][0], item[0])):
            end += work
            self.deadline[job] = end
        user.global_end = end


class CFQClock:
    """Stage-level fair queuing: every active stage gets C / |active stages|, served earliest virtual finish first.

    `deadline[(job, stage)]` is V at the stage's submission plus its estimate.
    """

    def __init__(self, cores: int) -> None:
        self.cores = float(cores)
        self.virtual = 0.0
        self.t_prev = 0.0
        self.active: dict[tuple[int, int], float] = {}
        self.deadline: dict[tuple[int, int], float] = {}

    def advance(self, now: float) -> None:
        """Run the fluid system to `now`, retiring stages whose virtual finish has passed."""
        while self.active:
            share = self.cores / len(self.active)
            key = min(self.active, key=lambda k: (self.active[k], k))
            tau = self.t_prev + max(self.active[key] - self.virtual, 0.0) / share
            if tau > now:
                break
            self.virtual = max(self.virtual, self.active.pop(key))
            self.t_prev = tau
        if self.active:
            self.virtual += (now - self.t_prev) * self.cores / len(self.active)
        self.t_prev = now

    def submit(self, now: float, job: int, stage: int, estimate: float) -> None:
        """Register a stage submitted at `now` with `estimate` core-seconds of work."""
        self.advance(now)
        due = self.virtual + estimate
        self.active[(job, stage)] = due
        self.deadline[(job, stage)] = due
