"""Typed configuration of `sysgym/ExpertReroute-v0`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sysgym.envs.core.config import require
from sysgym.envs.moe.models import MODELS, model_config


@dataclass(frozen=True)
class ExpertRerouteConfig:
    """Settings of one expert-rerouting env (all have defaults; pass any as a `gym.make` kwarg).

    Attributes:
        workload: routing scenario name (`balanced`, `hot{1,4,16}-{30,50,80,95}`, `drift`) or a trace path.
        model: MoE layer shape by name (`gpt-oss-120b`, `deepseek-v3`, `kimi-k2`, `mixtral-8x7b`).
        devices: expert-parallel degree P; must divide the model's expert count.
        tokens_per_device: tokens in each device's batch (each routed to top-K experts); 0 uses the model's
            layer-benchmark size (32K for gpt-oss-120b, 16K otherwise).
        layers: MoE layers in the stack; each batch is one decision per layer, each layer routes on its own.
        batches: batches per episode.
        action: `knobs` (choose LLEP's lambda, alpha, m per decision) or `plan` (split the hottest experts).
        plan_experts: rows H of a `plan` action (the H hottest experts of the batch); 0 means all experts.
        plan_levels: split weights of a `plan` row range over 0..plan_levels.
        plan_rest: how a `plan` action places the experts it does not list: `llep` (LLEP's rule with its
            defaults, the default) or `native` (they stay on their native device, for explicit placers).
        history: past batches of per-device load shares in the observation.
        replica_slots: received expert weights each device may keep resident between batches (LRU); 0 frees
            every copy after its layer, as LLEP does.
        memory_gib: device memory.
        reserved_gib: memory taken by everything but this layer (other weights, KV cache, framework).
        link_gbps: per-direction bandwidth of each device's link (NVLink 4: 450).
        collective_ms: fixed latency of one all-to-all.
        oom_penalty: reward lost per device that runs out of memory in a step, in units of the balanced
            step-time bound.
        hot_placement: `worst` puts hot experts at ids 0..H-1 (device 0, the paper's case) or `random`.
        calibration: a calibration JSON from `sysgym calibrate`; empty for the packaged H100 data.
        live_scale: the CPU live backend divides hidden and intermediate sizes by this (a GPU uses 1).
    """

    workload: str = "drift"
    model: str = "gpt-oss-120b"
    devices: int = 8
    tokens_per_device: int = 0
    layers: int = 1
    batches: int = 32
    action: Literal["knobs", "plan"] = "knobs"
    plan_experts: int = 8
    plan_levels: int = 32
    plan_rest: Literal["llep", "native"] = "llep"
    history: int = 4
    replica_slots: int = 0
    memory_gib: float = 80.0
    reserved_gib: float = 0.0
    link_gbps: float = 450.0
    collective_ms: float = 0.02
    oom_penalty: float = 10.0
    hot_placement: Literal["worst", "random"] = "worst"
    calibration: str = ""
    live_scale: int = 16

    def __post_init__(self) -> None:
        require(self.model in MODELS, f"model must be one of {sorted(MODELS)}, got {self.model!r}")
        experts = model_config(self.model).experts
        require(2 <= self.devices <= experts, f"devices must be in [2, {experts}], got {self.devices}")
        require(experts % self.devices == 0, f"devices ({self.devices}) must divide {self.model}'s {experts} experts")
        require(
            0 <= self.tokens_per_device <= 1 << 20,
            f"tokens_per_device must be in [0, 2^20], got {self.tokens_per_device}",
        )
        require(1 <= self.layers <= 128, f"layers must be in [1, 128], got {self.layers}")
        require(1 <= self.batches <= 1_000_000, f"batches must be in [1, 1e6], got {self.batches}")
        require(0 <= self.plan_experts <= experts, f"plan_experts must be in [0, {experts}], got {self.plan_experts}")
        require(1 <= self.plan_levels <= 64, f"plan_levels must be in [1, 64], got {self.plan_levels}")
        require(1 <= self.history <= 64, f"history must be in [1, 64], got {self.history}")
        require(
            0 <= self.replica_slots <= experts, f"replica_slots must be in [0, {experts}], got {self.replica_slots}"
        )
        require(self.memory_gib > 0, f"memory_gib must be > 0, got {self.memory_gib}")
        require(
            0 <= self.reserved_gib < self.memory_gib,
            f"reserved_gib must be in [0, memory_gib), got {self.reserved_gib}",
        )
        require(self.link_gbps > 0, f"link_gbps must be > 0, got {self.link_gbps}")
        require(self.collective_ms >= 0, f"collective_ms must be >= 0, got {self.collective_ms}")
        require(self.oom_penalty >= 0, f"oom_penalty must be >= 0, got {self.oom_penalty}")
        require(1 <= self.live_scale <= 256, f"live_scale must be in [1, 256], got {self.live_scale}")

    @property
    def rows(self) -> int:
        """Rows H of a plan action."""
        return self.plan_experts or model_config(self.model).experts
