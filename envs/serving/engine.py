"""Event-driven LLM-serving engine with iteration-level (continuous) batching.

Workers are model instances (a whole GPU, an SM partition of one, or a GPU of a disaggregated pair). Each runs
iterations one after another; a `Scheduler` forms every iteration (`Plan`: prefill chunks and whether the worker's
decode batch steps). Requests arrive from a list sorted by time. Time advances from event to event; between
events a worker whose batch did not change runs its decode iterations in a tight loop with O(1) work each:

* a decode batch is a cohort: each member's progress follows from the worker's iteration counter, so no
  per-request work happens per iteration; completions sit in a heap keyed by their finishing iteration;
* paged KV growth is exact: a member needs a new block on the iterations where its stored KV length is a multiple
  of the block size, so the engine counts members by (stored length - join iteration) mod block size;
* an iteration's duration comes from the performance model (`perf.PerfModel`), slowed by the measured co-running
  rate when the worker shares the GPU with a busy partner (semi-PD's prefill and decode workers).

The scheduler is consulted only when something changed for a worker (an arrival, a completion, a request ready to
join, a swap finished, a partition change, a timer) unless it sets `every_iteration`.
"""

from __future__ import annotations

import heapq
import math
from abc import ABC, abstractmethod
from array import array
from collections import deque
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from mypy_extensions import mypyc_attr

from sysgym.envs.serving.kv import KVPool, SwapCost
from sysgym.envs.serving.perf import IterationModel
from sysgym.envs.serving.request import DECODE, FINISHED, PREFILL, READY, SWAPPED, TRANSFER, WAITING, Request

ITER_END, SWAP_IN_DONE, TRANSFER_DONE, TIMER = 0, 1, 2, 3
INF = math.inf
DECODE = DECODE


class Plan(NamedTuple):
    """One iteration of one worker (immutable, so the common plans below are shared).

    Attributes:
        chunks: (request, new prompt tokens) to prefill this iteration; each request's KV grows by its tokens.
        decode: whether the worker's decode batch takes a step (one token per member).
    """

    chunks: list[tuple[Request, int]]
    decode: bool


EMPTY_PLAN = Plan([], False)
DECODE_PLAN = Plan([], True)


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
class Worker:
    """One model instance: its SMs, KV pool, queues and decode cohort.

    Attributes:
        idx: position in the engine's worker list.
        name: label for reports.
        role: `unified` (prefill and decode), `prefill` or `decode`.
        sms: streaming multiprocessors it runs on.
        pool: the KV pool its requests hold blocks in.
        decode_to: worker whose decode batch receives this worker's prefilled requests (itself when unified).
        partner: worker sharing this GPU's SMs (semi-PD), or -1.
        max_batch: most sequences in the decode batch.
        token_budget: most prompt tokens (plus decode tokens for mixed batches) in one iteration.
        waiting: requests queued for prefill (FIFO unless the scheduler reorders it).
        ready: prefilled or swapped-in requests holding KV, waiting to join the decode batch.
        incoming: (request, source worker) prefilled on another worker whose KV has not been moved here yet.
        swapped: requests this worker preempted to host memory, oldest first.
        members: the decode batch, by request id.
        it: decode iterations done (the cohort clock).
        iter_end: end time of every decode iteration (for time-between-tokens samples), a C array of doubles.
        busy: an iteration is in flight.
        dirty: the scheduler must be consulted before the next iteration.
        busy_s: seconds spent in iterations.
    """

    def __init__(
        self,
        idx: int,
        name: str,
        role: str,
        sms: int,
        pool: KVPool,
        max_batch: int,
        token_budget: int,
    ) -> None:
        self.idx = idx
        self.name = name
        self.role = role
        self.sms = sms
        self.pool = pool
        self.decode_to = idx
        self.partner = -1
        self.max_batch = max_batch
        self.token_budget = token_budget
        self.transfer_s: Callable[[Request], float] | None = None
        self.reset()

    def reset(self) -> None:
        """Clear all per-episode state."""
        self.waiting: deque[Request] = deque()
        self.ready: deque[Request] = deque()
        self.incoming: deque[tuple[Request, int]] = deque()
        self.swapped: deque[Request] = deque()
        self.members: dict[int, Request] = {}
        self.it = 0
        self.counts = [0] * self.pool.block_tokens
        self.kv_base = 0
        self.finish_heap: list[tuple[int, int, int, Request]] = []
        self.iter_end: array[float] = array("d")  # not a list: the collector need not walk a C array of doubles
        self.busy = False
        self.dirty = True
        self.plan: Plan = EMPTY_PLAN
        self.stall = 0.0
        self.busy_s = 0.0
        self.iterations = 0
        self.pending_sms: tuple[int, float] | None = None
        self.at_iterations: tuple[int, Callable[[Engine], None]] | None = None

    @property
    def batch(self) -> int:
        """Sequences in the decode batch."""
        return len(self.members)

    def kv_read(self) -> int:
        """KV tokens the decode batch's attention reads in the next iteration."""
        return self.kv_base + len(self.members) * self.it


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
class Scheduler(ABC):
    """The policy hook: forms each iteration and handles KV exhaustion.

    Attributes:
        every_iteration: consult `plan` before every iteration (a scheduler that re-ranks requests each step);
            otherwise only when something changed for the worker.
    """

    every_iteration: bool = False

    @abstractmethod
    def plan(self, engine: Engine, worker: Worker) -> Plan:
        """The next iteration of `worker`; may admit (`engine.join`), preempt or swap requests first."""

    def on_arrival(self, engine: Engine, request: Request) -> None:
        """Queue a new request; the default puts it on the first prefill-capable worker's waiting queue."""
        engine.workers[engine.entry].waiting.append(request)

    def quiet(self, engine: Engine, worker: Worker) -> bool:
        """Whether `plan` would now return `worker`'s decode-only plan and change nothing (no admission, no swap).

        The engine then keeps its inline decode loop running through an iteration hook instead of re-planning;
        the default (False) always re-plans.
        """
        return False

    def on_kv_exhausted(self, engine: Engine, worker: Worker, needed: int) -> None:
        """The decode batch needs `needed` blocks more than are free; free them (default: recompute newest)."""
        while worker.pool.free < needed and worker.members:
            victim = max(worker.members.values(), key=lambda r: (r.arrival, r.rid))
            engine.preempt(victim, "recompute")


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
class Engine:
    """Runs requests through workers under a scheduler.

    Args:
        workers: the model instances; `entry` receives arrivals.
        perf: the performance model of every worker's iterations.
        scheduler: the policy hook.
        swap_cost: seconds to swap blocks (`kv.SwapCost`).
        async_swap: swaps overlap compute (completion events) instead of stalling the worker's next iteration.
        oversubscribed: partners share all SMs (semi-PD (100, 100)) instead of disjoint partitions.

    Attributes:
        inline: run clean decode iterations in the fast inline loop (a live backend that times every iteration on
            a GPU turns it off).
    """

    def __init__(
        self,
        workers: list[Worker],
        perf: IterationModel,
        scheduler: Scheduler,
        swap_cost: SwapCost,
        async_swap: bool = False,
        oversubscribed: bool = False,
    ) -> None:
        self.workers = workers
        self.perf = perf
        self.scheduler = scheduler
        self.swap_cost = swap_cost
        self.async_swap = async_swap
        self.oversubscribed = oversubscribed
        self.entry = 0
        self.inline = True
        self.requests: list[Request] = []
        self.reset([])

    # ---- episode --------------------------------------------------------------------------------------------
    def reset(self, requests: list[Request]) -> None:
        """Start an episode with `requests` (sorted by arrival; their state is reset)."""
        self.requests = requests
        self.now = 0.0
        self._next = 0
        self._events: list[tuple[float, int, int, int, Request | None]] = []
        self._seq = 0
        self.finished: list[Request] = []
        self.preemptions = 0
        self.swapped_blocks = 0
        self.swap_channel_free = 0.0
        self.switches = 0
        self.timer_hooks: dict[int, Callable[[Engine], None]] = {}
        for w in self.workers:
            w.pool.reset()
        for w in self.workers:
            w.reset()
        self.on_finish: Callable[[Request], None] | None = None
        self._until = INF
        self.it_stop: tuple[int, int] | None = None

    @property
    def done(self) -> bool:
        """Every request has finished."""
        return len(self.finished) == len(self.requests)

    @property
    def arrived(self) -> int:
        """Requests that have arrived so far."""
        return self._next

    def _push(self, time: float, kind: int, worker: int, request: Request | None = None) -> None:
        self._seq += 1
        heapq.heappush(self._events, (time, self._seq, kind, worker, request))

    def at_iterations(self, w: Worker, count: int, hook: Callable[[Engine], None]) -> None:
        """Call `hook(engine)` at the end of `w`'s `count`-th iteration; every worker is then re-planned.

        For events counted in iterations, such as a per-iteration update probability; one pending hook per worker.
        """
        w.at_iterations = (count, hook)

    def add_timer(self, time: float, hook: Callable[[Engine], None]) -> None:
        """Call `hook(engine)` at `time` (e.g. a priority update); every worker is then re-planned."""
        self._seq += 1
        self.timer_hooks[self._seq] = hook
        heapq.heappush(self._events, (time, self._seq, TIMER, -1, None))

    def wake(self) -> None:
        """Re-plan every worker at the current instant: the scheduler's inputs changed outside the engine.

        A scheduler that waits for an outside decision (an agent's ranking) calls this once it has it; idle workers
        start at once, busy ones re-plan when their iteration ends.
        """
        for w in self.workers:
            w.dirty = True
        self._kick()

    def next_event_time(self) -> float:
        """Time of the next arrival or event."""
        t_arr = self.requests[self._next].arrival if self._next < len(self.requests) else INF
        t_ev = self._events[0][0] if self._events else INF
        return t_arr if t_arr < t_ev else t_ev

    def run(self, until: float = INF, stop: Callable[[], bool] | None = None) -> None:
        """Advance to time `until` (or until every request finished, or `stop()` is true before or after an event).

        The run also ends, like a `stop`, once the worker named by `it_stop` (worker index, iteration count) has done
        that many decode iterations, which spares a window of iterations a Python call after every event. The clock
        ends at `until` only when the run reached it; a run that ended otherwise keeps the time it stopped at.
        """
        it_stop = self.it_stop
        stop_worker = self.workers[it_stop[0]] if it_stop is not None else None
        stop_it = it_stop[1] if it_stop is not None else 0
        if (stop is not None and stop()) or (stop_worker is not None and stop_worker.it >= stop_it):
            return
        reqs = self.requests
        n_reqs = len(reqs)  # schedulers may reorder the list (later turns) but never change its length
        finished = self.finished
        events = self._events
        workers = self.workers
        scheduler = self.scheduler
        on_arrival = scheduler.on_arrival
        every = scheduler.every_iteration
        start = self._start
        end_iteration = self._end_iteration
        heappop = heapq.heappop
        intake = [w for w in workers if w.role != "decode"]
        self._until = until
        reached = False
        while True:
            nxt = self._next
            t_arr = reqs[nxt].arrival if nxt < n_reqs else INF
            t_ev = events[0][0] if events else INF
            if t_arr <= t_ev:
                if t_arr > until or t_arr == INF:
                    reached = True
                    break
                # while every prefill-capable worker is busy, arrivals up to the next event cannot change
                # anything but the queues: take them all, then kick once
                limit = t_ev if t_ev < until else until
                for w in intake:
                    if not w.busy:
                        limit = t_arr
                        break
                while True:
                    self.now = t_arr
                    on_arrival(self, reqs[nxt])
                    nxt += 1
                    self._next = nxt
                    if nxt >= n_reqs or reqs[nxt].arrival > limit:
                        break
                    t_arr = reqs[nxt].arrival
                for w in intake:
                    w.dirty = True
            else:
                if t_ev > until:
                    reached = True
                    break
                time, seq, kind, idx, request = heappop(events)
                self.now = time
                if kind == ITER_END:
                    end_iteration(workers[idx])
                elif kind == TIMER:
                    self.timer_hooks.pop(seq)(self)
                    for w in workers:
                        w.dirty = True
                else:  # TRANSFER_DONE, SWAP_IN_DONE
                    assert request is not None
                    request.phase = READY
                    target = workers[idx]
                    target.ready.append(request)
                    target.dirty = True
            # `_kick`, inlined: start every idle worker that has work
            for w in workers:
                if not w.busy and (w.dirty or every or w.stall > 0.0):
                    start(w)
            if stop is not None and stop():
                break
            if stop_worker is not None and stop_worker.it >= stop_it:
                break
            if len(finished) == n_reqs:
                break
        if reached and until < INF and self.now < until and not self.done:
            self.now = until

    def _kick(self) -> None:
        """Start every idle worker that has work (runs after every event)."""
        every = self.scheduler.every_iteration
        for w in self.workers:
            if not w.busy and (w.dirty or every or w.stall > 0.0):
                self._start(w)

    # ---- iterations -----------------------------------------------------------------------------------------
    def _rate(self, w: Worker) -> float:
        if w.partner < 0:
            return 1.0
        partner = self.workers[w.partner]
        if not partner.busy:
            return 1.0
        prefill = w if w.role == "prefill" else partner
        p_rate, d_rate = self.perf.corun_rates(prefill.sms, self.oversubscribed)
        return p_rate if w.role == "prefill" else d_rate

    def _start(self, w: Worker) -> None:
        """Plan and launch `w`'s next iteration if it has work."""
        pending = w.pending_sms
        if pending is not None and self.now >= pending[1]:
            w.sms = pending[0]
            w.pending_sms = None
        plan = w.plan
        if w.dirty or plan.chunks or self.scheduler.every_iteration:
            w.dirty = False
            plan = w.plan = self.scheduler.plan(self, w)
        chunks, decode = plan
        members = w.members
        if decode and not members:
            decode = False
        if not chunks and not decode:
            if w.stall > 0:
                self._launch(w, w.stall)
                w.stall = 0.0
            return
        pool = w.pool
        block = pool.block_tokens
        if decode:
            need = w.counts[(-w.it) % block]
            if need > pool.capacity - pool.used:
                self.scheduler.on_kv_exhausted(self, w, need)
                w.dirty = True
                if not members:
                    plan = w.plan = Plan(chunks, False)
                    decode = False
                else:
                    need = w.counts[(-w.it) % block]
                    if need > pool.capacity - pool.used:
                        raise RuntimeError("on_kv_exhausted did not free enough KV blocks")
            if decode:
                # `pool.take(need)` without its re-check: the test above holds
                pool.used += need
                if pool.used > pool.peak:
                    pool.peak = pool.used
        tokens = 0
        e2 = 0.0
        if chunks:
            for i, (req, n) in enumerate(chunks):
                done = req.prefilled
                grow = -(-(done + n) // block) - req.blocks  # `pool.blocks_for`, inlined
                if grow > 0:
                    if grow > pool.capacity - pool.used:
                        plan = w.plan = Plan(self._requeue(w, chunks, i), plan.decode)
                        chunks = plan.chunks
                        break
                    pool.used += grow  # `pool.take(grow)` without its re-check: the test above holds
                    if pool.used > pool.peak:
                        pool.peak = pool.used
                    req.blocks += grow
                e2 += n * (n + 2 * done)
                tokens += n
        if not chunks and not decode:
            return
        perf = self.perf
        if tokens == 0:
            batch = len(members)
            duration = perf.decode_s(w.sms, batch if decode else 0, w.kv_base + batch * w.it)
        elif decode:
            batch = len(members)
            duration = perf.mixed_s(w.sms, tokens, e2, batch, w.kv_base + batch * w.it)
        else:
            duration = perf.prefill_s(w.sms, tokens, e2)
        if w.partner >= 0:
            partner = self.workers[w.partner]
            if partner.busy:
                # co-running slows both partitions as measured (`_rate`, inlined)
                if w.role == "prefill":
                    duration /= perf.corun_rates(w.sms, self.oversubscribed)[0]
                else:
                    duration /= perf.corun_rates(partner.sms, self.oversubscribed)[1]
        duration += w.stall
        w.stall = 0.0
        # `_launch`, inlined
        w.busy = True
        w.busy_s += duration
        self._seq += 1
        heapq.heappush(self._events, (self.now + duration, self._seq, ITER_END, w.idx, None))

    @staticmethod
    def _requeue(w: Worker, chunks: list[tuple[Request, int]], first: int) -> list[tuple[Request, int]]:
        """Drop `chunks[first:]` (the decode step's KV growth left no room) back to the head of the queue."""
        for req, _ in reversed(chunks[first:]):
            if not w.waiting or w.waiting[0] is not req:
                w.waiting.appendleft(req)
            if req.prefilled == 0:
                req.phase = WAITING
        w.dirty = True
        return chunks[:first]

    def _launch(self, w: Worker, duration: float) -> None:
        w.busy = True
        w.busy_s += duration
        self._push(self.now + duration, ITER_END, w.idx)

    def _end_iteration(self, w: Worker) -> None:
        w.busy = False
        w.iterations += 1
        chunks, decode = w.plan
        if chunks:
            for req, n in chunks:
                prefilled = req.prefilled = req.prefilled + n
                generated = req.generated
                # `req.prefill_target`, inlined
                if prefilled >= (req.prompt + generated - 1 if generated > 1 else req.prompt):
                    self._prefill_done(w, req)
            w.dirty = True
        if decode and w.members:
            # `_decode_step`, inlined
            now = self.now
            it = w.it = w.it + 1
            w.iter_end.append(now)
            heap = w.finish_heap
            if heap and heap[0][0] <= it:
                self._finish_due(w, now)
        else:
            decode = False
        if w.at_iterations is not None and w.iterations >= w.at_iterations[0]:
            hook = w.at_iterations[1]
            w.at_iterations = None
            hook(self)
            for other in self.workers:
                other.dirty = True
        if decode:
            clean = not chunks and self.inline and not self.scheduler.every_iteration
            if clean and not w.dirty:
                self._decode_run(w)
            elif not w.busy:
                if (
                    clean
                    and w.members
                    and len(self.workers) == 1
                    and w.pending_sms is None
                    and self.scheduler.quiet(self, w)
                ):
                    # a completion (or a hook) changed nothing the plan depends on: launch as `_start` would, inline
                    w.dirty = False
                    self._decode_run(w, fresh=True)
                else:
                    w.dirty = True

    def _finish_due(self, w: Worker, now: float) -> None:
        """Retire the decode-batch members whose last token came out in the iteration that just ended."""
        heap = w.finish_heap
        idx = w.idx
        while heap and heap[0][0] <= w.it:
            entry = heapq.heappop(heap)
            req = entry[3]
            if req.phase != DECODE or req.worker != idx or req.join_iter != entry[2]:  # a stale entry
                continue
            self._leave(w, req)
            req.phase = FINISHED
            req.finish = now
            w.pool.used -= req.blocks  # `pool.give`, inlined
            req.blocks = 0
            self.finished.append(req)
            if self.on_finish is not None:
                self.on_finish(req)
            for other in self.workers:
                other.dirty = True

    def _decode_run(self, w: Worker, fresh: bool = False) -> None:
        """Run clean decode-only iterations inline until the next event, a completion or a KV shortage.

        Nothing in the loop touches another worker, the batch or the partition, so those are read once; only this
        worker's clock, KV use and busy time move, and they are written back on the way out.

        An iteration hook (`at_iterations`) of the only worker also runs inline when the scheduler reports that
        re-planning would change nothing (`Scheduler.quiet`): the next iteration is then timed as `_start` times a
        fresh launch, and the loop's setup is redone as `_end_iteration` would redo it, so the run is the one the
        event-by-event path produces, without its events. `fresh` starts the run that way (`_end_iteration` found
        the worker dirty but the scheduler quiet).
        """
        while True:
            nxt = self._next
            limit = self.requests[nxt].arrival if nxt < len(self.requests) else INF  # `next_event_time`, inlined
            events = self._events
            if events and events[0][0] < limit:
                limit = events[0][0]
            if self._until < limit:
                limit = self._until
            it_stop = self.it_stop[1] if self.it_stop is not None and self.it_stop[0] == w.idx else 1 << 62
            pool = w.pool
            block = pool.block_tokens
            capacity = pool.capacity
            counts = w.counts
            heap = w.finish_heap
            iter_end = w.iter_end
            idx = w.idx
            rate = self._rate(w)
            n = len(w.members)
            kv_base = w.kv_base
            fixed, per_kv = self.perf.decode_terms(w.sms, n)
            switch_at = w.pending_sms[1] if w.pending_sms is not None else INF
            now = self.now
            it = w.it
            # Entries left by members that went away can never turn live again (the clock only moves on), and the
            # loop changes no membership: drop them once, and the next completion's iteration stays fixed.
            while heap:
                head = heap[0]
                req = head[3]
                if req.phase == DECODE and req.worker == idx and req.join_iter == head[2]:  # still in this batch
                    break
                heapq.heappop(heap)
            stop_it = min(it_stop, heap[0][0]) if heap else it_stop
            hook_it = 1 << 62
            if w.at_iterations is not None:
                # the iteration that reaches the hook's count ends with the hook
                hook_it = it + w.at_iterations[0] - w.iterations
                if len(self.workers) > 1 or w.pending_sms is not None:
                    stop_it = min(stop_it, hook_it)  # other workers re-plan after a hook: it ends as an event
            edge = min(stop_it, hook_it) - 1  # an iteration starting at `edge` ends the loop either way
            start_it = it
            busy_s = w.busy_s
            used = pool.used
            peak = pool.peak
            hooked = False
            if fresh:
                # `_start`'s timing of a decode-only launch (one worker: no co-running partner), then the setup
                # above is redone, as `_end_iteration` would redo it after that launch's iteration
                need = counts[(-it) % block]
                if need > capacity - used:
                    w.dirty = True
                else:
                    duration = self.perf.decode_s(w.sms, n, kv_base + n * it) + w.stall
                    w.stall = 0.0
                    end = now + duration
                    used += need
                    if used > peak:
                        peak = used
                    busy_s += duration
                    if end > limit or it + 1 >= stop_it:
                        w.busy = True
                        self._push(end, ITER_END, idx)
                    else:
                        now = end
                        it += 1
                        iter_end.append(now)
                        hooked = it >= hook_it
            else:
                kv = kv_base + n * it  # KV tokens the next iteration reads: `n` more after each
                while True:
                    if now >= switch_at:
                        w.dirty = True
                        break
                    need = counts[(-it) % block]
                    if need:
                        if need > capacity - used:
                            w.dirty = True
                            break
                        # `pool.take(need)` without its re-check: the capacity test above already holds
                        used += need
                        if used > peak:
                            peak = used
                    duration = (fixed + per_kv * kv) / rate
                    end = now + duration
                    busy_s += duration
                    if end > limit or it >= edge:
                        if end > limit or it + 1 >= stop_it:
                            w.busy = True
                            self._push(end, ITER_END, idx)
                        else:  # the hook's iteration
                            now = end
                            it += 1
                            iter_end.append(now)
                            hooked = True
                        break
                    now = end
                    it += 1
                    kv += n
                    iter_end.append(now)
            iterations = w.iterations + it - start_it
            pool.used = used
            pool.peak = peak
            self.now = now
            w.it = it
            w.busy_s = busy_s
            w.iterations = iterations
            if w.busy or w.dirty:
                return
            fresh = False
            if hooked:
                # `_end_iteration`'s hook call, then its re-plan unless the scheduler says it would change nothing
                assert w.at_iterations is not None
                hook = w.at_iterations[1]
                w.at_iterations = None
                hook(self)
                w.dirty = True
                if not self.scheduler.quiet(self, w):
                    return
                w.dirty = False
                fresh = True

    # ---- request moves (for schedulers) ---------------------------------------------------------------------
    def _prefill_done(self, w: Worker, req: Request) -> None:
        now = self.now
        if req.first_token < 0:
            req.first_token = now
            req.generated = 1
        if req.generated >= req.output:
            req.phase = FINISHED
            req.finish = now
            w.pool.give(req.blocks)
            req.blocks = 0
            self.finished.append(req)
            if self.on_finish is not None:
                self.on_finish(req)
            return
        target = self.workers[w.decode_to]
        if target.pool is not w.pool:
            req.phase = TRANSFER
            target.incoming.append((req, w.idx))
        else:
            req.phase = READY
            target.ready.append(req)
        target.dirty = True

    def start_transfer(self, target: Worker) -> Request:
        """Move the oldest `target.incoming` request's KV from its prefill worker's pool into `target.pool`.

        Disaggregated serving: the caller checked `target.pool.free`; the request joins `target.ready` when the
        transfer (`source.transfer_s`) ends.
        """
        req, source_idx = target.incoming.popleft()
        source = self.workers[source_idx]
        target.pool.take(req.blocks)
        source.pool.give(req.blocks)
        delay = source.transfer_s(req) if source.transfer_s is not None else 0.0
        self._push(self.now + delay, TRANSFER_DONE, target.idx, req)
        return req

    def join(self, req: Request, w: Worker) -> None:
        """Add a READY request (holding its KV in `w.pool`) to `w`'s decode batch."""
        it = w.it
        generated = req.generated
        marks = req.tbt_marks
        if marks:
            widx, start, last, stop = marks[-1]
            if stop > start:
                last = self.workers[widx].iter_end[stop - 1]
        else:
            last = req.first_token
        req.phase = DECODE
        req.worker = w.idx
        req.join_iter = it
        req.join_generated = generated
        stored = req.prompt + generated - 1
        w.counts[(stored - it) % w.pool.block_tokens] += 1
        w.kv_base += stored + 1 - it
        w.members[req.rid] = req
        heapq.heappush(w.finish_heap, (it + req.output - generated, req.rid, it, req))
        marks.append((w.idx, it, last, -1))
        w.dirty = True

    def _leave(self, w: Worker, req: Request) -> None:
        req.generated = req.join_generated + (w.it - req.join_iter)
        stored = req.prompt + req.join_generated - 1
        w.counts[(stored - req.join_iter) % w.pool.block_tokens] -= 1
        w.kv_base -= stored + 1 - req.join_iter
        del w.members[req.rid]
        widx, start, last, _ = req.tbt_marks[-1]
        req.tbt_marks[-1] = (widx, start, last, w.it)
        req.blocks = -(-(req.prompt + req.generated - 1) // w.pool.block_tokens)  # `pool.blocks_for`, inlined
        req.worker = -1

    def preempt(self, req: Request, mode: str) -> None:
        """Take `req` out of its decode batch (or prefill) and release its device KV.

        Args:
            req: a request in a decode batch, READY, or part-way through prefill.
            mode: `recompute` (drop the KV; the request re-prefills prompt and output so far) or `swap` (copy the
                KV to host memory; `swap_in` brings it back).
        """
        w = self.workers[req.worker] if req.phase == DECODE else self._holder(req)
        if req.phase == DECODE:
            self._leave(w, req)
        elif req.phase == READY:
            w.ready.remove(req)
        elif req.phase in (PREFILL, WAITING):
            w.waiting.remove(req)
        else:
            raise ValueError(f"cannot preempt a request in phase {req.phase.name}")
        self.preemptions += 1
        req.preemptions += 1
        pool = w.pool
        if mode == "swap" and req.generated > 0 and pool.host_free >= req.blocks:
            cost = self.swap_cost(req, req.blocks, pool.block_bytes, "out")
            pool.host_used += req.blocks
            req.host_blocks = req.blocks
            self.swapped_blocks += req.blocks
            pool.give(req.blocks)
            req.blocks = 0
            req.phase = SWAPPED
            w.swapped.append(req)
            self._swap_time(w, cost)
        else:
            pool.give(req.blocks)
            req.blocks = 0
            req.prefilled = 0
            req.phase = WAITING
            entry = self.workers[self.entry] if w.role == "decode" else w
            entry.waiting.appendleft(req)
            entry.dirty = True
        w.dirty = True

    def swap_in(self, req: Request, w: Worker) -> None:
        """Bring a SWAPPED request's KV back into `w.pool` (the caller checked `free`); it becomes READY."""
        w.swapped.remove(req)
        pool = w.pool
        blocks = req.host_blocks
        pool.take(blocks)
        pool.host_used -= blocks
        req.blocks = blocks
        req.host_blocks = 0
        self.swapped_blocks += blocks
        cost = self.swap_cost(req, blocks, pool.block_bytes, "in")
        if self.async_swap:
            start = max(self.now, self.swap_channel_free)
            self.swap_channel_free = start + cost
            req.phase = TRANSFER
            self._push(start + cost, SWAP_IN_DONE, w.idx, req)
        else:
            w.stall += cost
            req.phase = READY
            w.ready.append(req)
        w.dirty = True

    def _swap_time(self, w: Worker, cost: float) -> None:
        if self.async_swap:
            self.swap_channel_free = max(self.now, self.swap_channel_free) + cost
        else:
            w.stall += cost

    def _holder(self, req: Request) -> Worker:
        for w in self.workers:
            if req in w.ready or req in w.waiting:
                return w
        return self.workers[self.entry]

    def set_sms(self, w: Worker, sms: int, delay: float) -> None:
        """Give `w` `sms` SMs from `delay` seconds on (its current iteration finishes on the old partition)."""
        if sms == w.sms and w.pending_sms is None:
            return
        w.pending_sms = (sms, self.now + delay)
        w.dirty = True
        self.switches += 1

    # ---- measurements ---------------------------------------------------------------------------------------
    def tbt_samples(self, req: Request) -> np.ndarray:
        """Every time-between-tokens gap of a request, seconds (its decode segments on the worker clocks)."""
        gaps: list[float] = []
        for widx, start, last, stop in req.tbt_marks:
            w = self.workers[widx]
            times = w.iter_end[start : (w.it if stop < 0 else stop)]
            if times:
                gaps.append(times[0] - last)
                gaps.extend(np.diff(times).tolist())
        return np.asarray(gaps)
