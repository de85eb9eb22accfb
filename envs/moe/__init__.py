"""MoE expert rerouting (LLEP): `sysgym/ExpertReroute-v0` and its baselines."""

from sysgym.envs.core.spec import SysEnvSpec
from sysgym.envs.moe.baselines import EPLBPolicy, EPPolicy, LLEPPolicy, OraclePolicy
from sysgym.envs.moe.workloads import NAMES

SPECS: tuple[SysEnvSpec, ...] = (
    SysEnvSpec(
        id="sysgym/ExpertReroute-v0",
        entry_point="sysgym.envs.moe.env:ExpertRerouteEnv",
        backends=("model", "live"),
        workloads=NAMES,
        baselines={"ep": EPPolicy, "eplb": EPLBPolicy, "llep": LLEPPolicy, "oracle": OraclePolicy},
        headline_metric="mean_step_time_ms",
        lower_is_better=True,
        latency_sample="step_time_ms",
        quick_kwargs={"batches": 16},
    ),
)
