"""Served models by name, their memory footprint per GPU, and the SLO table of semi-PD.

Shapes are the published Llama-3 configurations. `llama3-8b` is the shape the calibration measured layer by
layer; `llama3-70b` is scaled from it by FLOPs and bytes (`perf.py`) and runs on a tensor-parallel group.
"""

from __future__ import annotations

from dataclasses import dataclass

from sysgym.envs.core.errors import UnknownNameError


@dataclass(frozen=True)
class ModelSpec:
    """A decoder-only transformer's shape and its tensor-parallel placement.

    Attributes:
        name: registered name.
        layers: decoder layers.
        hidden: model width.
        heads: query heads.
        kv_heads: key/value heads (GQA).
        head_dim: width of one head.
        intermediate: SwiGLU inner width.
        vocab: vocabulary size (embedding and LM head).
        tp: tensor-parallel degree (GPUs one instance spans).
        dtype_bytes: bytes per weight and KV element (bf16).
        context: longest context the model serves.
    """

    name: str
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int
    tp: int = 1
    dtype_bytes: int = 2
    context: int = 8192

    @property
    def layer_params(self) -> int:
        """Weights of one decoder layer (QKV, O, SwiGLU), whole model (all TP shards)."""
        qkv = self.hidden * (self.heads + 2 * self.kv_heads) * self.head_dim
        return qkv + self.heads * self.head_dim * self.hidden + 3 * self.hidden * self.intermediate

    @property
    def params(self) -> int:
        """All weights: layers plus embedding and LM head."""
        return self.layers * self.layer_params + 2 * self.vocab * self.hidden

    @property
    def weight_bytes_per_gpu(self) -> float:
        """Weight bytes each GPU of the TP group holds."""
        return self.params * self.dtype_bytes / self.tp

    @property
    def kv_bytes_per_token(self) -> int:
        """KV-cache bytes of one token across all layers and all GPUs of the group (K and V)."""
        return 2 * self.layers * self.kv_heads * self.head_dim * self.dtype_bytes

    @property
    def linear_flops_per_token_layer(self) -> float:
        """GEMM FLOPs of one token through one layer on one GPU of the group."""
        return 2.0 * self.layer_params / self.tp

    @property
    def kv_bytes_per_token_layer(self) -> float:
        """K+V bytes one token adds to one layer on one GPU of the group (what decode attention reads)."""
        return 2.0 * self.kv_heads * self.head_dim * self.dtype_bytes / self.tp


MODELS: dict[str, ModelSpec] = {
    "llama3-8b": ModelSpec("llama3-8b", 32, 4096, 32, 8, 128, 14336, 128256, tp=1),
    "llama3-70b": ModelSpec("llama3-70b", 80, 8192, 64, 8, 128, 28672, 128256, tp=4),
}


def model_spec(name: str) -> ModelSpec:
    """The named model; unknown names list the known ones."""
    if name not in MODELS:
        raise UnknownNameError("model", name, list(MODELS))
    return MODELS[name]


@dataclass(frozen=True)
class Slo:
    """Latency objectives: a request attains its SLO when both TTFT and TPOT are within them.

    Attributes:
        ttft_s: time-to-first-token objective, seconds.
        tpot_s: time-per-output-token objective, seconds.
    """

    ttft_s: float
    tpot_s: float


# semi-PD (arXiv 2504.19867) SLO table, TTFT / TPOT in seconds: about 7.5x (tight) and 10x (loose) the latency of a
# single request on the paper's A100s.
SLO_TABLE: dict[tuple[str, str], Slo] = {
    ("llama3-8b", "sharegpt-tight"): Slo(0.3, 0.15),
    ("llama3-8b", "sharegpt-loose"): Slo(0.4, 0.2),
    ("llama3-8b", "longbench-tight"): Slo(2.25, 0.13),
    ("llama3-8b", "longbench-loose"): Slo(3.0, 0.18),
    ("llama3-70b", "sharegpt-tight"): Slo(0.85, 0.3),
    ("llama3-70b", "sharegpt-loose"): Slo(1.1, 0.4),
    ("llama3-70b", "longbench-tight"): Slo(6.0, 0.3),
    ("llama3-70b", "longbench-loose"): Slo(8.0, 0.4),
}

SLO_NAMES = ("sharegpt-tight", "sharegpt-loose", "longbench-tight", "longbench-loose")


def slo(model: str, name: str) -> Slo:
    """The SLO `name` of `model` from the semi-PD table."""
    model_spec(model)
    if (model, name) not in SLO_TABLE:
        raise UnknownNameError("SLO", name, list(SLO_NAMES))
    return SLO_TABLE[(model, name)]
