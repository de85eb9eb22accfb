"""Workload names to drawn workloads: built-in scenarios, the Poisson generator, or a WTA CSV path."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sysgym.envs.core.errors import UnknownNameError
from sysgym.envs.spark.config import SparkConfig
from sysgym.envs.spark.scenarios import BUILTIN, scenario_workload
from sysgym.envs.spark.trace import trace_workload
from sysgym.envs.spark.workload import Workload, scaled


def check_workload(name: str) -> None:
    """Fail at construction, not at the first reset, on a name that is neither built in nor a file."""
    if name not in BUILTIN and not Path(name).is_file():
        raise UnknownNameError("Spark workload", name, [*BUILTIN, "<path to a WTA CSV>"])


def build_workload(config: SparkConfig, rng: np.random.Generator) -> Workload:
    """Draw one episode's workload from `rng`."""
    check_workload(config.workload)
    if config.workload in BUILTIN:
        workload = scenario_workload(config.workload, config, rng)
    else:
        workload = trace_workload(config.workload, config, rng)
    return scaled(workload, config.time_scale)
