"""Multi-user Spark job ordering (UWFQ): `sysgym/SparkJobOrder-v0`."""

from sysgym.envs.core.spec import SysEnvSpec
from sysgym.envs.spark.baselines import BASELINES
from sysgym.envs.spark.scenarios import BUILTIN

SPECS: tuple[SysEnvSpec, ...] = (
    SysEnvSpec(
        id="sysgym/SparkJobOrder-v0",
        entry_point="sysgym.envs.spark.env:SparkJobOrderEnv",
        backends=("model", "live"),
        workloads=BUILTIN,
        baselines=dict(BASELINES),
        headline_metric="mean_response_time_s",
        lower_is_better=True,
        latency_sample="response_time_s",
        quick_kwargs={"workload": "2_large_2_small_users"},
    ),
)
