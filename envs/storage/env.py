"""The HybridStorage envs: joint placement+migration, placement only, migration only (Harmonia / Sibyl)."""

from __future__ import annotations

from typing import Any, ClassVar

from sysgym.envs.core.backend import Backend
from sysgym.envs.core.frontend import SysEnv
from sysgym.envs.storage.config import StorageConfig
from sysgym.envs.storage.core import StorageCore, StorageIO
from sysgym.envs.storage.devices import DeviceSpec
from sysgym.envs.storage.heuristics import make_migration, make_placement
from sysgym.envs.storage.queues import ModelIO
from sysgym.envs.storage.rewards import reward
from sysgym.envs.storage.workloads import Workload


def model_io(specs: list[DeviceSpec], capacity_bytes: list[float], workload: Workload) -> StorageIO:
    """Queues of modelled devices (module-level so that envs pickle)."""
    return ModelIO(specs, capacity_bytes, workload.address, workload.page_bytes)


def build_core(config: StorageConfig, backend: str, mode: str) -> StorageCore:
    """The backend for `mode`: modelled queues or, for `live`, real files on real devices."""
    if backend == "live":
        from sysgym.runtime.storage.live import LiveIOFactory

        factory: Any = LiveIOFactory(config)
    else:
        factory = model_io
    return StorageCore(
        config,
        mode,
        factory,
        make_placement(config.placement_policy),
        make_migration(config.migration_policy),
    )


class HybridStorageEnv(SysEnv[StorageConfig]):
    """Hybrid storage data management (Harmonia): where writes go and which pages move between devices.

    ## Description
    A hybrid storage system of 2-4 devices (Optane-class NVMe, TLC NVMe, SATA TLC, QLC SATA with an SLC-cache
    write cliff, 7,200 rpm HDD with a seek-distance term; see `devices.py` for the cited parameters) serves a
    block workload whose arrival times come from the trace (or a Poisson / bursty process for synthetic
    scenarios). Every device has one queue shared by foreground requests and migrations, so migration traffic
    delays foreground I/O. Two decisions: **placement** for every write (to a new address or a re-write) and
    **migration** every `migration_interval` requests. This id makes both in one step (the joint form of
    Harmonia's two agents, for single-agent training); `HybridStorage-Placement-v0` and
    `HybridStorage-Migration-v0` make one and leave the other to a named heuristic; `storage.parallel_env()` is
    the two-agent PettingZoo form. Harmonia's migration agent is not public: this migration action is the
    project's own design.

    ## Action Space
    `Discrete(D * L * L)` with D devices and L migration levels (0, 1, 2, 4, ..., `candidates`):
    `a = device * L * L + promote * L + evict`. `device` places the current write (0 = fastest). `promote`
    moves the first `levels[promote]` hot-on-slow candidates (ranked by heat) to the fastest device, `evict`
    moves the first `levels[evict]` cold-on-fast candidates (LRU order) one tier down. `info["action_mask"]`
    masks levels beyond the candidate lists and the half of the action with no decision at this request.
    Placement-v0: `Discrete(D)` with every action valid (`info["action_mask"]` is None); Migration-v0:
    `Discrete(L * L)`. Devices never refuse data: a device past its capacity evicts its least recently used
    pages one tier down (charged as migration), as Sibyl does.

    ## Observation Space
    `Box(0, 1, (12 + 2 D + 4 C,), float32)`, all normalised: Sibyl's request features (log size, is-write,
    access count, spatial run counter, recency, decayed heat, current device, new-address flag), the fill of
    every device, two flags (placement needed, migration needed), the recent fast-hit rate and latency, the
    queue backlog of every device, then heat and recency of the C promote and C evict candidates (zeros when
    no migration decision is due).

    ## Rewards
    Per step, over the requests served since the previous decision (including the one decided on); the
    `reward` kwarg picks the form (`rewards.py` holds both, shared with the PettingZoo env):
    - `"latency"` (default): `r = -(sum of request latencies + migration_cost * device time used by
      migrations) / L_ref`, with `L_ref` the unloaded 4 KiB random-read latency of the slowest device.
      Migrations are thus paid twice: through the queueing they cause foreground requests and through their own
      device time. The return is minus the total normalised latency, so maximising it minimises
      `mean_latency_us`.
    - `"sibyl"`: Sibyl's code form, `r = sum over requests of (0.1 / L_ms - n_evict^0.09)`, with `L_ms` the
      request's latency in milliseconds (floored at 1 us) and `n_evict` the pages that request sends one tier
      down (capacity evictions plus the pages of an evict decision taken at it). Migration time is charged only
      through the queueing it causes; `migration_cost` does not apply.

    ## Episode End
    Terminates when the workload's `max_requests` requests are served. `info["metrics"]`: `mean_latency_us`
    (headline), `p99_latency_us`, `throughput_iops`, `migrated_gib`, `fast_hit_ratio`, plus `evicted_pages`,
    `requests`, `footprint_mib`, `fast_capacity_fraction`, `simulated_s`; `info["samples"]["latency_us"]`.

    ## Arguments
    `gym.make("sysgym/HybridStorage-v0", backend="model"|"live", **StorageConfig fields)`: `config`
    (perf | cost | tri | quad), `devices` (names or `sysgym calibrate --target storage` files), `capacities`,
    `workload` (scenario or trace path) and `format`, `max_requests`, `migration_interval`, `candidates`,
    `reward` (latency | sibyl), ...
    (see `StorageConfig`). `backend="live"` does real I/O on tier directories (default: /dev/shm and an O_DIRECT
    file on the local disk) and returns measured latencies.

    ## Version History
    - v0: initial release; later additions that keep every v0 trajectory: the `reward="sibyl"` option, and
      `info["action_mask"]` None in Placement-v0 (every action was always valid there).
    """

    config_cls = StorageConfig
    backends = ("model", "live")
    mode: ClassVar[str] = "joint"

    def _make_backend(self, config: StorageConfig, backend: str) -> Backend[Any, Any]:
        return build_core(config, backend, self.mode)

    def _reward(self, signals: dict[str, float]) -> float:
        return reward(self.config, signals)


class HybridStoragePlacementEnv(HybridStorageEnv):
    """Placement only (Sibyl's decision): choose the device of every write; migration by `migration_policy`.

    ## Description
    The HybridStorage system of `HybridStorage-v0`; the learner places writes (to new addresses and re-writes)
    and the heuristic named by `migration_policy` (default `lru-watermark`) migrates every
    `migration_interval` requests.

    ## Action Space
    `Discrete(D)`: the device of the current write, 0 = fastest; all valid (a full device evicts LRU pages), so
    `info["action_mask"]` is None.

    ## Observation Space
    As `HybridStorage-v0` (the candidate features are zero: the learner makes no migration decision).

    ## Rewards
    As `HybridStorage-v0`: by default minus the normalised latency of the requests served this step and
    migration time; `reward="sibyl"` gives Sibyl's `sum of (0.1 / L_ms - n_evict^0.09)` over those requests.

    ## Episode End
    As `HybridStorage-v0`.

    ## Arguments
    As `HybridStorage-v0`; `migration_policy` picks the migration heuristic.

    ## Version History
    - v0: initial release.
    """

    mode: ClassVar[str] = "placement"


class HybridStorageMigrationEnv(HybridStorageEnv):
    """Migration only: choose what to promote and evict every K requests; writes placed by `placement_policy`.

    ## Description
    The HybridStorage system of `HybridStorage-v0`; the learner decides migrations every `migration_interval`
    requests and the heuristic named by `placement_policy` (default `cde`) places writes.

    ## Action Space
    `Discrete(L * L)`: `a = promote * L + evict` over the migration levels; levels beyond the candidate lists
    are masked.

    ## Observation Space
    As `HybridStorage-v0`.

    ## Rewards
    As `HybridStorage-v0`: `reward="latency"` (default, minus normalised latency and migration time) or
    `reward="sibyl"` (Sibyl's `sum of (0.1 / L_ms - n_evict^0.09)` over the step's requests).

    ## Episode End
    As `HybridStorage-v0`.

    ## Arguments
    As `HybridStorage-v0`; `placement_policy` picks the placement heuristic.

    ## Version History
    - v0: initial release.
    """

    mode: ClassVar[str] = "migration"
