"""Live backend of `sysgym/SMPartition-v0`: the simulator forms the batches, a GPU runs them.

Each iteration the engine asks for is executed on a stack of Llama-shaped layers with random bf16 weights
(`live_layers` of them, so a run is short) on the worker's SM partition: a CUDA green context of that many SMs,
re-created (and cached) when the split changes. The CUDA-event time, scaled from `live_layers` to the model's
layer count, replaces the modelled iteration time; TTFT and TPOT follow from it. The two workers' iterations are
timed one at a time, so their co-running slowdown still comes from the measured `sm_partition.corun` rates.
The backend keeps (modelled, measured) pairs per iteration for the fidelity check (`live_model_error`).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from sysgym.envs.serving.engine import Engine
from sysgym.envs.serving.perf import PerfModel
from sysgym.envs.serving.system import build_engine
from sysgym.envs.sm_partition.backend import ModelBackend
from sysgym.envs.sm_partition.config import SMPartitionConfig
from sysgym.runtime.gpu.device import require_cuda
from sysgym.runtime.gpu.green import GreenPartitions
from sysgym.runtime.gpu.layers import LayerStack
from sysgym.runtime.gpu.timing import time_ms

LIVE_LAYERS = int(os.environ.get("SYSGYM_LIVE_LAYERS", "4"))


class LivePerf:
    """The `PerfModel` interface answered by timing each batch on the GPU."""

    def __init__(self, torch: Any, model: PerfModel, layers: int) -> None:
        self.torch = torch
        self.model = model
        self.total_sms = model.total_sms
        self.switch_s = model.switch_s
        spec = model.model
        self.scale = spec.layers / layers
        self.stack = LayerStack(torch, spec, layers)
        self.partitions = GreenPartitions(torch, model.total_sms)
        self.pairs: list[tuple[str, float, float]] = []

    def _timed(self, kind: str, sms: int, modelled: float, fn: Any) -> float:
        measured = time_ms(self.torch, fn, reps=3, warmup=1, stream=self.partitions.stream(sms)) / 1e3 * self.scale
        self.pairs.append((kind, modelled, measured))
        return measured

    def prefill_s(self, sms: int, tokens: int, e2: float) -> float:
        """Measured prefill iteration."""
        return self._timed("prefill", sms, self.model.prefill_s(sms, tokens, e2), lambda: self.stack.prefill(tokens))

    def decode_s(self, sms: int, batch: int, kv_tokens: int) -> float:
        """Measured decode iteration."""
        modelled = self.model.decode_s(sms, batch, kv_tokens)
        return self._timed("decode", sms, modelled, lambda: self.stack.decode(batch, kv_tokens))

    def mixed_s(self, sms: int, tokens: int, e2: float, batch: int, kv_tokens: int) -> float:
        """Measured chunked iteration (prefill chunk then the decode step, back to back)."""
        modelled = self.model.mixed_s(sms, tokens, e2, batch, kv_tokens)

        def both() -> None:
            self.stack.prefill(tokens)
            self.stack.decode(batch, kv_tokens)

        return self._timed("mixed", sms, modelled, both)

    def decode_terms(self, sms: int, batch: int) -> tuple[float, float]:
        """The model's decode terms (the engine's inline loop is off for live runs, so this is never timed)."""
        return self.model.decode_terms(sms, batch)

    def corun_rates(self, prefill_sms: int, oversubscribed: bool) -> tuple[float, float]:
        """Co-running rates from the calibration (iterations are timed one at a time)."""
        return self.model.corun_rates(prefill_sms, oversubscribed)

    def error(self) -> float:
        """Median relative difference between measured and modelled iteration times."""
        if not self.pairs:
            return 0.0
        return float(np.median([abs(m - p) / p for _, p, m in self.pairs]))


class LiveBackend(ModelBackend):
    """semi-PD on a real GPU: same spaces, observations and `system` view as the model backend."""

    def __init__(self, config: SMPartitionConfig) -> None:
        self.torch = require_cuda(green_contexts=True)
        super().__init__(config)
        self.live: LivePerf | None = None

    def _build(self) -> Engine:
        engine = build_engine(self.serving)
        if self.live is None:
            self.live = LivePerf(self.torch, self.perf, LIVE_LAYERS)
        engine.perf = self.live
        engine.inline = False
        return engine

    def metrics(self) -> dict[str, float]:
        """Model-backend metrics plus the measured-vs-modelled iteration error."""
        out = super().metrics()
        out["live_model_error"] = self.live.error() if self.live is not None else 0.0
        return out

    def close(self) -> None:
        """Release the green contexts and the layer weights."""
        if self.live is not None:
            self.live.partitions.close()
            self.live = None
            self.torch.cuda.empty_cache()
