"""Typed configuration of `sysgym/SMPartition-v0`."""

from __future__ import annotations

from dataclasses import dataclass

from sysgym.envs.core.config import require
from sysgym.envs.serving.models import SLO_NAMES, model_spec
from sysgym.envs.serving.system import SYSTEMS
from sysgym.envs.serving.workload import ARRIVALS

PARTITION_STEP = 8
SCALED_SLOS = {"scaled-tight": 7.5, "scaled-loose": 10.0}
REWARDS = ("attainment", "goodput")


@dataclass(frozen=True)
class SMPartitionConfig:
    """Settings of one SM-partitioning episode.

    Attributes:
        workload: a length distribution (`sharegpt`, `longbench`, `mix-95-5`) or a trace CSV path.
        system: `semi-pd` (the agent splits SMs) or a baseline deployment whose split is fixed:
            `vllm-prefill-priority`, `vllm-chunked`, `distserve-1p1d` (the action mask then allows one action).
        model: `llama3-8b` or `llama3-70b` (TP4).
        rate: mean arrival rate of the whole deployment, requests per second (ignored for traces).
        requests: requests in the episode (ignored for traces).
        arrival: `poisson` or `gamma`.
        cv: coefficient of variation of Gamma inter-arrival gaps.
        slo: semi-PD's SLO table entry (`sharegpt-tight`, `sharegpt-loose`, `longbench-tight`, `longbench-loose`;
            A100 values), or the paper's rule applied to the modelled GPU: `scaled-tight` / `scaled-loose` are 7.5x /
            10x the TTFT and TPOT of a single request of the workload's mean prompt length.
        window_iters: decision window in decode iterations (used when `window_ms` is 0).
        window_ms: decision window in simulated milliseconds (0: use `window_iters`).
        initial_action: the split in force at reset (an action index; -1 for oversubscribed (100, 100)).
        switch_ms: cost of a re-partition in ms (-1: the measured green-context creation time).
        reward: `attainment` (share of the window's finished requests within both SLOs) or `goodput`
            (their count per second, divided by `rate`).
        calibration: calibration file from `sysgym calibrate` (None: the packaged H100 measurements).
        max_batch: most sequences in a decode batch.
        token_budget: tokens per iteration (0: the system's default).
        gpu_mem_gib: memory per GPU (None: the calibrated device's).
        max_sim_s: simulated seconds after which the episode is truncated.
    """

    workload: str = "sharegpt"
    system: str = "semi-pd"
    model: str = "llama3-8b"
    rate: float = 40.0
    requests: int = 2000
    arrival: str = "poisson"
    cv: float = 1.0
    slo: str = "sharegpt-tight"
    window_iters: int = 100
    window_ms: float = 0.0
    initial_action: int = -1
    switch_ms: float = -1.0
    reward: str = "attainment"
    calibration: str | None = None
    max_batch: int = 512
    token_budget: int = 0
    gpu_mem_gib: float | None = None
    max_sim_s: float = 3600.0

    def __post_init__(self) -> None:
        require(self.system in SYSTEMS, f"system must be one of {SYSTEMS}, got {self.system!r}")
        model_spec(self.model)
        require(self.rate > 0, f"rate must be > 0, got {self.rate}")
        require(1 <= self.requests <= 1_000_000, f"requests must be in [1, 1e6], got {self.requests}")
        require(self.arrival in ARRIVALS, f"arrival must be one of {ARRIVALS}, got {self.arrival!r}")
        require(self.cv > 0, f"cv must be > 0, got {self.cv}")
        known = (*SLO_NAMES, *SCALED_SLOS)
        require(self.slo in known, f"slo must be one of {known}, got {self.slo!r}")
        require(self.window_iters >= 1, f"window_iters must be >= 1, got {self.window_iters}")
        require(self.window_ms >= 0, f"window_ms must be >= 0, got {self.window_ms}")
        require(self.switch_ms == -1.0 or self.switch_ms >= 0, "switch_ms must be >= 0 or -1 (measured)")
        require(self.reward in REWARDS, f"reward must be one of {REWARDS}, got {self.reward!r}")
        require(self.max_batch >= 1, f"max_batch must be >= 1, got {self.max_batch}")
        require(self.token_budget >= 0, f"token_budget must be >= 0, got {self.token_budget}")
        require(self.max_sim_s > 0, f"max_sim_s must be > 0, got {self.max_sim_s}")
