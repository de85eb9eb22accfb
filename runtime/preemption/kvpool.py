"""A real paged KV cache in torch: per-layer K and V block tensors on the GPU and a pinned host swap pool.

The layout is vLLM's (one `[blocks, block_tokens, kv_heads, head_dim]` tensor per layer for K and one for V), so
the copies a preemption implies are the real ones:

- `block`: one `copy_` per block per layer per K/V, issued from Python on the caller's thread (vLLM 0.3.3);
- `group`: one copy per run of contiguous blocks per layer per K/V (FastSwitch's block groups: the allocator
  hands out contiguous runs, so a swap is a few large copies);
- `gather`: every block of every layer packed on the GPU into one staging buffer with `index_select`, then a
  single copy into a contiguous host region (and the reverse with `index_copy_` on swap-in).

Copies for `group` and `gather` may run on a side stream from a worker thread (the asynchronous swap manager);
`block` copies run on the current stream, stalling compute as vLLM's do. Device-agnostic: on a CPU the same code
moves the same bytes (used by the unit tests for data integrity); timings are only meaningful on a GPU.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch

Layout = Literal["block", "group", "gather"]


@dataclass(frozen=True)
class PoolShape:
    """Geometry of the pool.

    Attributes:
        layers: decoder layers.
        kv_heads: key/value heads.
        head_dim: head width.
        block_tokens: tokens per block.
        gpu_blocks: blocks in the device pool.
        host_blocks: blocks in the host swap pool.
    """

    layers: int = 32
    kv_heads: int = 8
    head_dim: int = 128
    block_tokens: int = 16
    gpu_blocks: int = 2048
    host_blocks: int = 4096

    @property
    def copy_bytes(self) -> int:
        """Bytes of one block of one layer's K or V (bf16)."""
        return self.block_tokens * self.kv_heads * self.head_dim * 2


class BlockAllocator:
    """Free-list allocator that prefers contiguous runs, so grouped swaps have few, large copies."""

    def __init__(self, blocks: int) -> None:
        self.free = list(range(blocks))

    def allocate(self, count: int) -> list[int]:
        """`count` free block ids, lowest first (contiguous when the pool is not fragmented)."""
        if count > len(self.free):
            raise MemoryError(f"KV pool exhausted: {count} blocks asked, {len(self.free)} free")
        taken, self.free = self.free[:count], self.free[count:]
        return taken

    def release(self, ids: list[int]) -> None:
        """Return blocks to the pool, keeping the free list sorted so runs re-form."""
        self.free = sorted(self.free + ids)


def runs(ids: list[int]) -> list[tuple[int, int]]:
    """Split block ids into (first, length) runs of consecutive ids, in order."""
    out: list[tuple[int, int]] = []
    for block in ids:
        if out and out[-1][0] + out[-1][1] == block:
            out[-1] = (out[-1][0], out[-1][1] + 1)
        else:
            out.append((block, 1))
    return out


class PagedKV:
    """Device and host KV pools with block tables, and the three swap paths.

    Args:
        shape: pool geometry.
        device: where the device pool lives (`cuda` for real measurements; `cpu` works for correctness).
    """

    def __init__(self, shape: PoolShape, device: str = "cuda") -> None:
        self.shape = shape
        self.device = torch.device(device)
        pin = self.device.type == "cuda"
        dims = (shape.block_tokens, shape.kv_heads, shape.head_dim)
        self.gpu = [
            [torch.zeros((shape.gpu_blocks, *dims), dtype=torch.bfloat16, device=self.device) for _ in range(2)]
            for _ in range(shape.layers)
        ]
        self.host = [
            [torch.zeros((shape.host_blocks, *dims), dtype=torch.bfloat16, pin_memory=pin) for _ in range(2)]
            for _ in range(shape.layers)
        ]
        self.gpu_alloc = BlockAllocator(shape.gpu_blocks)
        self.host_alloc = BlockAllocator(shape.host_blocks)
        self.stream = torch.cuda.Stream(self.device) if pin else None
        self._lock = threading.Lock()

    def fill(self, ids: list[int], seed: int) -> None:
        """Write recognisable data into device blocks (stands in for prefill; contents do not affect timing)."""
        gen = torch.Generator(device=self.device).manual_seed(seed)
        index = torch.tensor(ids, device=self.device)
        for layer in self.gpu:
            for tensor in layer:
                shape = (len(ids), *tensor.shape[1:])
                tensor[index] = torch.randn(shape, generator=gen, device=self.device).to(torch.bfloat16)

    def swap(self, src_ids: list[int], dst_ids: list[int], direction: Literal["out", "in"], layout: Layout) -> float:
        """Copy blocks between the pools with `layout`; returns seconds (CUDA events on a GPU, wall clock else).

        Only the transfer path a real system runs is timed: for `gather` that is the device-side pack or unpack
        and the one PCIe copy; moving the host staging buffer into the per-layer host blocks is bookkeeping
        (a real swap manager keeps the staging region as the request's host copy) and stays outside the timing.

        Args:
            src_ids: block ids in the source pool, in the request's token order.
            dst_ids: block ids in the destination pool, same order and length.
            direction: `out` = device to host, `in` = host to device.
            layout: copy path (module docstring).
        """
        if len(src_ids) != len(dst_ids):
            raise ValueError("source and destination block lists differ in length")
        with self._lock:
            if layout == "gather":
                return self._gather_swap(src_ids, dst_ids, direction)
            src, dst = (self.gpu, self.host) if direction == "out" else (self.host, self.gpu)
            stream = self.stream if layout == "group" else None
            if layout == "block":
                return self._timed(lambda: _block_copies(src, dst, src_ids, dst_ids), stream)
            pairs = _paired_runs(src_ids, dst_ids)
            return self._timed(lambda: _run_copies(src, dst, pairs), stream)

    def _gather_swap(self, src_ids: list[int], dst_ids: list[int], direction: str) -> float:
        pin = self.device.type == "cuda"
        if direction == "out":
            index = torch.tensor(src_ids, device=self.device)
            flat = [t for layer in self.gpu for t in layer]
            landing = torch.empty((len(flat), len(src_ids), *flat[0].shape[1:]), dtype=torch.bfloat16, pin_memory=pin)

            def pack_and_copy() -> None:
                landing.copy_(torch.stack([t.index_select(0, index) for t in flat]), non_blocking=True)

            seconds = self._timed(pack_and_copy, self.stream)
            host_index = torch.tensor(dst_ids)
            for i, t in enumerate(t for layer in self.host for t in layer):
                t.index_copy_(0, host_index, landing[i])
            return seconds
        host_index = torch.tensor(src_ids)
        packed = torch.stack([t.index_select(0, host_index) for layer in self.host for t in layer])
        if pin:
            packed = packed.pin_memory()
        index = torch.tensor(dst_ids, device=self.device)
        targets = [t for layer in self.gpu for t in layer]

        def copy_and_unpack() -> None:
            staged = packed.to(self.device, non_blocking=True)
            for i, t in enumerate(targets):
                t.index_copy_(0, index, staged[i])

        return self._timed(copy_and_unpack, self.stream)

    def _timed(self, work: Callable[[], None], stream: torch.cuda.Stream | None) -> float:
        if self.device.type != "cuda":
            begin = time.perf_counter()
            work()
            return time.perf_counter() - begin
        side = stream or torch.cuda.current_stream(self.device)
        start = torch.cuda.Event(enable_timing=True)
        stop = torch.cuda.Event(enable_timing=True)
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            start.record(side)
            work()
            stop.record(side)
        stop.synchronize()
        return float(start.elapsed_time(stop)) / 1e3


def _block_copies(
    src: list[list[torch.Tensor]], dst: list[list[torch.Tensor]], src_ids: list[int], dst_ids: list[int]
) -> None:
    """VLLM's swap: one copy per block per layer per K/V."""
    for s_layer, d_layer in zip(src, dst, strict=True):
        for s, d in zip(s_layer, d_layer, strict=True):
            for a, b in zip(src_ids, dst_ids, strict=True):
                d[b].copy_(s[a], non_blocking=True)


def _run_copies(
    src: list[list[torch.Tensor]], dst: list[list[torch.Tensor]], pairs: list[tuple[int, int, int]]
) -> None:
    """Block groups: one copy per contiguous run per layer per K/V."""
    for s_layer, d_layer in zip(src, dst, strict=True):
        for s, d in zip(s_layer, d_layer, strict=True):
            for a, b, n in pairs:
                d[b : b + n].copy_(s[a : a + n], non_blocking=True)


def _paired_runs(src_ids: list[int], dst_ids: list[int]) -> list[tuple[int, int, int]]:
    """(src start, dst start, length) runs where both sides are consecutive."""
    out: list[tuple[int, int, int]] = []
    for a, b in zip(src_ids, dst_ids, strict=True):
        if out and out[-1][0] + out[-1][2] == a and out[-1][1] + out[-1][2] == b:
            out[-1] = (out[-1][0], out[-1][1], out[-1][2] + 1)
        else:
            out.append((a, b, 1))
    return out
