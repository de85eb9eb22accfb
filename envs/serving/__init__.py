"""The shared LLM-serving simulator core (see README.md here): workloads, KV pools, performance model, engine."""

from sysgym.envs.serving.engine import Engine, Plan, Scheduler, Worker
from sysgym.envs.serving.kv import KVPool, gathered_swap_cost, kv_capacity_blocks
from sysgym.envs.serving.lengths import DISTRIBUTIONS, length_distribution
from sysgym.envs.serving.metrics import summarize
from sysgym.envs.serving.models import MODELS, SLO_TABLE, ModelSpec, Slo, model_spec, slo
from sysgym.envs.serving.perf import PerfModel, holdout_report
from sysgym.envs.serving.request import Phase, Request
from sysgym.envs.serving.system import SYSTEMS, ServingConfig, build_engine, perf_model
from sysgym.envs.serving.workload import WorkloadSpec, load_trace, synthetic_requests

__all__ = [
    "DISTRIBUTIONS",
    "MODELS",
    "SLO_TABLE",
    "SYSTEMS",
    "Engine",
    "KVPool",
    "ModelSpec",
    "PerfModel",
    "Phase",
    "Plan",
    "Request",
    "Scheduler",
    "ServingConfig",
    "Slo",
    "Worker",
    "WorkloadSpec",
    "build_engine",
    "gathered_swap_cost",
    "holdout_report",
    "kv_capacity_blocks",
    "length_distribution",
    "load_trace",
    "model_spec",
    "perf_model",
    "slo",
    "summarize",
    "synthetic_requests",
]
