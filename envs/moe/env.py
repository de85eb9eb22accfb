"""`sysgym/ExpertReroute-v0`: per-batch expert rerouting for expert-parallel MoE layers (LLEP)."""

from __future__ import annotations

from typing import Any, ClassVar

from sysgym.envs.core.backend import Backend
from sysgym.envs.core.frontend import SysEnv
from sysgym.envs.moe.config import ExpertRerouteConfig


class ExpertRerouteEnv(SysEnv[ExpertRerouteConfig]):
    """Decide, for every MoE layer and batch, which device computes which slice of each expert's tokens.

    ## Description
    A mixture-of-experts layer runs over P devices with N/P experts each (standard expert parallelism, EP).
    Routing is uneven, so the devices holding hot experts receive most tokens and set the layer's time, or
    run out of memory. Least-Loaded EP (Nguyen et al., arXiv 2601.17111) moves excess tokens, with a copy of
    the expert's weights, to the least-loaded devices. This env asks for that decision per batch on a model
    calibrated to H100 measurements: per-slice expert GEMM time from measured SwiGLU curves plus the ~57 us
    per-expert launch cost, all-to-all dispatch and combine over a documented link bandwidth, peer-to-peer
    weight copies, and per-device memory against capacity. Baselines: `ep`, `eplb`, `llep`, `oracle`.

    ## Action Space
    `action="knobs"` (default): `Discrete(294)` indexes the grid (lambda-major, then alpha, then m) of LLEP's
    gate lambda in (1.0, 1.1, 1.3, 1.6, 2.0, 3.0, inf), capacity factor alpha in (1.0, 1.05, 1.1, 1.2, 1.35,
    1.5) and minimum slice m in (128 ... 8192 tokens); lambda = inf is standard EP, (1.3, 1.0, 1024) the
    paper's LLEP (`sysgym.envs.moe.actions.knob_action` builds an index).
    `action="plan"`: `MultiDiscrete([plan_levels + 1] * (H * P))`, row h (H = `plan_experts`) giving integer
    weights over devices for the h-th hottest expert of the batch; its tokens are split in proportion (exact
    integer split). All-zero rows, and every expert beyond the H hottest, are placed by LLEP's rule with its
    defaults. Every plan computes every token exactly once.

    ## Observation Space
    `Box(0, 1, (3N + history*P + 2P + 2,), float32)`: this batch's per-expert load shares sorted hottest first;
    the native device of each of those experts / (P-1); each expert's exponentially averaged share (by expert
    id); the last `history` batches' per-device shares under EP; this batch's per-device share under EP; each
    device's free memory fraction after weights and resident replicas; the layer index and the episode's
    progress.

    ## Rewards
    `-(step_ms / bound) - oom_penalty * devices_out_of_memory`, where `bound` is the lower bound of the layer
    time for perfectly even routing (so a perfect balanced step scores about -1).

    ## Episode End
    Terminates after `batches` batches (times `layers` decisions). At the end `info["metrics"]` holds
    `mean_step_time_ms` (headline), `p99_step_time_ms`, `peak_memory_gib`, `weights_moved_gib`, `oom_count`
    and `mean_bound_ms` (mean lower bound of the step time, for optimality gaps); `info["samples"]` holds
    `step_time_ms`.

    ## Arguments
    See `ExpertRerouteConfig` (every field is a `gym.make` kwarg), plus `backend="model"|"live"`; `live`
    runs each device's expert slices as real SwiGLU GEMMs with torch and uses the measured compute times.

    ## Version History
    - v0: initial release.
    """

    config_cls: ClassVar[type] = ExpertRerouteConfig
    backends: ClassVar[tuple[str, ...]] = ("model", "live")

    def _make_backend(self, config: ExpertRerouteConfig, backend: str) -> Backend[Any, Any]:
        if backend == "live":
            from sysgym.runtime.moe.live import LiveBackend

            return LiveBackend(config)
        from sysgym.envs.moe.backend import ModelBackend

        return ModelBackend(config)

    def _reward(self, signals: dict[str, float]) -> float:
        scale: float = self._backend.scale_ms
        return -signals["step_ms"] / scale - self.config.oom_penalty * signals["oom_devices"]
