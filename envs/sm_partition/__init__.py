"""SM partitioning between LLM prefill and decode (semi-PD) on the shared serving simulator."""

from sysgym.envs.core.spec import SysEnvSpec
from sysgym.envs.sm_partition.baselines import BASELINES

SPECS: tuple[SysEnvSpec, ...] = (
    SysEnvSpec(
        id="sysgym/SMPartition-v0",
        entry_point="sysgym.envs.sm_partition.env:SMPartitionEnv",
        backends=("model", "live"),
        workloads=("sharegpt", "longbench", "mix-95-5"),
        baselines=BASELINES,
        headline_metric="slo_attainment",
        lower_is_better=False,
        latency_sample="ttft_s",
        quick_kwargs={"requests": 300, "rate": 30.0},
        paper_policy="semipd-dynamic",
    ),
)
