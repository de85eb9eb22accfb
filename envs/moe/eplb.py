"""DeepSeek EPLB's replication policy, adapted to fixed native placement.

EPLB (deepseek-ai/EPLB) takes time-delayed per-expert load statistics and (1) packs expert groups onto nodes,
(2) repeatedly adds a replica to the expert with the highest load per replica, (3) packs replicas onto GPUs by
balanced packing on per-replica load. Here there is one node and one group (EPLB's global policy), and the env
keeps every expert's native copy where EP put it, so step (3) places only the redundant replicas: heaviest
per-replica load first, each on the lightest device with a free replica slot that does not hold the expert.
At run time an expert's tokens are split evenly over its copies.
"""

from __future__ import annotations

import numpy as np


def replicate(stats: np.ndarray, devices: int, slots: int) -> list[tuple[int, int]]:
    """Redundant replicas (expert, device) for load statistics `stats` (float [N]) with `slots` per device."""
    experts = stats.size
    per_device = experts // devices
    counts = np.ones(experts, dtype=np.int64)
    budget = devices * slots
    weight = stats.astype(np.float64) + 1e-9
    for _ in range(budget):
        ratio = np.where(counts < devices, weight / counts, -1.0)
        e = int(np.argmax(ratio))
        if ratio[e] < 0:
            break
        counts[e] += 1
    per_replica = weight / counts
    device_load = (per_replica.reshape(devices, per_device)).sum(axis=1)
    free = [slots] * devices
    holds = [set(range(d * per_device, (d + 1) * per_device)) for d in range(devices)]
    placed: list[tuple[int, int]] = []
    extra = [e for e in np.argsort(-per_replica, kind="stable").tolist() for _ in range(int(counts[e]) - 1)]
    for e in extra:
        options = [d for d in range(devices) if free[d] > 0 and e not in holds[d]]
        if not options:
            continue
        d = min(options, key=lambda o: (device_load[o], o))
        free[d] -= 1
        holds[d].add(e)
        device_load[d] += per_replica[e]
        placed.append((e, d))
    return placed
