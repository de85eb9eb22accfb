"""Assembles an `Engine` for a named serving system: vLLM (two modes), semi-PD, DistServe 1P1D."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from sysgym.envs.calibration import load
from sysgym.envs.core.config import require
from sysgym.envs.core.errors import UnknownNameError
from sysgym.envs.serving.engine import Engine, Scheduler, Worker
from sysgym.envs.serving.kv import GIB, GatheredSwapCost, KVPool, gathered_swap_cost, kv_capacity_blocks
from sysgym.envs.serving.models import model_spec
from sysgym.envs.serving.perf import PerfModel
from sysgym.envs.serving.request import Request
from sysgym.envs.serving.schedulers import DisaggScheduler, SemiPDScheduler, VllmScheduler

SYSTEMS = ("vllm-prefill-priority", "vllm-chunked", "semi-pd", "distserve-1p1d")
DEFAULT_BUDGET = {"vllm-prefill-priority": 8192, "vllm-chunked": 1024, "semi-pd": 8192, "distserve-1p1d": 8192}


@dataclass(frozen=True)
class ServingConfig:
    """One serving deployment.

    Attributes:
        system: `vllm-prefill-priority`, `vllm-chunked`, `semi-pd` or `distserve-1p1d`.
        model: a model name of `models.MODELS`.
        calibration: a calibration file from `sysgym calibrate` (None: the packaged H100 data).
        gpu_mem_gib: memory of each GPU (None: the calibrated device's).
        mem_util: fraction of GPU memory the server may use (vLLM's gpu_memory_utilization).
        block_tokens: tokens per KV block.
        host_mem_gib: host memory for swapped-out KV per model instance.
        max_batch: most sequences in a decode batch.
        token_budget: most tokens in one iteration (0: the system's default: 8192, or 1024 for vllm-chunked).
        prefill_sms: semi-PD's initial prefill SMs (decode gets the rest unless oversubscribed).
        oversubscribed: semi-PD's workers both use every SM (the (100, 100) split).
    """

    system: str = "semi-pd"
    model: str = "llama3-8b"
    calibration: str | None = None
    gpu_mem_gib: float | None = None
    mem_util: float = 0.9
    block_tokens: int = 16
    host_mem_gib: float = 64.0
    max_batch: int = 512
    token_budget: int = 0
    prefill_sms: int = 64
    oversubscribed: bool = False

    def __post_init__(self) -> None:
        if self.system not in SYSTEMS:
            raise UnknownNameError("serving system", self.system, SYSTEMS)
        model_spec(self.model)
        require(self.block_tokens in (8, 16, 32), f"block_tokens must be 8, 16 or 32, got {self.block_tokens}")
        require(self.max_batch >= 1, f"max_batch must be >= 1, got {self.max_batch}")
        require(self.token_budget >= 0, f"token_budget must be >= 0, got {self.token_budget}")
        require(self.host_mem_gib >= 0, f"host_mem_gib must be >= 0, got {self.host_mem_gib}")
        require(self.gpu_mem_gib is None or self.gpu_mem_gib > 0, "gpu_mem_gib must be > 0")


@dataclass(frozen=True)
class KVTransfer:
    """DistServe's KV move from the prefill GPU to the decode GPU, priced as one gathered copy.

    Attributes:
        cost: the copy cost function.
        block_bytes: bytes of one KV block.
    """

    cost: GatheredSwapCost
    block_bytes: int

    def __call__(self, req: Request) -> float:
        """Seconds to move `req`'s KV blocks."""
        return self.cost(req, req.blocks, self.block_bytes, "out")


@lru_cache(maxsize=16)
def perf_model(model: str, calibration: str | None = None) -> PerfModel:
    """The fitted performance model of `model` on the calibrated GPU (cached: fitting takes tens of ms)."""
    return PerfModel(load(calibration), model_spec(model))


def build_engine(config: ServingConfig, scheduler: Scheduler | None = None) -> Engine:
    """An engine for `config`; `scheduler` replaces the system's own policy (the hook for new policies)."""
    calib = load(config.calibration)
    spec = model_spec(config.model)
    perf = perf_model(config.model, config.calibration)
    total = perf.total_sms
    mem = config.gpu_mem_gib if config.gpu_mem_gib is not None else float(calib["sections"]["device"]["mem_gib"])
    block_bytes = spec.kv_bytes_per_token * config.block_tokens
    host_blocks = int(config.host_mem_gib * GIB // block_bytes)

    def pool() -> KVPool:
        blocks = kv_capacity_blocks(spec, mem, config.block_tokens, config.mem_util)
        return KVPool(blocks, config.block_tokens, block_bytes, host_blocks)

    budget = config.token_budget or DEFAULT_BUDGET[config.system]
    swap = gathered_swap_cost(calib)
    if config.system.startswith("vllm"):
        workers = [Worker(0, "gpu0", "unified", total, pool(), config.max_batch, budget)]
        policy: Scheduler = VllmScheduler(chunked=config.system == "vllm-chunked")
    elif config.system == "semi-pd":
        shared = pool()
        p_sms = total if config.oversubscribed else config.prefill_sms
        d_sms = total if config.oversubscribed else total - config.prefill_sms
        require(0 < p_sms <= total and 0 < d_sms <= total, f"prefill_sms must be in (0, {total})")
        prefill = Worker(0, "prefill", "prefill", p_sms, shared, config.max_batch, budget)
        decode = Worker(1, "decode", "decode", d_sms, shared, config.max_batch, budget)
        prefill.decode_to, prefill.partner, decode.partner = 1, 1, 0
        workers = [prefill, decode]
        policy = SemiPDScheduler()
    else:
        prefill = Worker(0, "prefill-gpu", "prefill", total, pool(), config.max_batch, budget)
        decode = Worker(1, "decode-gpu", "decode", total, pool(), config.max_batch, budget)
        prefill.decode_to = 1
        prefill.transfer_s = KVTransfer(swap, block_bytes)
        workers = [prefill, decode]
        policy = DisaggScheduler()
    return Engine(workers, perf, scheduler or policy, swap, async_swap=False, oversubscribed=config.oversubscribed)


def gpus(config: ServingConfig) -> int:
    """GPUs the deployment occupies (rates are compared per GPU)."""
    per_instance = model_spec(config.model).tp
    return per_instance * (2 if config.system == "distserve-1p1d" else 1)
