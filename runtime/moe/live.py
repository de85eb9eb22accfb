"""Live backend of ExpertReroute: each simulated device's expert slices run as real SwiGLU GEMMs with torch.

One accelerator stands in for all P devices, device by device: for every (expert, device) slice of the plan, the
slice's tokens go through that expert's SwiGLU FFN `(silu(x Wg) * (x Wu)) Wd` with random weights, in an eager
loop as LLEP's implementation does, and the device's wall time (CUDA events on a GPU, the clock on a CPU)
replaces the modelled compute time. Communication (all-to-all, weight copies) stays modelled: one GPU cannot
measure NVLink.

On a CUDA GPU the shapes are the model's own in bf16, so the measured times are directly comparable with the
calibrated model. On a CPU (CI) hidden and intermediate sizes are divided by `live_scale` (16 by default:
gpt-oss-120b's 2880 becomes 180) and float32 is used, so an episode stays short; those times are real but of a
smaller layer, and the model's numbers are not expected to match them.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from sysgym.envs.core.errors import BackendUnavailableError
from sysgym.envs.moe.backend import ModelBackend
from sysgym.envs.moe.config import ExpertRerouteConfig
from sysgym.envs.moe.plan import Plan


class LiveBackend(ModelBackend):
    """The model backend with measured expert compute."""

    def __init__(self, config: ExpertRerouteConfig) -> None:
        super().__init__(config)
        try:
            import torch
        except ImportError as exc:  # pragma: no cover - torch is a dependency
            raise BackendUnavailableError("the live MoE backend needs torch") from exc
        self._torch = torch
        cuda = torch.cuda.is_available()
        self.device = torch.device("cuda" if cuda else "cpu")
        self.dtype = torch.bfloat16 if cuda else torch.float32
        scale = 1 if cuda else config.live_scale
        self.hidden = max(1, self.model.hidden // scale)
        self.inter = max(1, self.model.inter // scale)
        generator = torch.Generator(device="cpu").manual_seed(0)
        n = self.model.experts
        std = self.hidden**-0.5
        self._gate = self._random((n, self.hidden, self.inter), std, generator)
        self._up = self._random((n, self.hidden, self.inter), std, generator)
        self._down = self._random((n, self.inter, self.hidden), self.inter**-0.5, generator)
        self._tokens = self._random((1, self.hidden), 1.0, generator)
        self._capacity = 0
        self.last_live_ms = np.zeros(self.devices)
        self.last_model_ms = np.zeros(self.devices)
        self._warm_up()

    def _random(self, shape: tuple[int, ...], std: float, generator: Any) -> Any:
        torch = self._torch
        return (torch.randn(shape, generator=generator) * std).to(device=self.device, dtype=self.dtype)

    def _inputs(self, tokens: int) -> Any:
        """A token buffer of at least `tokens` rows (grown, never shrunk, so steps do not allocate)."""
        if tokens > self._capacity:
            torch = self._torch
            self._capacity = max(tokens, 2 * self._capacity)
            self._tokens = torch.randn((self._capacity, self.hidden), device=self.device).to(self.dtype)
        return self._tokens[:tokens]

    def _swiglu(self, expert: int, tokens: int) -> Any:
        x = self._inputs(tokens)
        torch = self._torch
        return (torch.nn.functional.silu(x @ self._gate[expert]) * (x @ self._up[expert])) @ self._down[expert]

    def _warm_up(self) -> None:
        for tokens in (1, 256, 4096):
            self._swiglu(0, tokens)
        self._sync()

    def _sync(self) -> None:
        if self.device.type == "cuda":
            self._torch.cuda.synchronize()

    def measured_compute_ms(self, plan: Plan) -> np.ndarray:
        """Run every device's slices for real and time each device; keeps the model's numbers for comparison."""
        torch = self._torch
        matrix = plan.matrix(self.devices)
        live = np.zeros(self.devices)
        with torch.inference_mode():
            for d in range(self.devices):
                slices = [(int(e), int(matrix[e, d])) for e in np.flatnonzero(matrix[:, d])]
                if self.device.type == "cuda":
                    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    self._sync()
                    start.record()
                    for e, b in slices:
                        self._swiglu(e, b)
                    end.record()
                    end.synchronize()
                    live[d] = start.elapsed_time(end)
                else:
                    began = time.perf_counter()
                    for e, b in slices:
                        self._swiglu(e, b)
                    live[d] = (time.perf_counter() - began) * 1e3
        self.last_live_ms = live
        self.last_model_ms = self.layer_model.cost(plan, np.ones(plan.spills, dtype=bool), self._held).compute_ms
        return live

    def price(self, plan: Plan, copies: np.ndarray | None, compute_ms: np.ndarray | None = None) -> Any:
        """Price with measured compute when given, else the model (the oracle's what-if queries stay modelled)."""
        if copies is None:
            copies = np.ones(plan.spills, dtype=bool)
        return self.layer_model.cost(plan, copies, self._held, compute_ms)

    def close(self) -> None:
        """Drop the weights and release cached GPU memory."""
        for name in ("_gate", "_up", "_down", "_tokens"):
            if hasattr(self, name):
                delattr(self, name)
        if self.device.type == "cuda":
            self._torch.cuda.empty_cache()
