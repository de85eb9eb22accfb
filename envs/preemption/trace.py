"""Multi-turn conversations from a serving-core trace file.

Columns: `arrival_s,prompt_tokens,output_tokens,user,conversation,turn`.

The core's loader validates every row (line-numbered `TraceFormatError`). Rows of one conversation become its
turns in turn order; a row's `prompt_tokens` is the full context, so a turn's new prompt is what exceeds the
previous turn's prompt plus answer. The gap between consecutive turns' arrival times becomes the think time
after the previous answer (the env is closed-loop: a turn cannot arrive before its predecessor finished). Rows
without a conversation (-1) are single-turn conversations.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sysgym.envs.core.errors import TraceFormatError
from sysgym.envs.preemption.workload import Conversations
from sysgym.envs.serving.workload import load_trace


def load_conversations(path: str | Path, users: int, max_context: int) -> Conversations:
    """Read a trace into conversations; users must lie below `users`."""
    requests = load_trace(path, max_tokens=max_context)
    lines = _data_lines(Path(path))
    groups: dict[tuple[int, int], list[tuple[int, float, int, int, int]]] = {}
    for index, req in enumerate(requests):
        if req.user >= users:
            raise TraceFormatError(path, lines[index], f"user {req.user} is not below the env's users={users}")
        key = (req.conversation, -1) if req.conversation >= 0 else (-1, req.rid)
        groups.setdefault(key, []).append((req.turn, req.arrival, req.prompt, req.output, req.user))
    order = sorted(groups.values(), key=lambda turns: min(t[1] for t in turns))
    start, owner, first = [], [], [0]
    prompts: list[int] = []
    outputs: list[int] = []
    thinks: list[float] = []
    for turns in order:
        turns.sort()
        start.append(turns[0][1])
        owner.append(turns[0][4])
        context = 0
        previous = turns[0][1]
        for k, (_, arrival, prompt, output, _) in enumerate(turns):
            prompts.append(max(prompt - context, 1))
            outputs.append(output)
            thinks.append(0.0 if k == 0 else max(arrival - previous, 0.0))
            context = max(prompt, context + 1) + output
            previous = arrival
        first.append(len(prompts))
    return Conversations(
        start_s=np.asarray(start, dtype=np.float64),
        user=np.asarray(owner, dtype=np.int64),
        first=np.asarray(first, dtype=np.int64),
        prompt_tokens=np.asarray(prompts, dtype=np.int64),
        output_tokens=np.asarray(outputs, dtype=np.int64),
        think_s=np.asarray(thinks, dtype=np.float64),
    )


def _data_lines(path: Path) -> list[int]:
    """1-based line numbers of the data rows (the core's loader already accepted the file as UTF-8 CSV)."""
    out: list[int] = []
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if line and not (not out and line.startswith("arrival_s")):
            out.append(lineno)
    return out
