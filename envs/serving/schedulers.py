"""Built-in schedulers: vLLM (prefill-priority and chunked), semi-PD's two workers, DistServe's 1P1D pair.

Each follows the published system's policy as the semi-PD reference describes it: FCFS everywhere, vLLM's 1 %
free-block watermark on admission, recompute preemption of the newest request when a unified pool runs out
(vLLM v0.6's default), swap to host on DistServe's decode instance.
"""

from __future__ import annotations

from mypy_extensions import mypyc_attr

from sysgym.envs.serving.engine import DECODE_PLAN, EMPTY_PLAN, Engine, Plan, Scheduler, Worker
from sysgym.envs.serving.request import PREFILL, Request

WATERMARK = 0.01


def join_ready(engine: Engine, w: Worker) -> None:
    """Move READY requests into `w`'s decode batch, FCFS, up to its batch cap."""
    ready = w.ready
    while ready and len(w.members) < w.max_batch:
        engine.join(ready.popleft(), w)


def swap_in_fcfs(engine: Engine, w: Worker) -> None:
    """Bring swapped requests back, oldest first, while their blocks fit above the watermark."""
    pool = w.pool
    reserve = int(WATERMARK * pool.capacity)
    while w.swapped and pool.free - w.swapped[0].host_blocks >= reserve:
        if len(w.members) + len(w.ready) >= w.max_batch:
            break
        engine.swap_in(w.swapped[0], w)


def fcfs_chunks(w: Worker, budget: int, slots: int, chunked: bool) -> list[tuple[Request, int]]:
    """Prompt chunks for this iteration, FCFS from `w.waiting`, within a token budget, batch slots and free KV.

    With `chunked`, the last request may get a partial chunk and stays at the head of the queue; otherwise only
    whole prompts are scheduled. Scheduled requests whose prefill this iteration completes leave the queue.
    """
    pool = w.pool
    free = pool.free - int(WATERMARK * pool.capacity)
    chunks: list[tuple[Request, int]] = []
    waiting = w.waiting
    while waiting and budget > 0 and slots > 0:
        req = waiting[0]
        generated = req.generated
        remaining = (req.prompt + generated - 1 if generated > 1 else req.prompt) - req.prefilled  # `prefill_target`
        n = min(remaining, budget) if chunked else remaining
        if n > budget and chunks:
            break
        grow = -(-(req.prefilled + n) // pool.block_tokens) - req.blocks  # `pool.blocks_for`, inlined
        if grow > free:
            break
        free -= grow
        budget -= n
        chunks.append((req, n))
        req.phase = PREFILL
        if n < remaining:
            break
        waiting.popleft()
        slots -= 1
    return chunks


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
class VllmScheduler(Scheduler):
    """vLLM v0.6 on one GPU: `prefill-priority` (vLLM-D) or `chunked` (vLLM-S, decode-first Sarathi chunks).

    Args:
        chunked: decode-first iterations with prompt chunks filling the token budget; otherwise waiting prompts
            run in prefill-only iterations ahead of any decode step.
    """

    def __init__(self, chunked: bool) -> None:
        self.chunked = chunked

    def plan(self, engine: Engine, worker: Worker) -> Plan:
        """Join finished prefills, then schedule prompts (prefill-priority) or decode plus chunks (chunked)."""
        join_ready(engine, worker)
        swap_in_fcfs(engine, worker)
        join_ready(engine, worker)
        slots = worker.max_batch - len(worker.members)
        if self.chunked:
            budget = worker.token_budget - len(worker.members)
            return Plan(fcfs_chunks(worker, budget, slots, True), True)
        chunks = fcfs_chunks(worker, worker.token_budget, slots, False)
        if chunks:
            return Plan(chunks, False)
        return DECODE_PLAN


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
class SemiPDScheduler(Scheduler):
    """semi-PD: a prefill worker (chunked prefill, FCFS) and a decode worker (FCFS, capped batch) on one pool."""

    def plan(self, engine: Engine, worker: Worker) -> Plan:
        """Prefill worker: fill the token budget with prompt chunks. Decode worker: join ready requests, step."""
        if worker.role == "prefill":
            if not worker.waiting:
                return EMPTY_PLAN  # what `fcfs_chunks` of an empty queue amounts to, without building it
            decode = engine.workers[worker.decode_to]
            slots = decode.max_batch - len(decode.members) - len(decode.ready)
            return Plan(fcfs_chunks(worker, worker.token_budget, max(slots, 1), True), False)
        if worker.ready:  # `join_ready` is a no-op on an empty queue: spare the call on most decode steps
            join_ready(engine, worker)
        return DECODE_PLAN


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
class DisaggScheduler(Scheduler):
    """DistServe 1P1D: whole-prompt prefill batches on one GPU, KV moved to a decode GPU when it has room.

    The decode GPU admits a transfer only when the blocks fit above the watermark; when its running batch then
    outgrows the pool it swaps the newest request to host memory (recompute when host memory is full), which is
    how DistServe's TPOT explodes once decode KV runs out.
    """

    def plan(self, engine: Engine, worker: Worker) -> Plan:
        """Prefill GPU: FCFS prompt batches. Decode GPU: resume swapped, accept transfers, join, step."""
        if worker.role == "prefill":
            return Plan(fcfs_chunks(worker, worker.token_budget, worker.max_batch, False), False)
        pool = worker.pool
        reserve = int(WATERMARK * pool.capacity)
        swap_in_fcfs(engine, worker)
        while worker.incoming and not worker.swapped and pool.free - worker.incoming[0][0].blocks >= reserve:
            engine.start_transfer(worker)
        join_ready(engine, worker)
        return DECODE_PLAN

    def on_kv_exhausted(self, engine: Engine, worker: Worker, needed: int) -> None:
        """Swap out the newest decoding requests until the step fits."""
        while worker.pool.free < needed and worker.members:
            victim = max(worker.members.values(), key=lambda r: (r.arrival, r.rid))
            engine.preempt(victim, "swap")
