"""Episode metrics of the preemption env: tail TTFT and TBT, throughput, windowed fairness, swap traffic.

`fairness_jain` follows VTC's evaluation: time is cut into windows; in each window, the users that had a request
in the system for the whole window (backlogged) are compared by the weighted service they received in it
(w_in per prompt token, counted when the first token comes out, w_out per output token at its time); the metric
is the mean over windows of Jain's index of those services. Users who were not backlogged are left out, so a
light user is not counted as starved for asking less.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sysgym.envs.preemption.vtc import jain
from sysgym.envs.serving.engine import Engine
from sysgym.envs.serving.request import Request


def token_times(engine: Engine, req: Request) -> np.ndarray:
    """Times of every output token of a finished request: its first token, then each decode segment's steps."""
    parts = [np.array([req.first_token])]
    for widx, start, _, stop in req.tbt_marks:
        worker = engine.workers[widx]
        parts.append(np.asarray(worker.iter_end[start : (worker.it if stop < 0 else stop)]))
    return np.concatenate(parts)


def windowed_jain(
    finished: Sequence[Request], times: Sequence[np.ndarray], users: int, window_s: float, horizon: float
) -> float:
    """Mean over windows of Jain's index of backlogged users' weighted service (module docstring)."""
    windows = max(int(horizon // window_s), 1)
    service = np.zeros((windows, users))
    covered = np.zeros((windows, users), dtype=bool)
    spans: list[list[tuple[float, float]]] = [[] for _ in range(users)]
    for req, stamps in zip(finished, times, strict=True):
        spans[req.user].append((req.arrival, req.finish))
        index = np.minimum((stamps / window_s).astype(np.int64), windows - 1)
        np.add.at(service[:, req.user], index, 2.0)
        service[min(int(req.first_token // window_s), windows - 1), req.user] += req.prompt
    for user, intervals in enumerate(spans):
        for lo, hi in _merge(intervals):
            first = int(np.ceil(lo / window_s))
            last = int(hi // window_s)
            covered[first : min(last, windows), user] = True
    values = [jain(service[w, covered[w]]) for w in range(windows) if int(covered[w].sum()) >= 2]
    return float(np.mean(values)) if values else 1.0


def _merge(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for lo, hi in sorted(intervals):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def episode_metrics(engine: Engine, users: int, window_s: float, swap_bytes: float) -> dict[str, float]:
    """The env's documented metrics for the finished part of the episode."""
    finished = list(engine.finished)
    horizon = max(engine.now, 1e-9)
    if not finished:
        return {
            "p99_ttft_s": 0.0,
            "p95_ttft_s": 0.0,
            "mean_ttft_s": 0.0,
            "p999_tbt_s": 0.0,
            "p99_tbt_s": 0.0,
            "throughput_tok_s": 0.0,
            "fairness_jain": 1.0,
            "swap_gib": swap_bytes / 2**30,
            "preemptions": float(engine.preemptions),
            "finished": 0.0,
            "simulated_s": engine.now,
        }
    ttft = np.fromiter((r.first_token - r.arrival for r in finished), float, len(finished))
    times = [token_times(engine, r) for r in finished]
    gaps = np.concatenate([np.diff(t) for t in times])
    if gaps.size == 0:
        gaps = np.zeros(1)
    tokens = sum(len(t) for t in times)
    return {
        "p99_ttft_s": float(np.percentile(ttft, 99)),
        "p95_ttft_s": float(np.percentile(ttft, 95)),
        "mean_ttft_s": float(ttft.mean()),
        "p999_tbt_s": float(np.percentile(gaps, 99.9)),
        "p99_tbt_s": float(np.percentile(gaps, 99)),
        "throughput_tok_s": tokens / horizon,
        "fairness_jain": windowed_jain(finished, times, users, window_s, horizon),
        "swap_gib": swap_bytes / 2**30,
        "preemptions": float(engine.preemptions),
        "finished": float(len(finished)),
        "simulated_s": engine.now,
    }
