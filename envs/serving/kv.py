"""Paged KV cache: device block pools sized from GPU memory, host swap space, and swap/recompute costs.

A pool counts blocks, not block ids: which physical blocks a request holds never changes a latency, and counting
keeps every allocation O(1). Requests record how many blocks they hold (`Request.blocks`, `Request.host_blocks`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mypy_extensions import mypyc_attr

from sysgym.envs.core.config import require
from sysgym.envs.serving.models import ModelSpec
from sysgym.envs.serving.request import Request

GIB = 1024**3

SwapCost = Callable[[Request, int, int, str], float]
"""Seconds to swap (request, blocks, bytes per block, `out` or `in`): the request lets a cost hook (or a live
path doing the real copy) know whose KV moves."""


def kv_capacity_blocks(
    model: ModelSpec,
    gpu_mem_gib: float,
    block_tokens: int = 16,
    mem_util: float = 0.9,
    activation_gib: float = 2.0,
) -> int:
    """Device KV blocks one model instance gets, as vLLM sizes it.

    (memory x utilisation - weights - activation reserve) / bytes of one block, per GPU of the TP group (each GPU
    holds its shard of every block, so the group's block count is the per-GPU count).
    """
    require(0 < mem_util <= 1, f"mem_util must be in (0, 1], got {mem_util}")
    free = gpu_mem_gib * GIB * mem_util - model.weight_bytes_per_gpu - activation_gib * GIB
    block_bytes_per_gpu = model.kv_bytes_per_token * block_tokens / model.tp
    blocks = int(free // block_bytes_per_gpu)
    require(blocks > 0, f"{model.name} does not fit: {gpu_mem_gib} GiB per GPU leaves no room for KV blocks")
    return blocks


@mypyc_attr(native_class=False)
@dataclass(frozen=True)
class GatheredSwapCost:
    """Swap cost of gathering a request's blocks on the GPU and moving them as one pinned PCIe copy.

    Attributes:
        fixed_s: fixed cost of one copy (the smallest pinned copy's time).
        gather_s_per_byte: on-GPU gather time per byte (`kv_gather`).
        d2h_gbps: pinned device-to-host bandwidth of large copies (`pcie.single`).
        h2d_gbps: pinned host-to-device bandwidth of large copies.
    """

    fixed_s: float
    gather_s_per_byte: float
    d2h_gbps: float
    h2d_gbps: float

    def __call__(self, req: Request, blocks: int, block_bytes: int, direction: str) -> float:
        """Seconds to move `req`'s `blocks` blocks out (device to host) or in."""
        nbytes = blocks * block_bytes
        gbps = self.d2h_gbps if direction == "out" else self.h2d_gbps
        return self.fixed_s + self.gather_s_per_byte * nbytes + nbytes / (gbps * 1e9)


def gathered_swap_cost(calibration: dict[str, Any]) -> GatheredSwapCost:
    """The gathered-copy swap cost measured on the calibrated machine (about 53 GB/s for large swaps)."""
    sections = calibration["sections"]
    pinned = [r for r in sections["pcie"] if r.get("kind") == "single" and r.get("pinned")]
    big = max(pinned, key=lambda r: r["bytes"])
    gather = sections["kv_gather"][0]
    return GatheredSwapCost(
        fixed_s=min(r["d2h_ms"] for r in pinned) / 1e3,
        gather_s_per_byte=gather["gather_ms"] / 1e3 / (gather["block"] * gather["blocks"]),
        d2h_gbps=big["d2h_gbps"],
        h2d_gbps=big["h2d_gbps"],
    )


@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)
@dataclass
class KVPool:
    """Device blocks of one model instance plus its host swap space.

    Attributes:
        capacity: device blocks.
        block_tokens: tokens per block.
        block_bytes: bytes of one block across the whole TP group (what a swap moves).
        host_capacity: host blocks available for swapped-out KV.
        used: device blocks held.
        host_used: host blocks held.
        peak: most device blocks held at once this episode.
    """

    capacity: int
    block_tokens: int
    block_bytes: int
    host_capacity: int = 0
    used: int = 0
    host_used: int = 0
    peak: int = 0

    @property
    def free(self) -> int:
        """Device blocks not held by any request."""
        return self.capacity - self.used

    @property
    def host_free(self) -> int:
        """Host blocks not held by any request."""
        return self.host_capacity - self.host_used

    def blocks_for(self, tokens: int) -> int:
        """Blocks holding `tokens` tokens."""
        return -(-tokens // self.block_tokens)

    def take(self, blocks: int) -> None:
        """Hold `blocks` more device blocks; the caller checked `free`."""
        if blocks > self.capacity - self.used:
            raise RuntimeError(f"KV pool over-allocated: {blocks} blocks asked, {self.free} free")
        self.used += blocks
        if self.used > self.peak:
            self.peak = self.used

    def give(self, blocks: int) -> None:
        """Release `blocks` device blocks."""
        self.used -= blocks

    def usage(self) -> float:
        """Fraction of device blocks held."""
        return self.used / self.capacity if self.capacity else 0.0

    def reset(self) -> None:
        """Empty the pool for a new episode."""
        self.used = 0
        self.host_used = 0
        self.peak = 0
