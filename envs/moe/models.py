"""Named MoE layer shapes from the LLEP paper's benchmarks (and Mixtral), so configs are chosen by name."""

from __future__ import annotations

from dataclasses import dataclass

from sysgym.envs.core.errors import UnknownNameError

BF16_BYTES = 2


@dataclass(frozen=True)
class MoEModel:
    """One MoE layer's shape.

    Attributes:
        name: the name users pass as `model=`.
        experts: routed experts N in the layer.
        hidden: model dimension D (token vectors moved by the all-to-all).
        inter: expert intermediate dimension H (SwiGLU width).
        top_k: experts each token is routed to.
        tokens_per_device: the paper's layer-benchmark batch per GPU, used when the env does not set one.
    """

    name: str
    experts: int
    hidden: int
    inter: int
    top_k: int
    tokens_per_device: int

    @property
    def expert_bytes(self) -> int:
        """One SwiGLU expert's weights (gate, up, down) in bf16: what a spill copies peer to peer."""
        return 3 * self.hidden * self.inter * BF16_BYTES


MODELS: dict[str, MoEModel] = {
    m.name: m
    for m in (
        MoEModel("gpt-oss-120b", experts=128, hidden=2880, inter=2880, top_k=4, tokens_per_device=32768),
        MoEModel("deepseek-v3", experts=256, hidden=7168, inter=2048, top_k=8, tokens_per_device=16384),
        MoEModel("kimi-k2", experts=384, hidden=7168, inter=2048, top_k=8, tokens_per_device=16384),
        MoEModel("mixtral-8x7b", experts=8, hidden=4096, inter=14336, top_k=2, tokens_per_device=16384),
    )
}


def model_config(name: str) -> MoEModel:
    """The named layer shape; unknown names list the known ones."""
    if name not in MODELS:
        raise UnknownNameError("MoE model", name, list(MODELS))
    return MODELS[name]
