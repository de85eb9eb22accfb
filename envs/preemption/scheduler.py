"""The preemptive priority scheduler of the FastSwitch env, plugged into the shared serving core's `Engine`.

At every plan of the core's unified worker the live requests (decoding, ready, prefilling, waiting, swapped) are
ranked by the policy's scores; walking the ranking, a request is kept when its KV (context + 1 token) fits the
device pool and the batch has a slot. Requests holding device KV that did not make it are preempted (swap or
recompute, as the mechanism or the agent says), kept swapped requests are swapped in, kept waiting ones get prefill
chunks under the token budget. Requests whose KV just arrived (READY, or still being swapped in) are always kept,
so every swap-in is followed by at least one iteration and no ranking can livelock the engine. When everything
fits no ranking is needed and no decision is asked: the env's steps are the contended plans.

The scheduler adds what the core leaves to the policy:

- KV reuse across turns (FastSwitch): a conversation's host copy stays valid after a swap-in, so the next
  swap-out moves only new blocks (`SwapPath.discount`), and a new turn loads its earlier turns' KV from host
  instead of prefilling it again (a synchronous load: the request is needed by this very iteration).
- Exogenous priority updates (Random / Markov) at the end of the drawn iteration (the core's iteration hook,
  `Engine.at_iterations`).
- Virtual token counters (per-user service), charged as tokens are produced.
- Multi-turn arrivals: a conversation's next turn takes its place in the core's request list a think time after
  the previous answer.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from operator import mul
from typing import Any

import numpy as np
from mypy_extensions import mypyc_attr

from sysgym.envs.preemption.mechanism import Mechanism
from sysgym.envs.preemption.priority import PriorityProcess, PrioritySpec
from sysgym.envs.preemption.swapcost import Direction, KVGeometry, SwapCostModel
from sysgym.envs.preemption.vtc import VirtualTokenCounters
from sysgym.envs.preemption.workload import Conversations
from sysgym.envs.serving.engine import DECODE_PLAN, EMPTY_PLAN, Engine, Plan, Scheduler, Worker
from sysgym.envs.serving.request import DECODE, PREFILL, READY, SWAPPED, TRANSFER, WAITING, Request

UNSCORED = -2.0
WATERMARK = 0.01


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
class SwapPath:
    """The core's swap-cost hook for one mechanism: calibrated copy time, reuse discount, traffic count.

    The scheduler sets `discount` (blocks already valid on host) right before a swap-out; the engine then calls
    this object with the request and its block count.
    """

    discount: int

    def __init__(self, model: SwapCostModel, geometry: KVGeometry, mechanism: Mechanism) -> None:
        self.model = model
        self.geometry = geometry
        self.mechanism = mechanism
        self.discount = 0
        self.bytes = 0.0
        self.seconds = 0.0

    def drop_host(self, conversation: int) -> None:
        """The conversation's host copy is no longer kept (a live path frees its host blocks)."""

    def forget(self, request: Request) -> None:
        """The request's device KV was dropped for recomputation (a live path frees its device blocks)."""

    def __call__(self, req: Request, blocks: int, block_bytes: int, direction: str) -> float:
        """Seconds to move `blocks` blocks out (`out`) or in (`in`), less the valid host blocks on a swap-out."""
        moved = max(blocks - self.discount, 0) if direction == "out" else blocks
        self.discount = 0
        self.bytes += moved * block_bytes
        seconds = self.copy_s("d2h" if direction == "out" else "h2d", moved)
        self.seconds += seconds
        return seconds

    def copy_s(self, direction: Direction, blocks: int) -> float:
        """Copy time of `blocks` blocks under the mechanism's layout and issuer."""
        mech = self.mechanism
        return self.model.swap_s(
            direction,
            blocks,
            self.geometry,
            mech.layout,
            group_blocks=mech.group_blocks,
            native=mech.native,
            threads=mech.threads,
        )


@mypyc_attr(native_class=False)
class ContendedPerf:
    """The core's performance model, slowed by the measured contention while an asynchronous copy is in flight."""

    def __init__(self, perf: Any, engine: Engine, contention: float) -> None:
        self.perf = perf
        self.engine = engine
        self.contention = contention

    def _factor(self) -> float:
        return 1.0 + self.contention if self.engine.swap_channel_free > self.engine.now else 1.0

    def prefill_s(self, sms: int, tokens: int, e2: float) -> float:
        """Prefill iteration time."""
        return float(self.perf.prefill_s(sms, tokens, e2)) * self._factor()

    def decode_s(self, sms: int, batch: int, kv_tokens: int) -> float:
        """Decode iteration time."""
        return float(self.perf.decode_s(sms, batch, kv_tokens)) * self._factor()

    def mixed_s(self, sms: int, tokens: int, e2: float, batch: int, kv_tokens: int) -> float:
        """Chunked-prefill iteration time."""
        return float(self.perf.mixed_s(sms, tokens, e2, batch, kv_tokens)) * self._factor()

    def decode_terms(self, sms: int, batch: int) -> tuple[float, float]:
        """Fixed and per-KV-token decode time for the core's inline decode loop."""
        fixed, per_kv = self.perf.decode_terms(sms, batch)
        factor = self._factor()
        return fixed * factor, per_kv * factor

    def __getattr__(self, name: str) -> Any:
        if name == "perf" or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.perf, name)


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
class PreemptionScheduler(Scheduler):
    """Ranks live requests by policy scores and enacts the ranking on the core engine.

    Args:
        mechanism: the switching mechanism.
        swap: the engine's swap-cost hook (shared so reuse discounts reach it).
        priorities: the exogenous priority pattern.
        users: number of users (VTC counters).
        decide_every: least iterations between two decisions; the scheduler is consulted after every change
            (arrival, completion, swap, priority update) and asks for a ranking at a contended plan once this many
            iterations have passed since the last one (0 or 1: at every contended plan); in between, the last
            scores stand and unscored requests rank below scored ones.
    """

    def __init__(
        self, mechanism: Mechanism, swap: SwapPath, priorities: PrioritySpec, users: int, decide_every: int = 0
    ) -> None:
        self.mechanism = mechanism
        self.swap = swap
        self.priority_spec = priorities
        self.users = users
        self.decide_every = decide_every
        self.mode = "recompute" if mechanism.recompute else "swap"

    # ----------------------------------------------------------------- episode
    def start(self, engine: Engine, work: Conversations, rng: np.random.Generator) -> list[Request]:
        """Reset per-episode state; returns the first turns, sorted by arrival, for `engine.reset`."""
        self.engine = engine
        self.work = work
        self.priority = PriorityProcess(self.priority_spec, rng)
        self.vtc = VirtualTokenCounters(self.users)
        self.host_valid = [0] * work.count  # a list: read per candidate on every observation
        self.retained = np.zeros(work.count, dtype=np.int64)
        self.live: dict[int, Request] = {}
        self.scores: dict[int, float] = {}
        self.levels: dict[int, int] = {}
        self.counted: dict[int, int] = {}
        self.pending: tuple[list[Request], np.ndarray, np.ndarray | None] | None = None
        self.needs_decision = False
        self.window: list[Request] = []
        self.decisions = 0
        self.last_decision_it = -(1 << 30)
        self.reuse_tokens = 0
        self.finished_tokens = 0
        self.turns = self._all_turns(work)
        first = [self.turns[int(work.first[c])] for c in range(work.count)]
        later = [turn for turn in self.turns if turn.turn > 0]
        first.sort(key=lambda r: (r.arrival, r.rid))
        return first + later

    def attach(self) -> None:
        """Hook into the engine after its reset: completions and the first priority update."""
        self.engine.on_finish = self.on_finish
        self._schedule_update(self.engine.workers[0])

    @staticmethod
    def _all_turns(work: Conversations) -> list[Request]:
        """Every turn as a core request; later turns wait at arrival = inf until their predecessor finishes.

        The whole episode's requests exist from the start (the core's request list keeps its length, which its
        `done` test relies on); a finished turn moves its successor to its real arrival time.
        """
        turns: list[Request] = []
        for conv in range(work.count):
            context = 0
            for index in work.turns_of(conv):
                prompt = context + int(work.prompt_tokens[index])
                output = int(work.output_tokens[index])
                arrival = float(work.start_s[conv]) if index == work.first[conv] else math.inf
                turns.append(
                    Request(index, arrival, prompt, output, int(work.user[conv]), conv, index - int(work.first[conv]))
                )
                context = prompt + output
        return turns

    # ----------------------------------------------------------------- core hooks
    def on_arrival(self, engine: Engine, request: Request) -> None:
        """Queue the request, give it a priority level, count its user as active (counters brought up to date)."""
        worker = engine.workers[engine.entry]
        worker.waiting.append(request)
        if self.vtc.active[request.user] == 0:
            self._account(worker)
        self.live[request.rid] = request
        self.levels[request.rid] = self.priority.initial()
        self.counted[request.rid] = 0
        self.vtc.activate(request.user)

    def on_finish(self, request: Request) -> None:
        """Account the last tokens, release the user, schedule the conversation's next turn."""
        self._charge(request, request.generated)
        self.finished_tokens += request.output
        self.live.pop(request.rid, None)
        self.scores.pop(request.rid, None)
        self.levels.pop(request.rid, None)
        self.counted.pop(request.rid, None)
        self.vtc.deactivate(request.user)
        conv = request.conversation
        nxt = int(self.work.first[conv]) + request.turn + 1
        if nxt < int(self.work.first[conv + 1]):
            turn = self.turns[nxt]
            requests = self.engine.requests
            del requests[requests.index(turn, self.engine.arrived)]  # it has not arrived: search only the rest
            turn.arrival = request.finish + float(self.work.think_s[nxt])
            bisect.insort(requests, turn, lo=self.engine.arrived, key=_arrival)
            if not self.mechanism.reuse:
                self._drop_host(conv)
        else:
            self._drop_host(conv)

    def plan(self, engine: Engine, worker: Worker) -> Plan:
        """Rank, preempt, swap in, join and chunk for the next iteration; may pause for the agent's decision."""
        contended = self._contended(worker)
        if contended and self.pending is None and self._decision_due(worker):
            self.window = self.candidates(worker)
            self.needs_decision = True
            self._account(worker)
            return EMPTY_PLAN
        if self.pending is not None:
            window, scores, drops = self.pending
            self.pending = None
            self._apply_scores(window, scores)
            self.last_decision_it = worker.iterations
        else:
            drops = None
            window = []
        return self._enact(engine, worker, window, drops, contended)

    def quiet(self, engine: Engine, worker: Worker) -> bool:
        """Every live request is decoding and their next steps fit: `plan` would admit nothing and decide nothing.

        That is `plan`'s uncontended path with nothing to bring in, which returns the decode-only plan and changes
        no state; the engine may then run on through a priority update without re-planning.
        """
        return self.pending is None and len(self.live) == len(worker.members) and not self._contended(worker)

    def on_kv_exhausted(self, engine: Engine, worker: Worker, needed: int) -> None:
        """A decode step outgrew the pool: preempt the lowest-ranked members until it fits."""
        while worker.pool.free < needed and worker.members:
            victim = min(worker.members.values(), key=self._rank_key_low)
            self._preempt(victim, self.mode)

    # ----------------------------------------------------------------- decisions
    def decide(self, window: list[Request], scores: np.ndarray, recompute: np.ndarray | None) -> None:
        """Hand the agent's scores (and optional recompute flags) for `window` to the next plan."""
        self.pending = (window, scores, recompute)
        self.needs_decision = False
        self.decisions += 1

    def candidates(self, worker: Worker, limit: int | None = None) -> list[Request]:
        """Live requests in window order: holding device KV first, then the oldest."""
        live = sorted(self.live.values(), key=_window_key)
        return live if limit is None else live[:limit]

    def _decision_due(self, worker: Worker) -> bool:
        if self.decide_every <= 0:
            return True
        return worker.iterations - self.last_decision_it >= self.decide_every

    def _apply_scores(self, window: Sequence[Request], scores: np.ndarray) -> None:
        self.scores = {req.rid: float(score) for req, score in zip(window, scores.tolist(), strict=False)}

    def _rank_key_low(self, req: Request) -> tuple[float, float, int]:
        return (self.scores.get(req.rid, UNSCORED), -req.arrival, -req.rid)

    # ----------------------------------------------------------------- enacting a ranking
    @staticmethod
    def need(req: Request, worker: Worker) -> int:
        """Device blocks `req` needs to take its next step."""
        generated = req.join_generated + worker.it - req.join_iter if req.phase == DECODE else req.generated
        return -(-(req.prompt + generated + 1) // worker.pool.block_tokens)

    @staticmethod
    def generated(req: Request, worker: Worker) -> int:
        """Tokens generated so far (decode-batch members advance with the worker clock)."""
        if req.phase == DECODE:
            return req.join_generated + worker.it - req.join_iter
        return req.generated

    @staticmethod
    def member_blocks(worker: Worker) -> int:
        """Device blocks the decode batch's members need for their next step, without a pass over the batch.

        A member with a_i = prompt + generated - it needs ceil((a_i + it + 1) / B) = (a_i + it + B - (a_i + it) mod B)
        / B; the a_i sum is the engine's `kv_base`, and the engine counts members by r = (a_i - 1) mod B
        (`Engine.join`), so the mod terms sum to sum(r * count_r) + s * members - B * (members with r >= B - s),
        s = (it + 1) mod B: two C-level sums over the B residues instead of a Python loop.
        """
        block = worker.pool.block_tokens
        counts = worker.counts
        members = len(worker.members)
        it = worker.it
        shift = (it + 1) % block
        excess = sum(map(mul, range(block), counts)) + shift * members - block * sum(counts[block - shift :])
        return (worker.kv_base + members * (it + block) - excess) // block

    def _contended(self, worker: Worker) -> bool:
        """Whether the live requests' next steps need more device blocks (or batch slots) than there are."""
        live = self.live
        if len(live) > worker.max_batch:
            return True
        capacity = worker.pool.capacity
        total = self.member_blocks(worker)
        if total > capacity:
            return True
        if len(live) == len(worker.members):
            return False
        block = worker.pool.block_tokens
        for req in live.values():
            if req.phase != DECODE:
                total -= (-(req.prompt + req.generated + 1)) // block  # `pool.blocks_for`, inlined
                if total > capacity:
                    return True
        return False

    def _enact(
        self, engine: Engine, worker: Worker, window: list[Request], drops: np.ndarray | None, contended: bool
    ) -> Plan:
        pool = worker.pool
        if not contended:
            return self._admit_all(engine, worker)
        # One row per live request, sorted by the ranking (score descending, holding KV first, oldest; request ids
        # are unique, so the comparison never reaches the payload): its next step's blocks and whether it holds
        # device KV ride along.
        scores = self.scores
        it = worker.it
        block = pool.block_tokens
        rows = []
        for req in self.live.values():
            phase = req.phase
            holds = phase in _ON_DEVICE or (phase == PREFILL and req.blocks > 0)
            generated = req.join_generated + it - req.join_iter if phase == DECODE else req.generated
            need = -(-(req.prompt + generated + 1) // block)  # `need`, inlined
            rows.append((-scores.get(req.rid, UNSCORED), 0 if holds else 1, req.arrival, req.rid, need, holds, req))
        rows.sort()
        keep: list[Request] = []
        used = 0
        for row in rows:
            if row[6].phase in (TRANSFER, READY):
                used += row[4]
                keep.append(row[6])
        reserve = max(int(WATERMARK * pool.capacity), 1)
        capacity = pool.capacity
        for *_, need, holds, req in rows:
            if req.phase in (TRANSFER, READY):
                continue
            # Bringing a request in leaves one growth block per kept sequence (and vLLM's 1 % watermark) free, so
            # the next decode steps do not immediately evict what was just admitted.
            headroom = 0 if holds else max(reserve, len(keep) + 1)
            if used + need + headroom <= capacity and len(keep) < worker.max_batch:
                keep.append(req)
                used += need
        kept = {req.rid for req in keep}
        dropped = (
            {r.rid for r, flag in zip(window, drops.tolist(), strict=False) if flag} if drops is not None else set()
        )
        for *_, holds, req in rows:
            if holds and req.rid not in kept:
                self._preempt(req, "recompute" if req.rid in dropped else self.mode)
        return self._bring_in(engine, worker, keep)

    def _admit_all(self, engine: Engine, worker: Worker) -> Plan:
        """Everything fits: no ranking, no preemption; bring every live request along."""
        return self._bring_in(engine, worker, [r for r in self.live.values() if r.phase != DECODE])

    def _bring_in(self, engine: Engine, worker: Worker, keep: list[Request]) -> Plan:
        """Join ready requests, swap in kept swapped ones, and give kept waiting ones prefill chunks."""
        pool = worker.pool
        budget = worker.token_budget - len(worker.members)
        chunks: list[tuple[Request, int]] = []
        for req in keep:
            phase = req.phase
            if phase == READY:
                worker.ready.remove(req)
                engine.join(req, worker)
            elif phase == SWAPPED:
                if pool.free >= req.host_blocks:
                    self._swap_in(req, worker)
                    if req.phase == READY:
                        worker.ready.remove(req)
                        engine.join(req, worker)
            elif phase in (WAITING, PREFILL) and budget > 0:
                chunk = self._chunk(req, worker, budget)
                if chunk > 0:
                    chunks.append((req, chunk))
                    budget -= chunk
        return Plan(chunks, True) if chunks else DECODE_PLAN  # the shared plan: nothing mutates a plan's chunks

    def _chunk(self, req: Request, worker: Worker, budget: int) -> int:
        """Prefill tokens for `req` this iteration, after loading reusable host KV of its conversation."""
        pool = worker.pool
        if self.mechanism.reuse and req.prefilled == 0 and req.generated == 0 and self.host_valid[req.conversation]:
            tokens = min(int(self.host_valid[req.conversation]), req.prompt - 1)
            blocks = pool.blocks_for(tokens)
            if tokens > 0 and blocks <= pool.free:
                pool.take(blocks)
                req.blocks += blocks
                req.prefilled = tokens
                self.reuse_tokens += tokens
                self.vtc.charge(req.user, tokens, 0)
                worker.stall += self.swap(req, blocks, pool.block_bytes, "in")
        remaining = req.prefill_target - req.prefilled
        n = min(remaining, budget)
        grow = pool.blocks_for(req.prefilled + n) - req.blocks
        if grow > pool.free:
            n = min(max(0, (req.blocks + pool.free) * pool.block_tokens - req.prefilled), remaining, budget)
        if n > 0:
            req.phase = PREFILL
            if req.generated == 0:
                self.vtc.charge(req.user, n, 0)
            if n == remaining:
                worker.waiting.remove(req)
        return n

    def _preempt(self, req: Request, mode: str) -> None:
        conv = req.conversation
        swapping = mode == "swap" and req.generated > 0
        pool = self.engine.workers[0].pool
        if swapping and self.mechanism.reuse:
            self.swap.discount = int(self.host_valid[conv]) // pool.block_tokens
            pool.host_used -= int(self.retained[conv])
            self.retained[conv] = 0
            self._make_host_room(pool, req)
        self.engine.preempt(req, mode)
        self.swap.discount = 0
        if req.phase == SWAPPED:
            self.host_valid[conv] = req.prompt + req.generated - 1
            return
        self.swap.forget(req)
        if swapping and self.mechanism.reuse and self.host_valid[conv]:
            # host space was short: the swap fell back to recomputation, the retained copy stays
            blocks = pool.blocks_for(int(self.host_valid[conv]))
            self.retained[conv] = blocks
            pool.host_used += blocks

    def _make_host_room(self, pool: Any, req: Request) -> None:
        """Evict retained host copies of other conversations until `req`'s blocks fit in host memory."""
        needed = pool.blocks_for(req.prompt + req.generated)
        for conv in np.flatnonzero(self.retained).tolist():
            if pool.host_free >= needed:
                return
            if conv != req.conversation:
                self._drop_host(conv)

    def _swap_in(self, req: Request, worker: Worker) -> None:
        conv = req.conversation
        blocks = req.host_blocks
        self.engine.swap_in(req, worker)
        if self.mechanism.reuse:
            self.retained[conv] = blocks
            worker.pool.host_used += blocks
        else:
            self.host_valid[conv] = 0

    def _drop_host(self, conv: int) -> None:
        pool = self.engine.workers[0].pool
        pool.host_used -= int(self.retained[conv])
        self.retained[conv] = 0
        self.host_valid[conv] = 0
        self.swap.drop_host(conv)

    # ----------------------------------------------------------------- counters and priorities
    def _charge(self, req: Request, generated: int) -> None:
        done = self.counted.get(req.rid, 0)
        if generated > done:
            self.vtc.charge(req.user, 0, generated - done)
            self.counted[req.rid] = generated

    def _account(self, worker: Worker) -> None:
        counted = self.counted
        vtc = self.vtc
        it = worker.it
        for req in worker.members.values():  # `_charge` per member, inlined
            generated = req.join_generated + it - req.join_iter
            done = counted.get(req.rid, 0)
            if generated > done:
                vtc.charge(req.user, 0, generated - done)
                counted[req.rid] = generated

    def _schedule_update(self, worker: Worker) -> None:
        """Draw the iterations to the next update event; the engine calls back when the worker has run them."""
        gap = self.priority.gap()
        if gap >= 1 << 40:
            return
        self.engine.at_iterations(worker, worker.iterations + gap, self._update_priorities)

    def _update_priorities(self, engine: Engine) -> None:
        """Iteration hook: redraw (or move) every live request's level, then draw the next update.

        Updates are counted in iterations, as the paper's frequency is, and happen at the end of the drawn
        iteration; an idle worker runs no iterations and so sees no updates.
        """
        self.levels = dict(zip(self.levels, self.priority.update(list(self.levels.values())), strict=True))
        self._schedule_update(engine.workers[0])


def _arrival(req: Request) -> float:
    return req.arrival


DECODE = DECODE
PREFILL = PREFILL
_ON_DEVICE = frozenset((DECODE, READY, TRANSFER))


def _window_key(req: Request) -> tuple[int, float, int]:
    """Holding device KV first, then the oldest (one call per live request at every decision)."""
    phase = req.phase
    holds = phase in _ON_DEVICE or (phase == PREFILL and req.blocks > 0)
    return (0 if holds else 1, req.arrival, req.rid)
