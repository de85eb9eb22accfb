"""Multi-user, multi-turn conversations in the style of the multi-round ShareGPT trace FastSwitch replays.

A conversation belongs to one user and has several turns; turn k's context is every earlier prompt and answer plus
its own new prompt, so contexts grow along the conversation and earlier turns' KV is worth keeping. Conversations
start as a Poisson process; a conversation's next turn is sent a think time after its previous answer finished,
so the request rate is about `rate` when conversations start at `rate / mean_turns`.

Turn counts are geometric on 1, 2, ... with mean `mean_turns` (FastSwitch's trace averages 5.5 turns), cut at
`max_turns` and where the context would pass the model's window. New-prompt and answer lengths per turn come
from the shared serving core's named length distribution (ShareGPT-like by default), so every serving env in the
suite draws lengths the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sysgym.envs.core.config import require

LengthSampler = Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class ConversationSpec:
    """How conversations are drawn.

    Attributes:
        conversations: conversations in the episode.
        rate: mean turn (request) arrival rate, per second; conversations start at rate / mean_turns.
        mean_turns: mean turns per conversation before truncation.
        max_turns: most turns one conversation may have.
        users: distinct users the conversations belong to.
        heavy_share: fraction of conversations owned by user 0 (0 spreads them uniformly over all users).
        think_s: mean think time between an answer and the user's next prompt, seconds (exponential).
        max_context: the model's context window; a conversation ends before a turn would exceed it.
    """

    conversations: int = 200
    rate: float = 1.0
    mean_turns: float = 5.5
    max_turns: int = 40
    users: int = 8
    heavy_share: float = 0.0
    think_s: float = 5.0
    max_context: int = 8192

    def __post_init__(self) -> None:
        require(self.conversations >= 1, f"conversations must be >= 1, got {self.conversations}")
        require(self.rate > 0, f"rate must be > 0, got {self.rate}")
        require(self.mean_turns >= 1, f"mean_turns must be >= 1, got {self.mean_turns}")
        require(self.max_turns >= 1, f"max_turns must be >= 1, got {self.max_turns}")
        require(self.users >= 1, f"users must be >= 1, got {self.users}")
        require(0 <= self.heavy_share < 1, f"heavy_share must be in [0, 1), got {self.heavy_share}")
        require(self.think_s >= 0, f"think_s must be >= 0, got {self.think_s}")
        require(self.max_context >= 64, f"max_context must be >= 64, got {self.max_context}")


@dataclass(frozen=True)
class Conversations:
    """Drawn conversations, turns stored flat (turns of conversation c are `first[c]:first[c + 1]`).

    Attributes:
        start_s: arrival time of each conversation's first turn, ascending.
        user: owner of each conversation.
        first: index of each conversation's first turn in the per-turn arrays; one extra entry at the end.
        prompt_tokens: new prompt tokens of each turn.
        output_tokens: answer tokens of each turn.
        think_s: time between the previous answer and this turn's arrival (0 for first turns).
    """

    start_s: np.ndarray
    user: np.ndarray
    first: np.ndarray
    prompt_tokens: np.ndarray
    output_tokens: np.ndarray
    think_s: np.ndarray

    @property
    def count(self) -> int:
        """Number of conversations."""
        return len(self.start_s)

    @property
    def turns(self) -> int:
        """Number of turns over all conversations."""
        return len(self.prompt_tokens)

    def turns_of(self, conversation: int) -> range:
        """Indices of one conversation's turns."""
        return range(int(self.first[conversation]), int(self.first[conversation + 1]))


def draw_conversations(spec: ConversationSpec, lengths: LengthSampler, rng: np.random.Generator) -> Conversations:
    """Draw a workload; every random number comes from `rng`.

    Args:
        spec: workload shape.
        lengths: draws (new prompt tokens, answer tokens) for n turns.
        rng: the episode's generator.
    """
    n = spec.conversations
    gaps = rng.exponential(spec.mean_turns / spec.rate, size=n)
    start = np.cumsum(gaps) - gaps[0]
    if spec.heavy_share > 0 and spec.users > 1:
        light = rng.integers(1, spec.users, size=n)
        user = np.where(rng.random(n) < spec.heavy_share, 0, light)
    else:
        user = rng.integers(0, spec.users, size=n)
    wanted = np.minimum(rng.geometric(1.0 / spec.mean_turns, size=n), spec.max_turns)
    prompt, output = lengths(rng, int(wanted.sum()))
    think = rng.exponential(spec.think_s, size=int(wanted.sum())) if spec.think_s > 0 else np.zeros(int(wanted.sum()))
    keep_prompt: list[int] = []
    keep_output: list[int] = []
    keep_think: list[float] = []
    first = [0]
    cursor = 0
    for c in range(n):
        context = 0
        for k in range(int(wanted[c])):
            p, o = int(prompt[cursor + k]), int(output[cursor + k])
            if context + p + o > spec.max_context and k > 0:
                break
            p = min(p, spec.max_context - o - context) if k == 0 else p
            context += p + o
            keep_prompt.append(max(p, 1))
            keep_output.append(o)
            keep_think.append(0.0 if k == 0 else float(think[cursor + k]))
        cursor += int(wanted[c])
        first.append(len(keep_prompt))
    return Conversations(
        start_s=start,
        user=user.astype(np.int64),
        first=np.asarray(first, dtype=np.int64),
        prompt_tokens=np.asarray(keep_prompt, dtype=np.int64),
        output_tokens=np.asarray(keep_output, dtype=np.int64),
        think_s=np.asarray(keep_think, dtype=np.float64),
    )
