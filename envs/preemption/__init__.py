"""FastSwitch preemption: who holds GPU KV in fair multi-user LLM serving (`sysgym/Preemption-v0`)."""

from sysgym.envs.core.spec import SysEnvSpec
from sysgym.envs.preemption.baselines import BASELINES
from sysgym.envs.preemption.config import WORKLOADS

SPECS: tuple[SysEnvSpec, ...] = (
    SysEnvSpec(
        id="sysgym/Preemption-v0",
        entry_point="sysgym.envs.preemption.env:PreemptionEnv",
        backends=("model", "live"),
        workloads=WORKLOADS,
        baselines=BASELINES,
        headline_metric="p99_ttft_s",
        lower_is_better=True,
        latency_sample="ttft_s",
        quick_kwargs={"conversations": 16, "rate": 40.0, "think_s": 0.5, "users": 4, "gpu_mem_gib": 21.5},
        paper_policy="fastswitch",
    ),
)
