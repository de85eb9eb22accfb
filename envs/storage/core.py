"""The hybrid-storage state machine shared by the model and live backends: pages, devices, decisions, features.

Per request: a write (to a new address or a re-write) is a placement decision, and every `migration_interval`
requests is a migration decision. Which of them the learner makes depends on the mode (joint, placement-only,
migration-only); the other is made by a named heuristic. Requests with no learner decision are served inside
`apply`, so one env step covers every request up to the next decision. Where the latencies come from (queues of
modelled devices, or real I/O) is the `io` object's business; bookkeeping here is the same for both.

All per-request state lives in flat Python lists indexed by page (faster than numpy for scalar access); LRU
order of every non-slowest device is an `OrderedDict`. The module is compiled with mypyc (setup.py), which is
why indexed updates are spelled `a[i] = a[i] + 1` (a native add; an indexed `+=` is a generic one) and the
request columns are copied onto the core (a C field read instead of a Python attribute lookup).
"""

from __future__ import annotations

import math
import operator
import struct
from abc import ABC, abstractmethod
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Callable
from itertools import islice
from typing import Any, Final, Protocol

import gymnasium as gym
import numpy as np
from mypy_extensions import mypyc_attr

from sysgym.envs.core.backend import Backend, Outcome
from sysgym.envs.core.errors import InvalidActionError
from sysgym.envs.storage.config import StorageConfig
from sysgym.envs.storage.devices import DeviceSpec, resolve
from sysgym.envs.storage.rewards import SIBYL_EVICT_EXPONENT, SIBYL_LATENCY_FLOOR_US
from sysgym.envs.storage.workloads import Workload, load

MODES = ("joint", "placement", "migration")
# Final: mypyc (setup.py) compiles these into native constants instead of a module-dict lookup at every use.
NEVER: Final = math.inf
ORACLE_HORIZON: Final = 2_000  # requests over which the Oracle counts a page's future accesses
_LOG_COUNT: Final = math.log1p(1024.0)
_LOG_HEAT: Final = math.log1p(64.0)
AGE_TABLE: Final = 4096  # ages (in requests) whose decay factor and recency feature are tabulated
_LOG_BACKLOG: Final = math.log1p(1e6)


@mypyc_attr(allow_interpreted_subclasses=True)
class StorageIO(ABC):
    """Where latencies come from: modelled queues or real files.

    A base class rather than a Protocol so that compiled code calls a compiled implementation directly.
    """

    @abstractmethod
    def serve(self, t: float, device: int, is_write: bool, page: int, npages: int, nbytes: float) -> float:
        """Serve one request's share on `device`; its latency in microseconds."""

    @abstractmethod
    def migrate(self, t: float, src: int, dst: int, page: int, npages: int, nbytes: float) -> float:
        """Move a run of pages; the device time it used, microseconds."""

    @abstractmethod
    def backlogs(self, now: float) -> list[float]:
        """Queueing delay a request arriving now would see on every device."""

    @abstractmethod
    def close(self) -> None:
        """Release real resources."""


IOFactory = Callable[[list[DeviceSpec], list[float], Workload], StorageIO]


class PlacementRule(Protocol):
    """A placement heuristic used for the decision the learner does not make."""

    def reset(self, seed: int) -> None:
        """Forget per-episode state."""
        ...

    def place(self, view: StorageView) -> int:
        """Device for the current write."""
        ...


class MigrationRule(Protocol):
    """A migration heuristic used for the decision the learner does not make."""

    def reset(self, seed: int) -> None:
        """Forget per-episode state."""
        ...

    def migrate(self, view: StorageView) -> tuple[int, int]:
        """(promote level index, evict level index) over the current candidate lists."""
        ...


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
class StorageCore(Backend[np.ndarray, int]):
    """Backend logic of every HybridStorage env; `io_factory` decides model or live latencies."""

    def __init__(
        self,
        config: StorageConfig,
        mode: str,
        io_factory: IOFactory,
        placement_rule: PlacementRule,
        migration_rule: MigrationRule,
    ) -> None:
        self.config = config
        self.mode = mode
        self.specs = [resolve(name) for name in config.device_names]
        self.n_devices = len(self.specs)
        self.levels = config.levels
        self._io_factory = io_factory
        self._place_rule = placement_rule
        self._mig_rule = migration_rule
        n_levels = self._n_levels = len(self.levels)
        self._pairs = n_levels * n_levels
        # Migration levels that fit a candidate list of each length (the mask's promote / evict extent).
        self._levels_within = [sum(1 for x in self.levels if x <= k) for k in range(config.candidates + 1)]
        self._sibyl = config.reward == "sibyl"
        sizes = {"joint": self.n_devices * self._pairs, "placement": self.n_devices, "migration": self._pairs}
        self.action_space = gym.spaces.Discrete(sizes[mode])
        self.obs_dim = 12 + 2 * self.n_devices + 4 * config.candidates
        self.observation_space = gym.spaces.Box(0.0, 1.0, (self.obs_dim,), np.float32)
        # struct packs the feature list into a fresh float32 array in one C call (float32 rounding, as a cast does).
        self._obs_format = f"{self.obs_dim}f"
        self.ref_us = self.specs[-1].read_4k_us()
        self.initial_device = self.n_devices - 1 if config.preexisting < 0 else config.preexisting
        self.page_bytes = config.page_kib * 1024
        self._decay: float = 0.5 ** (1.0 / config.heat_half_life)
        self._no_candidates = [0.0] * (4 * config.candidates)
        self._decay_table = [self._decay**k for k in range(AGE_TABLE)]
        self._masks: dict[tuple[bool, bool, int, int], np.ndarray] = {}
        self._all_valid = np.ones(sizes[mode], bool)
        self.view = StorageView(self)
        self.io: StorageIO | None = None
        self.done = True

    # -- episode -------------------------------------------------------------------------------------------
    def reset(self, rng: np.random.Generator, options: dict[str, Any]) -> None:
        """Draw the episode's workload and start with every page absent (reads find old data on the slowest)."""
        if self.io is not None:
            self.io.close()
        self.w = w = load(self.config, rng)
        footprint = w.footprint
        fractions = self.config.capacity_fractions
        self.capacity = [max(1, int(f * footprint)) for f in fractions[:-1]] + [footprint]
        self.io = self._io_factory(self.specs, [c * self.page_bytes for c in self.capacity], w)
        self.loc = [-1] * footprint
        self.count = [0] * footprint
        self.last = [-1] * footprint
        self.heat = [0.0] * footprint
        self.lru: list[OrderedDict[int, None]] = [OrderedDict() for _ in range(self.n_devices - 1)]
        self.used = [0] * self.n_devices
        self.index = 0
        self.n_requests = len(w)
        self._span = span = math.log1p(self.n_requests)
        self._recency_table = [math.log1p(k) / span for k in range(AGE_TABLE)]
        sizes = {b: min(math.log2(b / 4096.0 + 1.0) / 8.0, 1.0) for b in set(w.nbytes)}
        self._size_feature = [sizes[b] for b in w.nbytes]
        # The request columns again as attributes of this class: compiled, reading them is a C field access.
        self._t_us, self._is_write, self._start = w.t_us, w.is_write, w.start
        self._npages, self._nbytes = w.npages, w.nbytes
        self.latencies: list[float] = []
        self.recent: list[int] = []
        self.promote: list[int] = []
        self.evict: list[int] = []
        self.fast_pages = self.migrated_pages = self.evicted_pages = self.demoted_pages = 0
        self.prev_end = -(10**9)
        self.spatial = 0
        self.hit_ema = 0.0
        self.lat_ema = 0.0
        self.need_place = self.need_mig = self.rule_place = self.rule_mig = False
        self._next: tuple[list[int], list[int]] | None = None
        self._mig_sum = self._evict_term = 0.0
        seed = int(rng.integers(2**31))
        self._place_rule.reset(seed)
        self._mig_rule.reset(seed + 1)
        self.done = False
        self._advance()

    def _advance(self) -> None:
        """Serve requests (heuristics deciding where needed) until the learner has a decision to make."""
        writes, every = self._is_write, self.config.migration_interval
        times = self._t_us
        learner_places, learner_migrates = self.mode != "migration", self.mode != "placement"
        n = self.n_requests
        i = self.index
        while i < n:
            place = writes[i]
            mig = i > 0 and i % every == 0
            if not place and not mig:  # a plain read: nothing to decide
                self._serve_read(times[i])
                i = self.index = i + 1
                continue
            learner_place = place and learner_places
            learner_mig = mig and learner_migrates
            self.rule_place, self.rule_mig = place and not learner_place, mig and not learner_mig
            if learner_place or learner_mig:
                self.need_place, self.need_mig = learner_place, learner_mig
                if learner_mig:
                    self._candidates()
                return
            self._decide_and_serve(-1, 0, 0)
            i = self.index
        self.need_place = self.need_mig = False
        self.done = True

    def _decide_and_serve(self, device: int, promote: int, evict: int) -> None:
        """Run the heuristic half of the decision at the current request, serve it, then migrate.

        Migrations (and capacity evictions) are background work issued once the foreground request is queued,
        so they delay the requests that follow, not the one that triggered them. Pages this request sends down a
        tier (capacity evictions and evict decisions) feed Sibyl's eviction term.
        """
        i = self.index
        t = self._t_us[i]
        if self.rule_mig:
            self._candidates()
            promote, evict = self._mig_rule.migrate(self.view)
        if self.rule_place:
            device = self._place_rule.place(self.view)
            if not 0 <= device < self.n_devices:
                raise InvalidActionError(f"placement heuristic chose device {device}")
        demoted = self.demoted_pages
        if self._is_write[i]:
            self._serve_write(device, t)
        else:
            self._serve_read(t)
        if promote or evict:
            self._migrate(promote, evict, t)
        if self.demoted_pages != demoted:
            self._evict_term += (self.demoted_pages - demoted) ** SIBYL_EVICT_EXPONENT
        self.index = i + 1

    def apply(self, action: int) -> Outcome:
        """Enact the learner's decision at the current request and run to the next decision."""
        if self.done:  # a workload with no decision for this learner ended during reset
            self._mig_sum = self._evict_term = 0.0
            return Outcome(self._signals([]), terminated=True)
        a = int(action)
        if self.mode == "joint":
            device, rest = divmod(a, self._pairs)
        elif self.mode == "placement":
            device, rest = a, 0
        else:
            device, rest = -1, a
        promote, evict = divmod(rest, self._n_levels)
        latencies = self.latencies
        first = len(latencies)
        self._mig_sum = self._evict_term = 0.0
        self._decide_and_serve(device if self.need_place else -1, promote, evict)
        self._advance()
        return Outcome(self._signals(latencies[first:]), terminated=self.done)

    def _decayed(self, age: int) -> float:
        """The heat decay factor over `age` requests (tabulated for recent ages, the same number either way)."""
        return self._decay_table[age] if age < AGE_TABLE else self._decay**age

    def _signals(self, served: list[float]) -> dict[str, float]:
        """What the rewards need from the requests served this step (Sibyl's terms only when it is chosen)."""
        signals = {"latency_us": sum(served), "migration_us": self._mig_sum, "ref_us": self.ref_us}
        if self._sibyl:
            floor = SIBYL_LATENCY_FLOOR_US
            signals["inv_latency_ms"] = sum(1000.0 / (x if x > floor else floor) for x in served)
            signals["evict_term"] = self._evict_term
        return signals

    # -- serving ---------------------------------------------------------------------------------------------
    def _serve_write(self, device: int, t: float) -> None:
        """Place every page of the current write on `device` (remapping re-written pages) and serve it there."""
        i = self.index
        start, n = self._start[i], self._npages[i]
        end = start + n
        loc, count, last, heat, used, lru = self.loc, self.count, self.last, self.heat, self.used, self.lru
        slowest = self.n_devices - 1
        dst_lru = lru[device] if device < slowest else None
        added = 0
        for p in range(start, end):
            lp = last[p]
            heat[p] = heat[p] * self._decayed(i - lp) + 1.0 if lp >= 0 else 1.0
            last[p] = i
            count[p] = count[p] + 1
            old = loc[p]
            if old == device:
                if dst_lru is not None:
                    dst_lru.move_to_end(p)
                continue
            if old >= 0:
                used[old] = used[old] - 1
                if old < slowest:
                    del lru[old][p]
            loc[p] = device
            added += 1
            if dst_lru is not None:
                dst_lru[p] = None
        used[device] = used[device] + added
        if device > 0:
            self.recent.extend(range(start, end))
        io = self.io
        assert io is not None
        latency = io.serve(t, device, True, start, n, self._nbytes[i])
        if dst_lru is not None and used[device] > self.capacity[device]:
            self._force_evict(device, t)
        hit = 1.0 if device == 0 else 0.0
        if device == 0:
            self.fast_pages += n
        self.latencies.append(latency)
        self.spatial = self.spatial + 1 if -5 <= start - self.prev_end <= 5 else 0
        self.prev_end = end
        self.hit_ema += 0.01 * (hit - self.hit_ema)
        self.lat_ema += 0.01 * (latency - self.lat_ema)

    def _serve_read(self, t: float) -> None:
        """Serve the current read where its pages are (never-touched pages are on the initial device)."""
        i = self.index
        start, n = self._start[i], self._npages[i]
        end = start + n
        loc, count, last, heat = self.loc, self.count, self.last, self.heat
        slowest = self.n_devices - 1
        initial = self.initial_device
        io = self.io
        assert io is not None
        recent = self.recent
        first = loc[start]
        if first < 0:
            first = initial
        mixed = False
        fast = 0
        for p in range(start, end):
            lp = last[p]
            heat[p] = heat[p] * self._decayed(i - lp) + 1.0 if lp >= 0 else 1.0
            last[p] = i
            count[p] = count[p] + 1
            d = loc[p]
            if d < 0:
                d = loc[p] = initial
                self.used[initial] = self.used[initial] + 1
                if initial < slowest:
                    self.lru[initial][p] = None
            elif d < slowest:
                self.lru[d].move_to_end(p)
            if d == 0:
                fast += 1
            else:
                recent.append(p)
            if d != first:
                mixed = True
        if mixed:
            latency = self._split_read(t, start, end, self._nbytes[i] / n)
        else:
            latency = io.serve(t, first, False, start, n, self._nbytes[i])
        self.fast_pages += fast
        self.latencies.append(latency)
        self.spatial = self.spatial + 1 if -5 <= start - self.prev_end <= 5 else 0
        self.prev_end = end
        self.hit_ema += 0.01 * (fast / n - self.hit_ema)
        self.lat_ema += 0.01 * (latency - self.lat_ema)

    def _split_read(self, t: float, start: int, end: int, page_bytes: float) -> float:
        """A read whose pages sit on several devices: one request per device run, done when the last is."""
        io = self.io
        assert io is not None
        loc = self.loc
        latency = 0.0
        run_start, run_dev = start, loc[start]
        for p in range(start + 1, end + 1):
            d = loc[p] if p < end else -2
            if d != run_dev:
                k = p - run_start
                latency = max(latency, io.serve(t, run_dev, False, run_start, k, k * page_bytes))
                run_start, run_dev = p, d
        return latency

    # -- migration -------------------------------------------------------------------------------------------
    def _candidates(self) -> None:
        """Hot-on-slow pages touched since the last decision and cold-on-fast pages from the fast LRU end."""
        c = self.config.candidates
        loc = self.loc
        pool = {p for p in self.recent if loc[p] > 0}
        self.recent = []
        lru0 = self.lru[0]
        if self.config.candidate_order == "next-use":
            self.promote = self._upcoming(c)
            self.evict = sorted(islice(lru0, 4 * c), key=self.next_use, reverse=True)[:c]
        else:
            self.promote = sorted(pool, key=self.heat.__getitem__, reverse=True)[:c]
            self.evict = list(islice(lru0, c))

    def _upcoming(self, c: int) -> list[int]:
        """Future knowledge (Oracle only): pages off the fastest device that the next requests touch.

        They are ranked by how often they are touched within the oracle horizon.
        """
        w, loc, i = self.w, self.loc, self.index
        pool: set[int] = set()
        for j in range(i, min(i + 4 * self.config.migration_interval, self.n_requests)):
            s = w.start[j]
            pool.update(p for p in range(s, s + w.npages[j]) if loc[p] != 0)
        horizon = ORACLE_HORIZON
        ranked = sorted(pool, key=lambda p: (-self.future_accesses(p, horizon), p))
        return ranked[:c]

    def _migrate(self, promote: int, evict: int, t: float) -> None:
        levels = self.levels
        if evict:
            self._move(self.evict[: levels[evict]], 1, t)
        if promote:
            loc = self.loc
            pages = [p for p in self.promote[: levels[promote]] if loc[p] != 0]
            self._move(pages, 0, t)
            if self.used[0] > self.capacity[0]:
                self._force_evict(0, t)

    def _force_evict(self, device: int, t: float) -> None:
        """Capacity is hard: move the device's least recently used pages one tier down (cascading)."""
        over = self.used[device] - self.capacity[device]
        lru = self.lru[device]
        if self.config.candidate_order == "next-use":
            victims = sorted(islice(lru, over + 64), key=self.next_use, reverse=True)[:over]
        else:
            victims = list(islice(lru, over))
        self.evicted_pages += len(victims)
        self._move(victims, device + 1, t)
        below = device + 1
        if below < self.n_devices - 1 and self.used[below] > self.capacity[below]:
            self._force_evict(below, t)

    def _move(self, pages: list[int], dst: int, t: float) -> None:
        """Relocate pages, issuing one read+write per run of consecutive pages from one source."""
        if not pages:
            return
        loc, used, lru = self.loc, self.used, self.lru
        slowest = self.n_devices - 1
        initial = self.initial_device
        dst_lru = lru[dst] if dst < slowest else None
        moves: list[tuple[int, int]] = []
        for p in sorted(pages):
            src = loc[p]
            if src == dst:
                continue
            if src < 0:  # untouched data lives on the initial device and is not counted in `used` yet
                src = initial
            else:
                used[src] = used[src] - 1
                if src < slowest:
                    del lru[src][p]
            loc[p] = dst
            if dst_lru is not None:
                dst_lru[p] = None
            moves.append((p, src))
        n_moves = len(moves)
        used[dst] = used[dst] + n_moves
        io = self.io
        assert io is not None
        page_bytes = self.page_bytes
        k = 0
        while k < n_moves:
            first, src = moves[k]
            run = 1
            while k + run < n_moves and moves[k + run] == (first + run, src):
                run += 1
            self._mig_sum += io.migrate(t, src, dst, first, run, run * page_bytes)
            k += run
        self.migrated_pages += n_moves
        if dst:
            self.demoted_pages += n_moves

    def _positions(self) -> tuple[list[int], list[int]]:
        """Per page, the sorted request indices touching it (CSR lists), built once per episode on demand."""
        if self._next is None:
            w = self.w
            total = int(w.counts.sum())
            offsets = np.arange(total) - np.repeat(np.cumsum(w.counts) - w.counts, w.counts)
            pages = np.repeat(w.starts, w.counts) + offsets
            req = np.repeat(np.arange(len(w)), w.counts)
            order = np.lexsort((req, pages))
            bounds = np.searchsorted(pages[order], np.arange(w.footprint + 1))
            self._next = (req[order].tolist(), bounds.tolist())
        return self._next

    def next_use(self, page: int) -> float:
        """Index of the next request after the current one that touches `page` (inf if none): future knowledge."""
        positions, bounds = self._positions()
        hi = bounds[page + 1]
        k = bisect_right(positions, self.index, bounds[page], hi)
        return float(positions[k]) if k < hi else NEVER

    def future_accesses(self, page: int, horizon: int) -> int:
        """Requests after the current one and within `horizon` that touch `page`: future knowledge."""
        positions, bounds = self._positions()
        lo, hi = bounds[page], bounds[page + 1]
        return bisect_right(positions, self.index + horizon, lo, hi) - bisect_right(positions, self.index, lo, hi)

    # -- decision views --------------------------------------------------------------------------------------
    def action_mask(self) -> np.ndarray | None:
        """Valid actions: levels beyond the candidate lists and the half of a joint action with no decision are masked.

        None in the placement-only mode, where every device is always valid. Masks are cached per decision shape
        and copied, so callers may keep them (Gymnasium's checker asks for fresh data every step).
        """
        if self.mode == "placement":
            return None
        if self.done:
            return self._all_valid.copy()
        if self.need_mig:
            fit = self._levels_within
            n_promote, n_evict = fit[len(self.promote)], fit[len(self.evict)]
        else:
            n_promote = n_evict = 1
        key = (self.need_place, self.need_mig, n_promote, n_evict)
        mask = self._masks.get(key)
        if mask is None:
            n_levels = self._n_levels
            grid = np.zeros((self.n_devices if self.mode == "joint" else 1, n_levels, n_levels), bool)
            if self.mode == "joint" and not self.need_place:
                grid[0, :n_promote, :n_evict] = True
            else:
                grid[:, :n_promote, :n_evict] = True
            mask = self._masks[key] = grid.reshape(-1)
        return mask.copy()

    def observation(self) -> np.ndarray:
        """Sibyl's request features, device fills, decision flags, load, and both candidate lists."""
        if self.done:
            return np.zeros(self.obs_dim, np.float32)
        i = self.index
        start = self._start[i]
        seen = self.last[start]
        d = self.n_devices
        where = self.loc[start]
        log1p = math.log1p
        io = self.io
        assert io is not None
        t = self._t_us[i]
        count = log1p(self.count[start]) / _LOG_COUNT
        lat = self.lat_ema / self.ref_us
        if seen >= 0:
            recency = log1p(i - seen) / self._span
            heat = log1p(self.heat[start] * self._decayed(i - seen)) / _LOG_HEAT
        else:
            recency, heat = 1.0, 0.0
        values = [
            self._size_feature[i],
            1.0 if self._is_write[i] else 0.0,
            count if count < 1.0 else 1.0,
            min(self.spatial / 16.0, 1.0) if -5 <= start - self.prev_end <= 5 else 0.0,
            recency,
            heat if heat < 1.0 else 1.0,
            (where if where >= 0 else d - 1) / (d - 1),
            0.0 if seen >= 0 else 1.0,
            *[u / c if u < c else 1.0 for u, c in zip(self.used, self.capacity, strict=True)],
            1.0 if self.need_place else 0.0,
            1.0 if self.need_mig else 0.0,
            self.hit_ema,
            lat if lat < 1.0 else 1.0,
            *[log1p(b) / _LOG_BACKLOG for b in io.backlogs(t)],
        ]
        if self.need_mig:
            self._candidate_features(values)
        else:
            values += self._no_candidates
        packed = bytearray(4 * self.obs_dim)  # a writable buffer, so the returned array is writable too
        struct.pack_into(self._obs_format, packed, 0, *values)
        return np.frombuffer(packed, np.float32)

    def _candidate_features(self, out: list[float]) -> None:
        """Append heat and recency of both candidate lists (zeros for missing candidates) to `out`."""
        c = self.config.candidates
        i, heat, last = self.index, self.heat, self.last
        decay, recency = self._decay_table, self._recency_table
        cap = len(decay)
        log1p = math.log1p
        zeros = self._no_candidates
        for pages in (self.promote, self.evict):
            for p in pages:
                age = i - last[p]
                if age < cap:
                    h = log1p(heat[p] * decay[age]) / _LOG_HEAT
                    r = recency[age]
                else:
                    h = log1p(heat[p] * self._decay**age) / _LOG_HEAT
                    r = log1p(age) / self._span
                out.append(h if h < 1.0 else 1.0)
                out.append(r)
            if len(pages) < c:
                out.extend(zeros[: 2 * (c - len(pages))])

    def system(self) -> StorageView:
        """The read-only view heuristics use (see `StorageView`)."""
        return self.view

    def metrics(self) -> dict[str, float]:
        """Latency, throughput, migration and hit metrics of the episode so far."""
        lat = self.latencies
        n = len(lat)
        w = self.w
        first = w.t_us[0] if n else 0.0
        last_end = max(map(operator.add, w.t_us[:n], lat), default=0.0)
        span_s = max(max(last_end, 0.0) - first, 1e-9) / 1e6
        total_pages = sum(w.npages[:n])
        return {
            "mean_latency_us": float(sum(lat) / n) if n else 0.0,
            "p99_latency_us": float(np.percentile(lat, 99)) if n else 0.0,
            "throughput_iops": n / span_s if n else 0.0,
            "migrated_gib": self.migrated_pages * self.page_bytes / 2**30,
            "fast_hit_ratio": self.fast_pages / total_pages if total_pages else 0.0,
            "evicted_pages": float(self.evicted_pages),
            "requests": float(n),
            "footprint_mib": self.w.footprint * self.page_bytes / 2**20,
            "fast_capacity_fraction": self.config.capacity_fractions[0],
            "simulated_s": span_s,
        }

    def samples(self) -> dict[str, list[float]]:
        """Every request's latency, microseconds."""
        return {"latency_us": list(self.latencies)}

    def close(self) -> None:
        """Release the io's resources (real files for the live backend)."""
        if self.io is not None:
            self.io.close()


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
class StorageView:
    """What heuristics may read at a decision (`info["system"]`); a thin live view, nothing is copied.

    Attributes exposed: `mode`, `n_devices`, `capacity` and `used` (pages per device), `levels`, `index` (the
    current request), `n_requests`, the current request (`is_write`, `start`, `npages`, `nbytes`),
    `promote_candidates` / `evict_candidates` (page ids, best first), per-page `loc`, `count`, `heat`,
    `last_access`, and `next_use` (future knowledge, for the Oracle only).
    """

    def __init__(self, core: StorageCore) -> None:
        self._core = core

    @property
    def mode(self) -> str:
        """joint, placement or migration: which decisions the learner (and so a baseline's action) makes."""
        return self._core.mode

    @property
    def n_devices(self) -> int:
        """Devices in the HSS, fastest first."""
        return self._core.n_devices

    @property
    def capacity(self) -> list[int]:
        """Pages each device holds."""
        return self._core.capacity

    @property
    def used(self) -> list[int]:
        """Pages each device holds now."""
        return self._core.used

    @property
    def levels(self) -> tuple[int, ...]:
        """How many candidates each migration level moves."""
        return self._core.levels

    @property
    def index(self) -> int:
        """The current request's position in the episode."""
        return self._core.index

    @property
    def n_requests(self) -> int:
        """Requests in the episode."""
        return self._core.n_requests

    @property
    def is_write(self) -> bool:
        """The current request writes."""
        return self._core.w.is_write[self._core.index]

    @property
    def start(self) -> int:
        """First page of the current request."""
        return self._core.w.start[self._core.index]

    @property
    def npages(self) -> int:
        """Pages the current request covers."""
        return self._core.w.npages[self._core.index]

    @property
    def nbytes(self) -> float:
        """Bytes of the current request."""
        return self._core.w.nbytes[self._core.index]

    @property
    def sequential(self) -> bool:
        """The current request continues the previous one."""
        return self._core.w.start[self._core.index] == self._core.prev_end

    @property
    def needs_placement(self) -> bool:
        """The learner places the current write."""
        return self._core.need_place

    @property
    def needs_migration(self) -> bool:
        """The learner makes a migration decision now."""
        return self._core.need_mig

    @property
    def promote_candidates(self) -> list[int]:
        """Hot pages on slower devices touched since the last migration decision, hottest first."""
        return self._core.promote

    @property
    def evict_candidates(self) -> list[int]:
        """Least recently used pages of the fastest device, coldest first."""
        return self._core.evict

    def loc(self, page: int) -> int:
        """Device holding `page` (-1: never touched, its data is on the slowest device)."""
        return self._core.loc[page]

    def count(self, page: int) -> int:
        """Accesses to `page` so far."""
        return self._core.count[page]

    def heat(self, page: int) -> float:
        """Accesses to `page`, decayed by `heat_half_life` requests, as of now."""
        core = self._core
        last = core.last[page]
        return core.heat[page] * core._decay ** (core.index - last) if last >= 0 else 0.0

    def last_access(self, page: int) -> int:
        """Request index of the latest access to `page` (-1 if none)."""
        return self._core.last[page]

    def future_accesses(self, page: int, horizon: int) -> int:
        """Accesses to `page` in the next `horizon` requests after the current one. Future knowledge."""
        return self._core.future_accesses(page, horizon)

    def next_use(self, page: int) -> float:
        """Request index of the next access to `page` after the current one (inf if none). Future knowledge."""
        return self._core.next_use(page)

    def coldest(self, device: int, k: int) -> list[int]:
        """Up to `k` least recently used pages of a non-slowest `device`, coldest first."""
        return [p for _, p in zip(range(k), self._core.lru[device], strict=False)]

    def counts(self) -> np.ndarray:
        """Access counts of every page (a copy: call it rarely, e.g. once per interval)."""
        return np.asarray(self._core.count, dtype=np.float64)

    def free(self, device: int) -> int:
        """Pages `device` can take before it must evict."""
        return self._core.capacity[device] - self._core.used[device]

    def encode(self, device: int, promote: int, evict: int) -> int:
        """The env action for a placement device and two migration level indices, in this env's mode."""
        n_levels = len(self._core.levels)
        if self._core.mode == "placement":
            return device
        pair = promote * n_levels + evict
        if self._core.mode == "migration":
            return pair
        return device * n_levels * n_levels + pair
