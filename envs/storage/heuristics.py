"""Placement and migration heuristics from the Sibyl/Harmonia lineage, as rules over a `StorageView`.

Each rule makes one half of a decision, so any placement combines with any migration (the baselines pair them,
and the single-decision envs use one named rule for the half the learner does not make). Bracketed parameters
in the storage reference are the defaults here and are part of the rule's name in results.

A migration rule answers level indices over the ranked candidate lists: promote the first `levels[j]`
hot-on-slow candidates to the fastest device, evict the first `levels[k]` cold-on-fast ones one tier down.
"""

from __future__ import annotations

from collections.abc import Callable

from sysgym.envs.core.errors import UnknownNameError
from sysgym.envs.storage.core import ORACLE_HORIZON, MigrationRule, PlacementRule, StorageView

SEQUENTIAL_BYTES = 128 * 1024  # CDE: a request this large is sequential
HOT_WINDOW = 10_000  # CDE: hot = a previous access within this many requests
WATERMARK_HIGH = 0.9  # Sibyl evicts at 90 % fill ...
WATERMARK_LOW = 0.8  # ... down to 80 % (the reference's watermark pair)
HPS_THRESHOLD = 2.0  # HPS theta: accesses per epoch (heat over the half-life window)
HEAT_HIGH = 3.0  # hysteresis: promote at or above
HEAT_LOW = 0.5  # hysteresis: evict at or below


def level_for(view: StorageView, wanted: int, available: int) -> int:
    """Index of the largest level that moves no more than `wanted` of `available` candidates."""
    limit = min(wanted, available)
    best = 0
    for k, size in enumerate(view.levels):
        if size <= limit:
            best = k
    return best


def prefix(pages: list[int], keep: Callable[[int], bool]) -> int:
    """How many leading candidates satisfy `keep`."""
    n = 0
    for p in pages:
        if not keep(p):
            break
        n += 1
    return n


def watermark_evictions(view: StorageView) -> int:
    """Evict level that brings the fastest device from above 90 % back towards 80 % (0 below 90 %)."""
    cap = view.capacity[0]
    over = view.used[0] - int(WATERMARK_LOW * cap)
    if view.used[0] <= WATERMARK_HIGH * cap or over <= 0:
        return 0
    return level_for(view, max(over, 1), len(view.evict_candidates))


class _Stateless:
    """Rules without per-episode state."""

    def reset(self, seed: int) -> None:
        """Nothing to forget."""


class SlowPlacement(_Stateless):
    """Everything on the slowest device (Slow-Only)."""

    def place(self, view: StorageView) -> int:
        """The slowest device."""
        return view.n_devices - 1


class FastPlacement(_Stateless):
    """Everything on the fastest device (Fast-Only; a bound when capacity is unlimited)."""

    def place(self, view: StorageView) -> int:
        """The fastest device."""
        return 0


class FastFirstPlacement(_Stateless):
    """New writes to the fastest device that still has room (HPS's placement)."""

    def place(self, view: StorageView) -> int:
        """The fastest device with room for the request."""
        for d in range(view.n_devices - 1):
            if view.free(d) >= view.npages:
                return d
        return view.n_devices - 1


class CdePlacement(_Stateless):
    """CDE (Matsui et al. 2017): hot or random writes to the fastest device, cold sequential ones to the slowest."""

    def place(self, view: StorageView) -> int:
        """Fast unless the write is sequential (or large) and its data was not touched recently."""
        last = view.last_access(view.start)
        hot = last >= 0 and view.index - last <= HOT_WINDOW
        sequential = view.sequential or view.nbytes >= SEQUENTIAL_BYTES
        return 0 if hot or not sequential else view.n_devices - 1


class OraclePlacement(_Stateless):
    """Belady with future knowledge, level by level.

    A device takes the write if it has room or the written page is needed sooner than the farthest-needed page
    among its coldest ones.
    """

    def place(self, view: StorageView) -> int:
        """The fastest device where the page beats a resident page on next use."""
        need = view.next_use(view.start)
        for d in range(view.n_devices - 1):
            if view.free(d) >= view.npages:
                return d
            coldest = view.coldest(d, 64)
            if coldest and need < max(view.next_use(p) for p in coldest):
                return d
        return view.n_devices - 1


class NoMigration(_Stateless):
    """Never migrates (capacity overflow still evicts, as the system must)."""

    def migrate(self, view: StorageView) -> tuple[int, int]:
        """Nothing to move."""
        return 0, 0


class LruWatermark(_Stateless):
    """LRU eviction between the 90 % and 80 % watermarks; no promotion."""

    def migrate(self, view: StorageView) -> tuple[int, int]:
        """Evict only."""
        return 0, watermark_evictions(view)


class PromoteOnKth(_Stateless):
    """Promote a page on its k-th access (k = 1 or 2), with watermark LRU eviction."""

    def __init__(self, k: int) -> None:
        self.k = k

    def migrate(self, view: StorageView) -> tuple[int, int]:
        """Promote the leading candidates accessed at least k times."""
        cands = view.promote_candidates
        n = prefix(cands, lambda p: view.count(p) >= self.k)
        return level_for(view, n, len(cands)), watermark_evictions(view)


class HeatHysteresis(_Stateless):
    """Promote at heat >= 3, demote at heat <= 0.5 (hysteresis between them), plus watermark eviction."""

    def migrate(self, view: StorageView) -> tuple[int, int]:
        """Move the candidates beyond their thresholds."""
        up = view.promote_candidates
        down = view.evict_candidates
        n_up = prefix(up, lambda p: view.heat(p) >= HEAT_HIGH)
        n_down = prefix(down, lambda p: view.heat(p) <= HEAT_LOW)
        evict = max(level_for(view, n_down, len(down)), watermark_evictions(view))
        return level_for(view, n_up, len(up)), evict


class HpsMigration(_Stateless):
    """HPS (Meswani et al. 2015): promote pages at >= theta accesses per epoch, demote fast pages below it."""

    def migrate(self, view: StorageView) -> tuple[int, int]:
        """Epoch counts are the heat over the half-life window."""
        up = view.promote_candidates
        down = view.evict_candidates
        n_up = prefix(up, lambda p: view.heat(p) >= HPS_THRESHOLD)
        n_down = prefix(down, lambda p: view.heat(p) < HPS_THRESHOLD)
        room = view.free(0)
        n_down = n_down if n_up > room else 0
        return level_for(view, n_up, len(up)), level_for(view, n_down, len(down))


class OracleMigration(_Stateless):
    """Promote a candidate when Belady would keep it and it is accessed often enough soon to pay for the move.

    The candidate must be needed before the farthest-needed fast page and be accessed at least twice more within
    the horizon (three times when it displaces a page): a promotion costs about one slow access and a
    displacement one more, so fewer accesses would not pay.
    """

    def migrate(self, view: StorageView) -> tuple[int, int]:
        """Belady over the next-use-ranked candidates; eviction is left to the next-use-ordered overflow."""
        up = view.promote_candidates
        coldest = view.coldest(0, 64)
        farthest = max((view.next_use(p) for p in coldest), default=float("inf"))
        room = view.free(0)

        def worth(page: int) -> bool:
            # A promotion costs a slow read, plus a write one tier down when it displaces a page.
            need = 2 if room > 0 else 3
            soon = room > 0 or view.next_use(page) < farthest
            return soon and view.future_accesses(page, ORACLE_HORIZON) >= need

        return level_for(view, prefix(up, worth), len(up)), 0


def make_placement(name: str) -> PlacementRule:
    """A placement rule by name (the learned ones live in `learned.py`)."""
    from sysgym.envs.storage import learned

    factories: dict[str, Callable[[], PlacementRule]] = {
        "slow": SlowPlacement,
        "fast": FastPlacement,
        "fast-first": FastFirstPlacement,
        "hps": FastFirstPlacement,
        "cde": CdePlacement,
        "oracle": OraclePlacement,
        "archivist": learned.ArchivistPlacement,
        "rnn-hss": learned.RnnHss,
    }
    if name not in factories:
        raise UnknownNameError("placement policy", name, list(factories))
    return factories[name]()


def make_migration(name: str) -> MigrationRule:
    """A migration rule by name."""
    from sysgym.envs.storage import learned

    factories: dict[str, Callable[[], MigrationRule]] = {
        "none": NoMigration,
        "lru-watermark": LruWatermark,
        "promote-k1": lambda: PromoteOnKth(1),
        "promote-k2": lambda: PromoteOnKth(2),
        "heat-hysteresis": HeatHysteresis,
        "hps": HpsMigration,
        "oracle": OracleMigration,
        "rnn-hss": learned.RnnHss,
    }
    if name not in factories:
        raise UnknownNameError("migration policy", name, list(factories))
    return factories[name]()
