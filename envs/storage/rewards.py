"""The storage envs' reward forms, shared by the Gymnasium envs and the PettingZoo env (one definition).

`latency` (default): minus the step's request latencies plus the device time its migrations used, normalised by
the slowest device's unloaded 4 KiB read; its return is minus the total normalised latency, so maximising it
minimises `mean_latency_us`.

`sibyl`: Sibyl's code form (CMU-SAFARI/Sibyl), per request r = 0.1 / L_ms - n_evict^0.09, summed over the
step's requests. L_ms is the request's latency in milliseconds, floored at 1 us so a near-instant request cannot
make the reward unbounded; n_evict is the number of pages the request sends one tier down (capacity evictions
when its data does not fit, plus the pages of an evict decision taken at it; Sibyl evicts in LRU order until the
incoming data fits). Migration time is not charged beyond the queueing it causes, as in Sibyl.
"""

from __future__ import annotations

from sysgym.envs.storage.config import StorageConfig

SIBYL_SCALE = 0.1  # Sibyl's numerator: 0.1 / latency in ms
SIBYL_EVICT_EXPONENT = 0.09  # Sibyl's eviction penalty n_evict ** 0.09
SIBYL_LATENCY_FLOOR_US = 1.0  # latencies below this count as this in Sibyl's 1 / L term


def reward(config: StorageConfig, signals: dict[str, float]) -> float:
    """The step reward of `config.reward` from the backend's signals.

    Signals: `latency_us` (sum over the step's requests), `migration_us` (device time of its migrations),
    `ref_us` (the normaliser), and for `sibyl` also `inv_latency_ms` (sum of 1 / L_ms, floored) and
    `evict_term` (sum over requests of n_evict ** 0.09).
    """
    if config.reward == "sibyl":
        return SIBYL_SCALE * signals["inv_latency_ms"] - signals["evict_term"]
    return -(signals["latency_us"] + config.migration_cost * signals["migration_us"]) / signals["ref_us"]
