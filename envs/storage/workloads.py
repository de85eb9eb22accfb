"""Episode workloads: named synthetic scenarios and windows of real traces, normalised to page ranges.

Every workload becomes the same arrays: arrival time (microseconds), read/write, the first page and the page
count of each request (4 KiB pages by default, renumbered densely in address order so that HDD seek distances
keep their meaning), and the request's bytes. Reads of pages the episode has not written yet find their data on
the slowest device (it existed before the trace began).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import islice

import numpy as np

from sysgym.envs.core.errors import TraceFormatError, UnknownNameError
from sysgym.envs.storage.config import StorageConfig
from sysgym.envs.storage.traces import Record, records

DEFAULT_TRACE_IOPS = 100.0


@dataclass(frozen=True)
class Scenario:
    """A synthetic block workload.

    Attributes:
        footprint_mib: address space the requests fall in.
        read_ratio: fraction of reads.
        zipf: skew of reuse over pages (0 = uniform).
        sizes_kib: request sizes.
        size_probs: their probabilities.
        seq_prob: chance that a request continues the previous one (sequential runs).
        phases: the hot set moves to other addresses this many times minus one.
        iops: mean arrival rate (Poisson, or on/off bursts when `burst` > 0).
        burst: fraction of requests that arrive in bursts at 20x the mean rate.
    """

    footprint_mib: float = 64.0
    read_ratio: float = 0.7
    zipf: float = 0.9
    sizes_kib: tuple[int, ...] = (4, 8, 16, 64)
    size_probs: tuple[float, ...] = (0.6, 0.15, 0.15, 0.1)
    seq_prob: float = 0.1
    phases: int = 3
    iops: float = 100.0
    burst: float = 0.0


SCENARIOS: dict[str, Scenario] = {
    "mixed": Scenario(),
    "read-heavy": Scenario(read_ratio=0.95),
    "write-heavy": Scenario(read_ratio=0.3),
    "sequential": Scenario(sizes_kib=(64, 128, 256), size_probs=(0.5, 0.3, 0.2), seq_prob=0.7, zipf=0.6),
    "uniform": Scenario(zipf=0.0, phases=1),
    "phase-shift": Scenario(phases=10),
    "heavy": Scenario(iops=20_000.0),
    "bursty": Scenario(iops=1_000.0, burst=0.2),
}


@dataclass
class Workload:
    """One episode's requests as flat lists (fast to index per request) plus numpy copies for bulk work.

    `start` holds dense page ids; `address[page]` is the page's original address (in pages), which an HDD
    needs for its seek distance.
    """

    name: str
    t_us: list[float]
    is_write: list[bool]
    start: list[int]
    npages: list[int]
    nbytes: list[float]
    footprint: int
    address: list[int]
    page_bytes: int
    starts: np.ndarray
    counts: np.ndarray

    def __len__(self) -> int:
        return len(self.t_us)


def _build(
    name: str,
    page_bytes: int,
    times: np.ndarray,
    writes: np.ndarray,
    first: np.ndarray,
    count: np.ndarray,
    nbytes: np.ndarray,
) -> Workload:
    """Renumber pages densely in address order; a request's pages stay consecutive (all of them are touched)."""
    total = int(count.sum())
    offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(count) - count, count)
    touched = np.repeat(first, count) + offsets
    top = int(touched.max()) + 1 if total else 1
    if top <= 1 << 24:  # small address space (synthetic, small traces): a bitmap beats sorting
        mark = np.zeros(top, bool)
        mark[touched] = True
        pages = np.flatnonzero(mark)
        dense = (np.cumsum(mark) - 1)[first].astype(np.int64)
    else:
        pages = np.unique(touched)
        dense = np.searchsorted(pages, first).astype(np.int64)
    return Workload(
        name=name,
        t_us=times.tolist(),
        is_write=writes.tolist(),
        start=dense.tolist(),
        npages=count.tolist(),
        nbytes=nbytes.astype(np.float64).tolist(),
        footprint=len(pages),
        address=pages.tolist(),
        page_bytes=page_bytes,
        starts=dense,
        counts=count.astype(np.int64),
    )


def _arrivals(rng: np.random.Generator, n: int, iops: float, burst: float) -> np.ndarray:
    """Arrival times in microseconds: Poisson, or on/off bursts in blocks of 64 requests."""
    mean_gap = 1e6 / iops
    gaps = rng.exponential(1.0, n)
    if burst > 0.0:
        in_burst = np.repeat(rng.random(n // 64 + 1) < burst, 64)[:n]
        quiet_gap = mean_gap * (1.0 - burst / 20.0) / (1.0 - burst)
        gaps *= np.where(in_burst, mean_gap / 20.0, quiet_gap)
    else:
        gaps *= mean_gap
    return np.cumsum(gaps) - gaps[0]


def synthetic(name: str, config: StorageConfig, rng: np.random.Generator) -> Workload:
    """Draw one episode of scenario `name` from `rng`."""
    sc = SCENARIOS[name]
    n = config.max_requests
    page = config.page_kib * 1024
    space = max(int(sc.footprint_mib * (1 << 20)) // page, 64)
    if sc.zipf > 0.0:
        weights = np.arange(1, space + 1, dtype=np.float64) ** -sc.zipf
        cdf = np.cumsum(weights)
        ranks = np.minimum(np.searchsorted(cdf, rng.random(n) * cdf[-1]), space - 1)
    else:
        ranks = rng.integers(0, space, n)
    phase = (np.arange(n) * sc.phases) // n
    perms = np.stack([rng.permutation(space) for _ in range(sc.phases)])
    first = perms[phase, ranks]
    sizes = rng.choice(np.asarray(sc.sizes_kib, dtype=np.int64) * 1024, size=n, p=np.asarray(sc.size_probs))
    count = np.maximum((sizes + page - 1) // page, 1)
    follow = rng.random(n) < sc.seq_prob
    first_list, count_list = first.tolist(), count.tolist()
    for i in np.flatnonzero(follow[1:]).tolist():
        first_list[i + 1] = first_list[i] + count_list[i]
    first = np.minimum(np.asarray(first_list, dtype=np.int64), space - count)
    writes = rng.random(n) >= sc.read_ratio
    iops = config.arrival_iops or sc.iops
    return _build(name, page, _arrivals(rng, n, iops, sc.burst), writes, first, count, sizes.astype(np.float64))


@lru_cache(maxsize=4)
def _trace_window(path: str, mtime: float, fmt: str, max_requests: int, page_kib: int) -> tuple[np.ndarray, ...]:
    """The first `max_requests` data requests of a trace (read streaming; cached per file version)."""
    del mtime  # part of the cache key only
    window: Iterator[Record] = islice(records(path, fmt), max_requests)
    rows = [(r.time_s if r.time_s is not None else np.nan, r.is_write, r.offset, r.size) for r in window]
    if not rows:
        raise TraceFormatError(path, 1, "the trace holds no read or write requests")
    times, writes, offsets, sizes = (np.asarray(col) for col in zip(*rows, strict=True))
    page = page_kib * 1024
    first = offsets.astype(np.int64) // page
    count = (offsets.astype(np.int64) + sizes.astype(np.int64) - 1) // page - first + 1
    return times.astype(np.float64), writes.astype(bool), first, count, sizes.astype(np.float64)


def from_trace(path: str, config: StorageConfig, rng: np.random.Generator) -> Workload:
    """A trace window; timestamps drive arrivals (a Poisson clock when the format has none)."""
    times, writes, first, count, sizes = _trace_window(
        path, os.path.getmtime(path), config.format, config.max_requests, config.page_kib
    )
    if np.isnan(times).any():
        iops = config.arrival_iops or DEFAULT_TRACE_IOPS
        arrival = _arrivals(rng, len(times), iops, 0.0)
    else:
        arrival = np.maximum.accumulate(times - times[0]) * 1e6 / config.time_scale
    return _build(os.path.basename(path), config.page_kib * 1024, arrival, writes, first, count, sizes)


def load(config: StorageConfig, rng: np.random.Generator) -> Workload:
    """The episode workload named by `config.workload` (a scenario name or a trace path)."""
    if config.workload in SCENARIOS:
        return synthetic(config.workload, config, rng)
    if os.path.isfile(config.workload):
        return from_trace(config.workload, config, rng)
    raise UnknownNameError("storage workload (scenario or trace file)", config.workload, list(SCENARIOS))
