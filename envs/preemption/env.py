"""`sysgym/Preemption-v0`: who runs and who is preempted in fairness-aware LLM serving (FastSwitch)."""

from __future__ import annotations

from typing import Any

from sysgym.envs.core.backend import Backend
from sysgym.envs.core.frontend import SysEnv
from sysgym.envs.preemption.config import PreemptionConfig


class PreemptionEnv(SysEnv[PreemptionConfig]):
    """Preemption priority in multi-user, multi-turn LLM serving with KV swapping.

    ## Description
    One GPU serves many users' multi-turn conversations (a multi-round ShareGPT-like workload, about 5.5 turns per
    conversation, Poisson conversation arrivals) on the shared serving core (continuous batching, chunked prefill,
    paged KV, iteration times fitted to measured H100 data). Whenever more requests want GPU KV than fits, the
    agent ranks a bounded window of candidate requests; the engine runs the highest-ranked ones that fit and
    preempts the rest, paying the context-switch cost of the switching mechanism (`mechanism`): vLLM's
    block-granular synchronous swaps or recomputation, or FastSwitch's block groups, asynchronous swaps and
    host-KV reuse across turns, all timed by a swap-cost model fitted to measured PCIe copies (FastSwitch, Shen
    et al., arXiv 2411.18424). Exogenous priorities change with the Random or Markov pattern of the paper.

    ## Action Space
    `Box(-1, 1, (candidates,))`: one score per candidate slot, higher runs first (slots beyond the window are
    ignored; ties favour requests holding GPU KV, then the oldest). With `choose_recompute=True` the box is
    `(2 * candidates,)` and a positive second-half entry makes that candidate's preemption drop its KV for
    recomputation instead of swapping it.

    ## Observation Space
    `Box(-1, 1, (12 * candidates + 6,))`. Per candidate slot: present, holds GPU KV, swapped to host, waiting
    without KV, fraction of its context valid in the host copy (reusable), its user's VTC counter / the largest,
    its user's deficit against the active users' mean (normalised, signed), time since its last token or arrival
    (1 - exp(-t / ttft_slo_s)), tokens generated / 1024, context / model window, priority level / top level,
    first token produced. Engine: KV blocks used / capacity, KV demand of live requests / (2 x capacity), host swap
    space used, swap traffic in flight (seconds / 0.1), live requests / (2 x candidates), batch / max batch.

    ## Rewards
    Per decision: `reward_tokens * tokens / 100` (throughput) minus `reward_ttft * sum(max(0, TTFT / ttft_slo_s -
    1))` over requests finished since the last decision, minus `reward_tbt * sum(max(0, gap / tbt_slo_s - 1))`
    over their token gaps, minus `reward_fairness * spread`, where spread is the coefficient of variation of
    active users' VTC counters (0 when service is balanced).

    ## Episode End
    Terminates when every turn of every conversation has finished; truncates at `max_sim_s` simulated seconds.
    Decisions happen only at contended plans, so an uncontended workload can end after one step.

    ## Arguments
    Every field of `PreemptionConfig` (see its docstring), e.g. `gym.make("sysgym/Preemption-v0",
    mechanism="vllm", rate=3.0, priority_pattern="markov")`; `backend="live"` runs the swaps and decode attention
    on a CUDA GPU.

    ## Version History
    * v0: initial release.
    """

    config_cls = PreemptionConfig
    backends = ("model", "live")

    def _make_backend(self, config: PreemptionConfig, backend: str) -> Backend[Any, Any]:
        if backend == "live":
            from sysgym.runtime.preemption.live import PreemptionLiveBackend

            return PreemptionLiveBackend(config)
        from sysgym.envs.preemption.backend import PreemptionModelBackend

        return PreemptionModelBackend(config)

    def _reward(self, signals: dict[str, float]) -> float:
        cfg = self.config
        return (
            cfg.reward_tokens * signals["tokens"] / 100.0
            - cfg.reward_ttft * signals["ttft_over"]
            - cfg.reward_tbt * signals["tbt_over"]
            - cfg.reward_fairness * signals["fairness_spread"]
        )
