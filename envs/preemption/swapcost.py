"""KV swap cost between GPU and host, fitted to the measured PCIe, gather and contention data.

The fit follows what the calibration file shows rather than a single bandwidth number:

- An isolated copy costs a fixed latency plus bytes over bandwidth (`pcie.single`, pinned).
- Copies queued back to back from Python (`pcie.chunked`) pipeline on the DMA engine, so large ones pay only a
  small per-copy overhead, but small ones are limited by a per-copy floor (issuing the copy from Python plus the
  DMA set-up): 16 KiB copies move at about 2 GB/s whatever the bandwidth. A copy takes the larger of that floor
  (interpolated over the issue-bound measured sizes) and the streamed time (the least per-copy overhead seen on
  copies of 1 MiB and more, plus bytes over bandwidth).
- More Python threads make that floor worse, not better (`threaded_small_copies`): the interpreter serialises
  the issue cost. Copies issued outside the interpreter (FastSwitch's C++ swap manager) drop the Python part of
  the floor (`cpu_side.pinned_16k_copy_issue_us`) but gain nothing measured from extra threads.
- Gather-then-copy (`kv_gather`) packs scattered blocks into one staging buffer on the GPU, then moves it in one
  copy; scatter on swap-in is taken to cost the same as the gather.
- An asynchronous copy slows concurrent decode compute by the measured contention
  (`swap_compute_contention`, about 3 %) while keeping its own bandwidth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from sysgym.envs.core.errors import ConfigError

Direction = Literal["d2h", "h2d"]
Layout = Literal["block", "group", "gather"]


@dataclass(frozen=True)
class LinkFit:
    """Fitted copy costs for one direction of the host link.

    Attributes:
        latency_s: fixed cost of one isolated copy (launch to completion).
        bandwidth_bps: asymptotic pinned bandwidth, bytes per second.
        stream_overhead_s: per-copy overhead left when large copies are queued back to back.
        chunk_bytes: copy sizes of the measured back-to-back runs that were issue-bound, ascending.
        chunk_s: measured time per copy at each of those sizes, issued from one Python thread.
        python_issue_s: CPU time Python spends issuing one copy (removed for natively issued copies).
    """

    latency_s: float
    bandwidth_bps: float
    stream_overhead_s: float
    chunk_bytes: tuple[float, ...]
    chunk_s: tuple[float, ...]
    python_issue_s: float

    def single_s(self, nbytes: float) -> float:
        """One isolated copy of `nbytes`."""
        return self.latency_s + nbytes / self.bandwidth_bps

    def streamed_s(self, nbytes: float) -> float:
        """Per-copy time of back-to-back copies when nothing but the DMA engine limits them."""
        return self.stream_overhead_s + nbytes / self.bandwidth_bps

    def python_copy_s(self, nbytes: float) -> float:
        """Per-copy time of a long sequence issued from one Python thread.

        The larger of the issue floor and the streamed time: the floor is interpolated (log-log) over the measured
        chunk sizes that were issue-bound (slower than streaming would allow) and held flat outside them.
        """
        return max(self.floor_s(nbytes), self.streamed_s(nbytes))

    def floor_s(self, nbytes: float) -> float:
        """Python issue floor per copy at `nbytes`."""
        sizes = self.chunk_bytes
        if nbytes <= sizes[0]:
            return self.chunk_s[0]
        if nbytes >= sizes[-1]:
            return self.chunk_s[-1]
        return math.exp(float(np.interp(math.log(nbytes), np.log(sizes), np.log(self.chunk_s))))

    def native_copy_s(self, nbytes: float) -> float:
        """Per-copy time when copies are issued outside the interpreter: the Python issue cost disappears."""
        return max(self.python_copy_s(nbytes) - self.python_issue_s, self.streamed_s(nbytes))


@dataclass(frozen=True)
class KVGeometry:
    """How one model's KV cache is laid out in paged blocks (vLLM-style per-layer K and V tensors).

    Attributes:
        layers: decoder layers, each with its own K and V tensors.
        kv_heads: key/value heads per layer.
        head_dim: dimension of one head.
        dtype_bytes: bytes per element (2 for bf16).
        block_tokens: tokens per KV block.
    """

    layers: int = 32
    kv_heads: int = 8
    head_dim: int = 128
    dtype_bytes: int = 2
    block_tokens: int = 16

    @property
    def bytes_per_token(self) -> int:
        """K and V bytes of one token over all layers (128 KiB for Llama-3-8B)."""
        return 2 * self.layers * self.kv_heads * self.head_dim * self.dtype_bytes

    @property
    def copy_bytes_per_block(self) -> int:
        """Bytes of one block of one layer's K (or V): the unit vLLM copies (32 KiB for Llama-3-8B)."""
        return self.block_tokens * self.kv_heads * self.head_dim * self.dtype_bytes

    @property
    def block_bytes(self) -> int:
        """All layers' K and V of one block."""
        return self.block_tokens * self.bytes_per_token

    def blocks(self, tokens: int) -> int:
        """Blocks holding `tokens` tokens."""
        return -(-tokens // self.block_tokens)


@dataclass(frozen=True)
class SwapCostModel:
    """Time to move KV blocks between GPU and host under each copy layout, fitted to one calibration file.

    Attributes:
        d2h: device-to-host (swap-out) fit.
        h2d: host-to-device (swap-in) fit.
        gather_fixed_s: launch cost of the gather (or scatter) kernel.
        gather_bps: bytes per second the gather kernel packs into the staging buffer.
        thread_exponent: a Python-issued copy sequence over k threads takes k**exponent times longer.
        contention: fractional slowdown of decode compute while a copy runs concurrently.
    """

    d2h: LinkFit
    h2d: LinkFit
    gather_fixed_s: float
    gather_bps: float
    thread_exponent: float
    contention: float

    @classmethod
    def from_calibration(cls, calibration: dict[str, Any]) -> SwapCostModel:
        """Fit the model to a calibration dict (the packaged `h100.json` or a user's `calibrate` output)."""
        try:
            sections = calibration["sections"]
            pcie = sections["pcie"]
            issue_us = float(sections["cpu_side"]["pinned_16k_copy_issue_us"])
            fits = {d: _fit_link(pcie, d, issue_us * 1e-6) for d in ("d2h", "h2d")}
            gather_rows = sections["kv_gather"]
            launch_s = float(sections["cpu_side"]["tiny_kernel_launch_us"]) * 1e-6
            gather_bytes = [float(r["block"]) * float(r["blocks"]) for r in gather_rows]
            gather_s = [float(r["gather_ms"]) * 1e-3 for r in gather_rows]
            gather_bps = float(
                np.mean([b / max(s - launch_s, 1e-9) for b, s in zip(gather_bytes, gather_s, strict=True)])
            )
            exponent = _fit_thread_exponent(sections["threaded_small_copies"])
            contention_row = sections["swap_compute_contention"]
            contention = (
                float(contention_row["decode_loop_with_swaps_ms"]) / float(contention_row["decode_loop_alone_ms"]) - 1.0
            )
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ConfigError(f"calibration lacks the data the swap-cost model needs: {exc!r}") from exc
        return cls(
            d2h=fits["d2h"],
            h2d=fits["h2d"],
            gather_fixed_s=launch_s,
            gather_bps=gather_bps,
            thread_exponent=exponent,
            contention=max(contention, 0.0),
        )

    def link(self, direction: Direction) -> LinkFit:
        """The fit of one direction."""
        return self.d2h if direction == "d2h" else self.h2d

    def sequence_s(
        self, direction: Direction, copies: int, nbytes: float, *, native: bool = False, threads: int = 1
    ) -> float:
        """`copies` back-to-back copies of `nbytes` each.

        Args:
            direction: `d2h` for swap-out, `h2d` for swap-in.
            copies: number of copies.
            nbytes: bytes per copy.
            native: copies issued outside the Python interpreter (no Python issue cost, no GIL contention).
            threads: issuing threads; from Python they raise the per-copy floor by threads**exponent as measured,
                natively they neither help nor hurt (no measurement shows a gain).
        """
        if copies <= 0:
            return 0.0
        link = self.link(direction)
        if native:
            return copies * link.native_copy_s(nbytes)
        floor = link.chunk_s[0] * threads**self.thread_exponent if threads > 1 else 0.0
        return copies * max(link.python_copy_s(nbytes), floor)

    def gather_copy_s(self, direction: Direction, nbytes: float) -> float:
        """Gather scattered blocks into one staging buffer, then one copy (scatter after it for swap-in)."""
        if nbytes <= 0:
            return 0.0
        return self.gather_fixed_s + nbytes / self.gather_bps + self.link(direction).single_s(nbytes)

    def swap_s(
        self,
        direction: Direction,
        blocks: int,
        geometry: KVGeometry,
        layout: Layout,
        *,
        group_blocks: int = 1,
        native: bool = False,
        threads: int = 1,
    ) -> float:
        """Move `blocks` KV blocks of one request under a copy layout.

        Args:
            direction: `d2h` (swap-out) or `h2d` (swap-in).
            blocks: KV blocks to move.
            geometry: the model's KV layout.
            layout: `block` = one copy per block per layer per K/V (vLLM); `group` = contiguous groups of up to
                `group_blocks` blocks, one copy per group per layer per K/V (FastSwitch block groups);
                `gather` = pack all blocks on the GPU, then one copy.
            group_blocks: blocks per contiguous group for the `group` layout.
            native: copies are issued outside the Python interpreter.
            threads: issuing threads (see `sequence_s`).
        """
        if blocks <= 0:
            return 0.0
        per_block = geometry.copy_bytes_per_block
        tensors = 2 * geometry.layers
        if layout == "block":
            return self.sequence_s(direction, tensors * blocks, per_block, native=native, threads=threads)
        if layout == "group":
            full, rest = divmod(blocks, max(group_blocks, 1))
            time = self.sequence_s(direction, tensors * full, group_blocks * per_block, native=native, threads=threads)
            return time + self.sequence_s(
                direction, tensors * (rest > 0), rest * per_block, native=native, threads=threads
            )
        if layout == "gather":
            return self.gather_copy_s(direction, blocks * geometry.block_bytes)
        raise ConfigError(f"unknown copy layout {layout!r}; known: block, gather, group")

    def chunked_s(self, direction: Direction, total_bytes: float, chunk: float) -> float:
        """`total_bytes` moved as equal Python-issued copies of `chunk` bytes (the `pcie.chunked` experiment)."""
        return self.sequence_s(direction, math.ceil(total_bytes / chunk), chunk)


def _fit_link(rows: list[dict[str, Any]], direction: Direction, python_issue_s: float) -> LinkFit:
    """Fit one direction: latency + bandwidth from isolated pinned copies, floors from the chunked runs.

    The single-copy fit minimises relative error, so the 4 KiB and 256 MiB points weigh alike.
    """
    single = [r for r in rows if r.get("kind") == "single" and r.get("pinned")]
    chunked = [r for r in rows if r.get("kind") == "chunked" and r.get("pinned")]
    if len(single) < 2 or not chunked:
        raise ConfigError("calibration pcie section needs pinned single copies of two sizes and chunked copies")
    x = np.array([float(r["bytes"]) for r in single])
    t = np.array([float(r[f"{direction}_ms"]) * 1e-3 for r in single])
    design = np.stack([1.0 / t, x / t], axis=1)
    (latency, inv_bw), *_ = np.linalg.lstsq(design, np.ones_like(t), rcond=None)
    bandwidth = 1.0 / float(inv_bw)
    per_copy = sorted(
        (float(r["chunk"]), float(r[f"{direction}_ms"]) * 1e-3 / (float(r["bytes"]) / float(r["chunk"])))
        for r in chunked
    )
    large = [s - c / bandwidth for c, s in per_copy if c >= 1 << 20]
    overhead = max(min(large), 0.0) if large else float(latency)
    bound = [(c, s) for c, s in per_copy if c < 1 << 20 and s > overhead + c / bandwidth] or per_copy[:1]
    return LinkFit(
        latency_s=max(float(latency), 0.0),
        bandwidth_bps=bandwidth,
        stream_overhead_s=overhead,
        chunk_bytes=tuple(c for c, _ in bound),
        chunk_s=tuple(s for _, s in bound),
        python_issue_s=python_issue_s,
    )


def _fit_thread_exponent(rows: list[dict[str, Any]]) -> float:
    """Least-squares exponent a in slowdown(k) = k**a over every measured chunk size."""
    base = {float(r["chunk"]): float(r["gbps"]) for r in rows if int(r["threads"]) == 1}
    logs_k: list[float] = []
    logs_slow: list[float] = []
    for r in rows:
        k = int(r["threads"])
        chunk = float(r["chunk"])
        if k > 1 and chunk in base:
            logs_k.append(math.log(k))
            logs_slow.append(math.log(base[chunk] / float(r["gbps"])))
    if not logs_k:
        return 0.0
    lk = np.array(logs_k)
    return float(np.dot(lk, np.array(logs_slow)) / np.dot(lk, lk))
