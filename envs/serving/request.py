"""One LLM request as the serving core tracks it: identity, lengths, progress and timestamps.

A plain `__slots__` class rather than a dataclass: the engine touches these objects on every event, and attribute
access on slots is the cheapest Python offers.
"""

from __future__ import annotations

from enum import IntEnum

from mypy_extensions import mypyc_attr


class Phase(IntEnum):
    """Where a request is in its life.

    WAITING: arrived, no KV held (or its KV was dropped for recompute).
    PREFILL: some of its prompt is in KV, more prompt tokens to process.
    TRANSFER: prefilled on a prefill-only worker, KV moving to the decode worker (disaggregated serving).
    DECODE: in a worker's decode batch, producing one token per iteration.
    READY: prefilled (or swapped back in) and holding KV, waiting to join a decode batch.
    SWAPPED: preempted with its KV copied to host memory.
    FINISHED: all output tokens produced.
    """

    WAITING = 0
    PREFILL = 1
    TRANSFER = 2
    DECODE = 3
    READY = 4
    SWAPPED = 5
    FINISHED = 6


# The members as module constants, for the engine's and schedulers' hot paths: reading an Enum member through its
# class costs several times a global read, and these comparisons run on every event.
WAITING, PREFILL, TRANSFER, DECODE, READY, SWAPPED, FINISHED = tuple(Phase)


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
class Request:
    """A request and its progress.

    Attributes:
        rid: index in the workload (arrival order).
        arrival: arrival time, seconds from the episode start.
        prompt: prompt tokens (the full context to prefill, including earlier turns of a conversation).
        output: output tokens to generate (the first comes out of prefill).
        user: user (client) id.
        conversation: conversation id (-1 when the workload has none).
        turn: turn index inside the conversation (0 for the first).
        phase: the current `Phase`.
        prefilled: prompt tokens whose KV has been computed.
        generated: output tokens produced so far.
        first_token: time of the first output token, or -1.
        finish: time of the last output token, or -1.
        blocks: KV blocks held on the device.
        host_blocks: KV blocks held in host memory (swapped out).
        preemptions: times the request was preempted.
        worker: index of the worker whose decode batch holds it, or -1.
        join_iter: the decode worker's iteration counter when the request joined its batch.
        join_generated: `generated` when the request joined the batch.
        tbt_marks: one (worker, first iteration, time of the previous token, end iteration or -1) per stay in a
            decode batch; with the workers' iteration end times they give every time-between-tokens gap.
        priority: a scheduler-defined priority (lower runs first); the core never reads it.
    """

    __slots__ = (
        "arrival",
        "blocks",
        "conversation",
        "finish",
        "first_token",
        "generated",
        "host_blocks",
        "join_generated",
        "join_iter",
        "output",
        "phase",
        "preemptions",
        "prefilled",
        "priority",
        "prompt",
        "rid",
        "tbt_marks",
        "turn",
        "user",
        "worker",
    )

    def __init__(
        self,
        rid: int,
        arrival: float,
        prompt: int,
        output: int,
        user: int = 0,
        conversation: int = -1,
        turn: int = 0,
    ) -> None:
        self.rid = rid
        self.arrival = arrival
        self.prompt = prompt
        self.output = output
        self.user = user
        self.conversation = conversation
        self.turn = turn
        self.phase = WAITING
        self.prefilled = 0
        self.generated = 0
        self.first_token = -1.0
        self.finish = -1.0
        self.blocks = 0
        self.host_blocks = 0
        self.preemptions = 0
        self.worker = -1
        self.join_iter = 0
        self.join_generated = 0
        self.tbt_marks: list[tuple[int, int, float, int]] = []
        self.priority = 0.0

    @property
    def prefill_target(self) -> int:
        """Tokens its prefill must cover: the prompt, plus the output so far after a recompute preemption."""
        return self.prompt + max(self.generated - 1, 0)

    @property
    def context(self) -> int:
        """Tokens whose KV the request needs now: its prompt plus the output produced so far."""
        return self.prompt + self.generated

    def ttft(self) -> float:
        """Time to first token, seconds (inf before it)."""
        return self.first_token - self.arrival if self.first_token >= 0 else float("inf")

    def tpot(self) -> float:
        """Mean time per output token after the first, seconds (0 for one-token outputs, inf before the end)."""
        if self.finish < 0:
            return float("inf")
        if self.output <= 1:
            return 0.0
        return (self.finish - self.first_token) / (self.output - 1)

    def __repr__(self) -> str:
        return (
            f"Request(rid={self.rid}, t={self.arrival:.3f}, prompt={self.prompt}, output={self.output}, "
            f"phase={self.phase.name}, prefilled={self.prefilled}, generated={self.generated})"
        )
