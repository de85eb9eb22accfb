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


def token_times(engine: Engine, finished: Sequence[Request]) -> tuple[np.ndarray, np.ndarray]:
    """Times of every output token of the finished requests, all in one array, and each request's token count.

    A request's tokens are its first token, then each decode segment's steps on its worker's clock. The segments
    are gathered as index ranges into one array of every worker's clock plus the first-token times, so the
    hundreds of thousands of tokens of an episode move in a few numpy passes.
    """
    clocks = [np.asarray(w.iter_end, dtype=np.float64) for w in engine.workers]
    offsets = np.cumsum([0] + [len(c) for c in clocks]).tolist()
    first_at = offsets[-1]
    starts: list[int] = []
    lengths: list[int] = []
    counts: list[int] = []
    workers = engine.workers
    for i, req in enumerate(finished):
        starts.append(first_at + i)
        lengths.append(1)
        tokens = 1
        for widx, start, _, stop in req.tbt_marks:
            end = workers[widx].it if stop < 0 else stop
            if end > start:
                starts.append(offsets[widx] + start)
                lengths.append(end - start)
                tokens += end - start
        counts.append(tokens)
    pool = np.concatenate([*clocks, np.fromiter((r.first_token for r in finished), np.float64, len(finished))])
    size = np.asarray(lengths, dtype=np.int64)
    begin = np.cumsum(size) - size
    index = np.arange(int(size.sum()), dtype=np.int64) + np.repeat(np.asarray(starts, dtype=np.int64) - begin, size)
    return pool[index], np.asarray(counts, dtype=np.int64)


def windowed_jain(
    finished: Sequence[Request], times: np.ndarray, counts: np.ndarray, users: int, window_s: float, horizon: float
) -> float:
    """Mean over windows of Jain's index of backlogged users' weighted service (module docstring).

    Args:
        finished: the finished requests.
        times: their token times, concatenated in request order (`token_times`).
        counts: tokens per request.
        users: number of users.
        window_s: window length, seconds.
        horizon: end of the episode, seconds.
    """
    windows = max(int(horizon // window_s), 1)
    service = np.zeros((windows, users))
    covered = np.zeros((windows, users), dtype=bool)
    spans: list[list[tuple[float, float]]] = [[] for _ in range(users)]
    owner = np.fromiter((req.user for req in finished), dtype=np.int64, count=len(finished))
    index = np.minimum((times / window_s).astype(np.int64), windows - 1)
    tokens = np.bincount(index * users + np.repeat(owner, counts), minlength=windows * users)
    service += 2.0 * tokens.reshape(windows, users)
    for req in finished:
        spans[req.user].append((req.arrival, req.finish))
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
    times, counts = token_times(engine, finished)
    # gaps within each request: drop the differences that straddle two requests
    within = np.ones(max(len(times) - 1, 0), dtype=bool)
    within[np.cumsum(counts)[:-1] - 1] = False
    gaps = np.diff(times)[within]
    if gaps.size == 0:
        gaps = np.zeros(1)
    tokens = len(times)
    tail_gaps = np.percentile(gaps, [99.9, 99.0])
    return {
        "p99_ttft_s": float(np.percentile(ttft, 99)),
        "p95_ttft_s": float(np.percentile(ttft, 95)),
        "mean_ttft_s": float(ttft.mean()),
        "p999_tbt_s": float(tail_gaps[0]),
        "p99_tbt_s": float(tail_gaps[1]),
        "throughput_tok_s": tokens / horizon,
        "fairness_jain": windowed_jain(finished, times, counts, users, window_s, horizon),
        "swap_gib": swap_bytes / 2**30,
        "preemptions": float(engine.preemptions),
        "finished": float(len(finished)),
        "simulated_s": engine.now,
    }


class GapExcess:
    """Running prefix sums of each worker's token-gap excess over the TBT objective, for the per-step reward.

    The reward charges `max(gap / slo - 1, 0)` for every gap of the requests finished in a step. A request's gaps
    are consecutive iterations of a worker's clock, so a prefix sum over that clock's gaps (extended by the
    iterations run since the last step, in one numpy pass) gives each decode segment's sum by two lookups
    instead of a pass over its tokens.
    """

    def __init__(self, slo_s: float) -> None:
        self.slo_s = slo_s
        self.prefix: list[list[float]] = []

    def reset(self) -> None:
        """Forget the clocks (the engine's workers start new ones each episode)."""
        self.prefix = []

    def _extend(self, engine: Engine, widx: int) -> list[float]:
        while len(self.prefix) <= widx:
            self.prefix.append([])
        prefix = self.prefix[widx]
        ends = engine.workers[widx].iter_end
        done = len(prefix)
        if done < len(ends):
            if done == 0:
                prefix.append(0.0)
                done = 1
            times = np.asarray(ends[done - 1 :])
            excess = np.maximum(np.diff(times) / self.slo_s - 1.0, 0.0)
            prefix.extend((np.cumsum(excess) + prefix[-1]).tolist())
        return prefix

    def over(self, engine: Engine, finished: Sequence[Request]) -> float:
        """Summed excess of every token gap of `finished` requests (in TBT-objective units)."""
        slo = self.slo_s
        total = 0.0
        for req in finished:
            for widx, start, last, stop in req.tbt_marks:
                end = engine.workers[widx].it if stop < 0 else stop
                if end <= start:
                    continue
                prefix = self._extend(engine, widx)
                first = engine.workers[widx].iter_end[start]
                total += max((first - last) / slo - 1.0, 0.0) + prefix[end - 1] - prefix[start]
        return total
