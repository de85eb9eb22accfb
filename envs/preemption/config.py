"""Typed configuration of `sysgym/Preemption-v0`, and the built-in workload names."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sysgym.envs.core.config import require
from sysgym.envs.core.errors import UnknownNameError
from sysgym.envs.serving.lengths import DISTRIBUTIONS
from sysgym.envs.serving.models import MODELS

WORKLOADS = ("multiturn", "multiturn-heavy")
"""`multiturn`: conversations spread evenly over the users; `multiturn-heavy`: user 0 owns half of them."""

MECHANISM_NAMES = ("vllm", "vllm-recompute", "groups", "groups-async", "fastswitch")
FEATURES = 12
ENGINE_FEATURES = 6


@dataclass(frozen=True)
class PreemptionConfig:
    """Settings of one preemption env.

    Attributes:
        workload: `multiturn`, `multiturn-heavy`, or a trace CSV (`arrival_s,prompt_tokens,output_tokens,user,
            conversation,turn`; a turn arriving before its previous turn finished waits for it).
        model: served model (`llama3-8b`, `llama3-70b`).
        mechanism: switching mechanism: `vllm`, `vllm-recompute`, `groups`, `groups-async`, `fastswitch`.
        dataset: per-turn length law of the serving core (`sharegpt`, `longbench`, `mix-95-5`).
        rate: mean turn arrival rate, requests per second.
        conversations: conversations per episode.
        users: users the conversations belong to.
        think_s: mean think time between an answer and the next prompt of a conversation, seconds.
        mean_turns: mean turns per conversation (FastSwitch's trace: 5.5).
        priority_pattern: `random` or `markov`.
        priority_levels: number of priority levels.
        update_freq: per-iteration probability of a priority update (the paper: 0.02-0.04).
        gpu_mem_gib: GPU memory per GPU (24 = the paper's A10, so KV is as scarce as in its runs).
        mem_util: fraction of GPU memory the server uses.
        host_swap_gib: host memory for swapped KV (the paper: 60 GB).
        block_tokens: tokens per KV block.
        max_batch: most sequences in a batch.
        token_budget: most tokens per iteration (chunked prefill).
        candidates: candidate slots the agent scores each decision.
        decide_every: least iterations between decisions (1: every contended plan after a change).
        choose_recompute: the action also picks swap or recompute per preempted candidate.
        ttft_slo_s: TTFT objective used by the reward, seconds.
        tbt_slo_s: TBT objective used by the reward, seconds.
        reward_tokens: reward weight of generated tokens (per 100 tokens).
        reward_ttft: penalty weight per TTFT above its SLO (in SLO units).
        reward_tbt: penalty weight per token gap above the TBT SLO (in SLO units).
        reward_fairness: penalty weight of the spread of active users' VTC counters.
        fairness_window_s: window of the `fairness_jain` metric, seconds.
        max_sim_s: simulated seconds after which the episode is truncated.
        calibration: calibration file (None: the packaged H100 data).
    """

    workload: str = "multiturn"
    model: str = "llama3-8b"
    mechanism: str = "fastswitch"
    dataset: str = "sharegpt"
    rate: float = 3.5
    conversations: int = 200
    users: int = 8
    think_s: float = 5.0
    mean_turns: float = 5.5
    priority_pattern: str = "random"
    priority_levels: int = 8
    update_freq: float = 0.04
    gpu_mem_gib: float = 24.0
    mem_util: float = 0.9
    host_swap_gib: float = 60.0
    block_tokens: int = 16
    max_batch: int = 256
    token_budget: int = 2048
    candidates: int = 32
    decide_every: int = 1
    choose_recompute: bool = False
    ttft_slo_s: float = 1.0
    tbt_slo_s: float = 0.1
    reward_tokens: float = 1.0
    reward_ttft: float = 1.0
    reward_tbt: float = 0.1
    reward_fairness: float = 0.1
    fairness_window_s: float = 10.0
    max_sim_s: float = 36_000.0
    calibration: str | None = None

    def __post_init__(self) -> None:
        if self.workload not in WORKLOADS and not Path(self.workload).is_file():
            raise UnknownNameError("workload (or trace file)", self.workload, WORKLOADS)
        if self.model not in MODELS:
            raise UnknownNameError("model", self.model, list(MODELS))
        if self.mechanism not in MECHANISM_NAMES:
            raise UnknownNameError("switching mechanism", self.mechanism, MECHANISM_NAMES)
        if self.dataset not in DISTRIBUTIONS:
            raise UnknownNameError("length distribution", self.dataset, list(DISTRIBUTIONS))
        require(self.rate > 0, f"rate must be > 0, got {self.rate}")
        require(self.conversations >= 1, f"conversations must be >= 1, got {self.conversations}")
        require(self.users >= 1, f"users must be >= 1, got {self.users}")
        require(self.think_s >= 0, f"think_s must be >= 0, got {self.think_s}")
        require(self.mean_turns >= 1, f"mean_turns must be >= 1, got {self.mean_turns}")
        require(
            self.priority_pattern in ("random", "markov"),
            f"priority_pattern must be random or markov, got {self.priority_pattern!r}",
        )
        require(self.priority_levels >= 2, f"priority_levels must be >= 2, got {self.priority_levels}")
        require(0 <= self.update_freq <= 1, f"update_freq must be in [0, 1], got {self.update_freq}")
        require(self.gpu_mem_gib > 0, f"gpu_mem_gib must be > 0, got {self.gpu_mem_gib}")
        require(0 < self.mem_util <= 1, f"mem_util must be in (0, 1], got {self.mem_util}")
        require(self.host_swap_gib >= 0, f"host_swap_gib must be >= 0, got {self.host_swap_gib}")
        require(self.block_tokens in (8, 16, 32), f"block_tokens must be 8, 16 or 32, got {self.block_tokens}")
        require(self.max_batch >= 1, f"max_batch must be >= 1, got {self.max_batch}")
        require(self.token_budget >= 64, f"token_budget must be >= 64, got {self.token_budget}")
        require(1 <= self.candidates <= 256, f"candidates must be in [1, 256], got {self.candidates}")
        require(self.decide_every >= 0, f"decide_every must be >= 0, got {self.decide_every}")
        require(self.ttft_slo_s > 0 and self.tbt_slo_s > 0, "ttft_slo_s and tbt_slo_s must be > 0")
        require(self.fairness_window_s > 0, f"fairness_window_s must be > 0, got {self.fairness_window_s}")
        require(self.max_sim_s > 0, f"max_sim_s must be > 0, got {self.max_sim_s}")

    @property
    def is_trace(self) -> bool:
        """The workload names a trace file rather than a built-in generator."""
        return self.workload not in WORKLOADS
