"""Live backend of `sysgym/Preemption-v0`: the same engine and scheduler, with real KV copies and real attention.

Every preemption moves the request's real KV blocks between a paged bf16 pool on the GPU (Llama-3-8B shaped:
32 layers x K and V x 8 heads x 128) and pinned host memory, with the copy path of the mechanism (`block`
copies from Python for vLLM; block groups on a side stream for FastSwitch; gather then one copy for `gather`),
and the engine uses the measured copy time. Decode iterations run real attention (`scaled_dot_product_attention`
with grouped-query heads) over the running requests' KV gathered from their block tables, on every layer; the
measured attention time replaces the model's KV term, and the GEMM part (weights, per-sequence work) keeps the
fitted model's value. Without a CUDA device the backend refuses to start.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from sysgym.envs.core.errors import BackendUnavailableError
from sysgym.envs.preemption.backend import PreemptionModelBackend
from sysgym.envs.preemption.config import PreemptionConfig
from sysgym.envs.preemption.scheduler import SwapPath
from sysgym.envs.serving.engine import Engine
from sysgym.envs.serving.request import Request


def require_cuda() -> Any:
    """The torch module, once a CUDA device is known to be present."""
    try:
        import torch
    except ImportError as exc:
        raise BackendUnavailableError("backend='live' needs PyTorch with CUDA; torch is not installed") from exc
    if not torch.cuda.is_available():
        raise BackendUnavailableError(
            "backend='live' needs a CUDA GPU (it moves real KV blocks and runs real attention); "
            "torch.cuda.is_available() is False on this machine - use backend='model'"
        )
    return torch


class LiveKV:
    """Block tables over a `PagedKV` pool: device blocks per request, host blocks per conversation.

    The host copy is the conversation's, so FastSwitch's reuse carries it across turns.
    """

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.gpu: dict[int, list[int]] = {}
        self.host: dict[int, list[int]] = {}
        self.seed = 0

    def ensure(self, req: Request, blocks: int) -> list[int]:
        """The request's device blocks, allocated (and filled) up to `blocks`."""
        table = self.gpu.setdefault(req.rid, [])
        if len(table) < blocks:
            extra = self.pool.gpu_alloc.allocate(blocks - len(table))
            self.seed += 1
            self.pool.fill(extra, self.seed)
            table.extend(extra)
        return table

    def release_gpu(self, req: Request) -> None:
        """Free a request's device blocks."""
        self.pool.gpu_alloc.release(self.gpu.pop(req.rid, []))

    def release_host(self, conversation: int) -> None:
        """Free a conversation's host copy."""
        self.pool.host_alloc.release(self.host.pop(conversation, []))

    def clear(self) -> None:
        """Free everything (new episode)."""
        for rid in list(self.gpu):
            self.pool.gpu_alloc.release(self.gpu.pop(rid))
        for conv in list(self.host):
            self.pool.host_alloc.release(self.host.pop(conv))


class LiveSwapPath(SwapPath):
    """Performs the copy the mechanism implies on the request the scheduler names, returns its measured time."""

    discount: int

    def __init__(self, base: SwapPath, kv: LiveKV) -> None:
        super().__init__(base.model, base.geometry, base.mechanism)
        self.kv = kv

    def drop_host(self, conversation: int) -> None:
        """Free the conversation's pinned host blocks."""
        self.kv.release_host(conversation)

    def forget(self, request: Request) -> None:
        """Free the device blocks of a request preempted for recomputation."""
        self.kv.release_gpu(request)

    def __call__(self, req: Request, blocks: int, block_bytes: int, direction: str) -> float:
        """Move `blocks` of `req` (less the reuse discount when swapping out); measured seconds."""
        kv = self.kv
        layout = self.mechanism.layout
        host = kv.host.setdefault(req.conversation, [])
        if direction == "out":
            table = kv.ensure(req, blocks)
            keep = min(self.discount, len(host))
            moved = max(blocks - keep, 0)
            if len(host) < blocks:
                host.extend(kv.pool.host_alloc.allocate(blocks - len(host)))
            seconds = kv.pool.swap(table[keep:blocks], host[keep:blocks], "out", layout) if moved else 0.0
            kv.release_gpu(req)
        else:
            moved = min(blocks, len(host))
            table = kv.ensure(req, moved)
            seconds = kv.pool.swap(host[:moved], table[:moved], "in", layout) if moved else 0.0
            if not self.mechanism.reuse:
                kv.release_host(req.conversation)
        self.discount = 0
        self.bytes += moved * block_bytes
        self.seconds += seconds
        return seconds


class LiveAttentionPerf:
    """The fitted model for GEMMs, with decode attention measured on the running requests' real KV."""

    def __init__(self, perf: Any, engine: Engine, kv: LiveKV, torch: Any) -> None:
        self.perf = perf
        self.engine = engine
        self.kv = kv
        self.torch = torch
        self.measured: list[tuple[int, int, float, float]] = []

    def _attention_s(self, sms: int, kv_tokens: int) -> float:
        torch = self.torch
        worker = self.engine.workers[0]
        members = list(worker.members.values())
        if not members:
            return 0.0
        pool = self.kv.pool
        shape = pool.shape
        lengths = [min(r.prompt + r.join_generated + worker.it - r.join_iter, 8192) for r in members]
        tables = [self.kv.ensure(r, math.ceil(n / shape.block_tokens)) for r, n in zip(members, lengths, strict=True)]
        longest = max(len(t) for t in tables)
        index = torch.tensor([t + [t[-1]] * (longest - len(t)) for t in tables], device=pool.device)
        q = torch.randn((len(members), shape.kv_heads * 4, 1, shape.head_dim), dtype=torch.bfloat16, device=pool.device)
        start = torch.cuda.Event(enable_timing=True)
        stop = torch.cuda.Event(enable_timing=True)
        start.record()
        for k_cache, v_cache in pool.gpu:
            k = k_cache[index].flatten(1, 2).transpose(1, 2)
            v = v_cache[index].flatten(1, 2).transpose(1, 2)
            torch.nn.functional.scaled_dot_product_attention(q, k, v, enable_gqa=True)
        stop.record()
        stop.synchronize()
        seconds = float(start.elapsed_time(stop)) / 1e3
        modelled = float(self.perf.decode_s(sms, len(members), kv_tokens) - self.perf.decode_s(sms, len(members), 0))
        self.measured.append((len(members), kv_tokens, seconds, modelled))
        return seconds

    def decode_s(self, sms: int, batch: int, kv_tokens: int) -> float:
        """Modelled GEMM part plus measured attention."""
        return float(self.perf.decode_s(sms, batch, 0)) + self._attention_s(sms, kv_tokens)

    def mixed_s(self, sms: int, tokens: int, e2: float, batch: int, kv_tokens: int) -> float:
        """Modelled prefill and GEMM part plus measured decode attention."""
        return float(self.perf.mixed_s(sms, tokens, e2, batch, 0)) + self._attention_s(sms, kv_tokens)

    def __getattr__(self, name: str) -> Any:
        if name == "perf" or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.perf, name)


class PreemptionLiveBackend(PreemptionModelBackend):
    """`backend="live"`: same spaces, observations and `system` view as the model backend; GPU-measured times."""

    def __init__(self, config: PreemptionConfig) -> None:
        torch = require_cuda()
        from sysgym.runtime.preemption.kvpool import PagedKV, PoolShape

        super().__init__(config)
        worker = self.engine.workers[0]
        geometry = self.swap_path.geometry
        shape = PoolShape(
            geometry.layers,
            geometry.kv_heads,
            geometry.head_dim,
            geometry.block_tokens,
            worker.pool.capacity + 1024,
            min(worker.pool.host_capacity, 4 * worker.pool.capacity),
        )
        self.kv = LiveKV(PagedKV(shape, "cuda"))
        live = LiveSwapPath(self.swap_path, self.kv)
        self.scheduler.swap = live
        self.engine.swap_cost = live
        self.perf = LiveAttentionPerf(self.engine.perf, self.engine, self.kv, torch)
        self.engine.perf = self.perf
        self.scheduler.every_iteration = True

    def reset(self, rng: np.random.Generator, options: dict[str, Any]) -> None:
        """Free every block, then start the episode as the model backend does."""
        self.kv.clear()
        super().reset(rng, options)

    def _finished(self, request: Request) -> None:
        super()._finished(request)
        self.kv.release_gpu(request)

    def metrics(self) -> dict[str, float]:
        """Model-backend metrics plus the measured share of the timing."""
        out = super().metrics()
        out["measured_swap_s"] = self.swap_path.seconds
        out["measured_decodes"] = float(len(self.perf.measured))
        return out
