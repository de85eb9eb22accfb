"""`sysgym/SMPartition-v0`: split a GPU's SMs between LLM prefill and decode (semi-PD)."""

from __future__ import annotations

from typing import Any, ClassVar

from sysgym.envs.core.backend import Backend
from sysgym.envs.core.frontend import SysEnv
from sysgym.envs.sm_partition.config import SMPartitionConfig


class SMPartitionEnv(SysEnv[SMPartitionConfig]):
    """Choose the prefill worker's share of the GPU's SMs every window, as semi-PD's controller does.

    ## Description
    semi-PD (Hong et al., 2025) serves an LLM on one GPU with a prefill worker and a decode worker that share the
    weights and one paged KV pool but run on separate SM partitions (CUDA green contexts here). Requests arrive
    (Poisson/Gamma with ShareGPT-like, LongBench-like or mixed lengths, or a trace); the prefill worker runs
    chunked prefill FCFS, the decode worker a capped FCFS batch. Iteration times come from a performance model
    fitted to measured H100 data (layer grid on 16-132 SMs, co-running slowdowns of the two partitions). A
    re-partition takes effect after the measured green-context creation time (about 1.9 ms). With
    `system=vllm-*` or `distserve-1p1d` the same workload runs on a baseline deployment (split fixed).

    ## Action Space
    `Discrete(17)` on a 132-SM H100: action i < 16 gives the prefill worker 8(i+1) SMs and the decode worker the
    rest; action 16 lets both use every SM (semi-PD's oversubscribed (100, 100)). Baseline deployments mask
    every action but 16.

    ## Observation Space
    `Box(0, 1, (14,), float32)`: p90 and p50 TTFT and TPOT of the last window divided by their SLOs (capped at 4,
    scaled by 1/4); the window's SLO attainment; prefill queue q/(q+32); decode batch / max_batch; smoothed
    arrival rate / (2 rate); KV usage; prefill and decode SM shares; oversubscribed flag; prefill and decode
    busy fractions in the window.

    ## Rewards
    `attainment` (default): the fraction of requests finished in the window that met both TTFT and TPOT SLOs (0
    when none finished). `goodput`: those requests per second divided by the configured rate.

    ## Episode End
    Terminated when every request finished; truncated after `max_sim_s` simulated seconds. `info["metrics"]`:
    `slo_attainment` (headline), `goodput_rps`, `p90_ttft_s`, `p90_tpot_s`, `mean_latency_s`, `simulated_s`,
    `rate_per_gpu`, `switches`, `preemptions`, `kv_peak`. `info["samples"]`: `ttft_s`, `tpot_s`.

    ## Arguments
    See `SMPartitionConfig` (`rate`, `requests`, `workload`, `system`, `model`, `slo`, `window_iters` or
    `window_ms`, `switch_ms`, `reward`, `calibration`, ...). `backend="live"` runs the batches on a GPU
    (`sysgym.runtime.sm_partition.live`).

    ## Version History
    - v0: initial release.
    """

    config_cls = SMPartitionConfig
    backends: ClassVar[tuple[str, ...]] = ("model", "live")

    def _make_backend(self, config: SMPartitionConfig, backend: str) -> Backend[Any, Any]:
        if backend == "live":
            from sysgym.runtime.sm_partition.live import LiveBackend

            return LiveBackend(config)
        from sysgym.envs.sm_partition.backend import ModelBackend

        return ModelBackend(config)

    def _reward(self, signals: dict[str, float]) -> float:
        return float(signals[self.config.reward])
