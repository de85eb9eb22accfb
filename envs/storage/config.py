"""The storage envs' typed configuration and the named hybrid-storage configurations."""

from __future__ import annotations

from dataclasses import dataclass

from sysgym.envs.core.config import require
from sysgym.envs.core.errors import UnknownNameError

# Named HSS configurations (fastest device first) and the default capacity of every device but the slowest, as a
# fraction of the workload footprint; the slowest device always holds the whole footprint (the capacity tier).
HSS_CONFIGS: dict[str, tuple[tuple[str, ...], tuple[float, ...]]] = {
    "perf": (("optane", "sata-tlc"), (0.2,)),
    "cost": (("optane", "hdd"), (0.2,)),
    "tri": (("optane", "sata-tlc", "hdd"), (0.1, 0.3)),
    "quad": (("optane", "sata-tlc", "qlc-sata", "hdd"), (0.1, 0.2, 0.3)),
}

PLACEMENT_RULES = ("slow", "fast", "fast-first", "cde", "hps", "archivist", "rnn-hss", "oracle")
REWARDS = ("latency", "sibyl")
MIGRATION_RULES = ("none", "lru-watermark", "promote-k1", "promote-k2", "heat-hysteresis", "hps", "rnn-hss", "oracle")


@dataclass(frozen=True)
class StorageConfig:
    """Settings of every HybridStorage env (the single-decision envs use the heuristic of the other decision).

    Attributes:
        config: named HSS: perf (Optane + SATA TLC), cost (Optane + HDD), tri (+ both), quad (+ QLC SSD).
        devices: device names or `calibrate` JSON paths, fastest first; overrides the devices of `config`.
        capacities: capacity of every device but the slowest, as a fraction of the workload footprint.
        unlimited_capacity: every device holds the whole footprint (the Fast-Only bound needs it).
        preexisting: device holding data the trace reads before writing it; -1 = the slowest (capacity tier).
        workload: a synthetic scenario name or a trace file path.
        format: trace format: auto (from the header), msr, fiu, sibyl or cloudphysics.
        max_requests: requests per episode (traces are read up to this many rows, streaming).
        arrival_iops: mean arrival rate for workloads without usable timestamps; 0 = the scenario's own rate.
        time_scale: trace timestamps are divided by this (>1 replays a trace faster, adding load).
        page_kib: placement and migration unit (4 KiB pages as in Sibyl).
        migration_interval: requests between two migration decisions (K).
        candidates: length of each migration candidate list (hot-on-slow, cold-on-fast).
        heat_half_life: requests over which a page's heat halves.
        migration_cost: weight of the device time migrations use in the latency reward (on top of queueing).
        reward: latency (minus normalised latency plus migration time) or sibyl (Sibyl's 0.1/L_ms - n_evict^0.09).
        candidate_order: heat (default) or next-use (future knowledge; only the Oracle baseline sets it).
        placement_policy: heuristic that places writes in HybridStorage-Migration-v0.
        migration_policy: heuristic that migrates in HybridStorage-Placement-v0.
        live_roots: live backend: one directory per device (fastest first); empty = /dev/shm + a disk temp dir.
        live_budget_mib: live backend: most bytes per tier file; larger footprints fold onto it.
    """

    config: str = "perf"
    devices: tuple[str, ...] = ()
    capacities: tuple[float, ...] = ()
    unlimited_capacity: bool = False
    preexisting: int = -1
    workload: str = "mixed"
    format: str = "auto"
    max_requests: int = 20_000
    arrival_iops: float = 0.0
    time_scale: float = 1.0
    page_kib: int = 4
    migration_interval: int = 8
    candidates: int = 8
    heat_half_life: int = 1000
    migration_cost: float = 1.0
    reward: str = "latency"
    candidate_order: str = "heat"
    placement_policy: str = "cde"
    migration_policy: str = "lru-watermark"
    live_roots: tuple[str, ...] = ()
    live_budget_mib: int = 64

    def __post_init__(self) -> None:
        if self.config not in HSS_CONFIGS:
            raise UnknownNameError("storage config", self.config, list(HSS_CONFIGS))
        n = len(self.device_names)
        require(2 <= n <= 4, f"a hybrid storage system has 2 to 4 devices, got {n}")
        require(
            not self.capacities or len(self.capacities) == n - 1,
            f"capacities needs {n - 1} fractions (every device but the slowest), got {len(self.capacities)}",
        )
        require(all(0.0 < c <= 1.0 for c in self.capacity_fractions), "capacities must be in (0, 1]")
        require(self.format in ("auto", "msr", "fiu", "sibyl", "cloudphysics"), f"unknown format {self.format!r}")
        require(10 <= self.max_requests <= 10_000_000, "max_requests must be in [10, 1e7]")
        require(self.arrival_iops >= 0.0, "arrival_iops must be >= 0")
        require(self.time_scale > 0.0, "time_scale must be > 0")
        require(self.page_kib in (4, 8, 16, 32, 64), "page_kib must be 4, 8, 16, 32 or 64")
        require(1 <= self.migration_interval <= 100_000, "migration_interval must be in [1, 1e5]")
        require(1 <= self.candidates <= 64, "candidates must be in [1, 64]")
        require(self.heat_half_life >= 1, "heat_half_life must be >= 1")
        require(self.migration_cost >= 0.0, "migration_cost must be >= 0")
        if self.reward not in REWARDS:
            raise UnknownNameError("storage reward", self.reward, REWARDS)
        require(self.candidate_order in ("heat", "next-use"), "candidate_order must be heat or next-use")
        if self.placement_policy not in PLACEMENT_RULES:
            raise UnknownNameError("placement policy", self.placement_policy, PLACEMENT_RULES)
        if self.migration_policy not in MIGRATION_RULES:
            raise UnknownNameError("migration policy", self.migration_policy, MIGRATION_RULES)
        require(not self.live_roots or len(self.live_roots) == n, f"live_roots needs {n} directories")
        require(1 <= self.live_budget_mib <= 65_536, "live_budget_mib must be in [1, 65536]")

    @property
    def device_names(self) -> tuple[str, ...]:
        """The devices, fastest first."""
        return self.devices or HSS_CONFIGS[self.config][0]

    @property
    def capacity_fractions(self) -> tuple[float, ...]:
        """Capacity of every device, as a fraction of the footprint (the slowest holds everything)."""
        if self.capacities:
            fractions = self.capacities
        elif self.devices and len(self.devices) != len(HSS_CONFIGS[self.config][0]):
            fractions = tuple(0.1 * 2**i for i in range(len(self.devices) - 1))
        else:
            fractions = HSS_CONFIGS[self.config][1]
        if self.unlimited_capacity:
            fractions = tuple(1.0 for _ in fractions)
        return (*fractions, 1.0)

    @property
    def levels(self) -> tuple[int, ...]:
        """How many candidates a migration decision may move: 0, 1, 2, 4, ... up to `candidates`."""
        out = [0]
        step = 1
        while step < self.candidates:
            out.append(step)
            step *= 2
        out.append(self.candidates)
        return tuple(out)
