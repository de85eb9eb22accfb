"""A stack of Llama-shaped decoder layers with random bf16 weights, run as prefill or decode batches."""

from __future__ import annotations

from typing import Any

from sysgym.envs.serving.models import ModelSpec


class LayerStack:
    """`layers` decoder layers of `model`'s shape (one TP shard) on GPU 0, for timing real batches.

    Args:
        torch: the torch module.
        model: the model shape.
        layers: layers to allocate and run (the rest of the model is extrapolated by the caller).
        max_tokens: largest prefill batch.
        max_kv: largest decode batch x KV length held for attention.
    """

    def __init__(
        self, torch: Any, model: ModelSpec, layers: int, max_tokens: int = 8192, max_kv: int = 1 << 20
    ) -> None:
        self.torch = torch
        self.model = model
        self.layers = layers
        dev, dt = "cuda", torch.bfloat16
        h = model.hidden
        heads = max(model.heads // model.tp, 1)
        kv_heads = max(model.kv_heads // model.tp, 1)
        d = model.head_dim
        inter = model.intermediate // model.tp
        self.heads, self.kv_heads, self.d = heads, kv_heads, d
        g = torch.Generator(device=dev).manual_seed(0)

        def w(*shape: int) -> Any:
            return torch.randn(*shape, device=dev, dtype=dt, generator=g) * 0.02

        self.weights = [
            (w(h, (heads + 2 * kv_heads) * d), w(heads * d, h), w(h, 2 * inter), w(inter, h)) for _ in range(layers)
        ]
        self.x = w(max_tokens, h)
        self.k = w(max_kv // 8 + 1, kv_heads, 8, d)
        self.max_kv = max_kv

    def _mlp(self, x: Any, gate_up: Any, down: Any) -> Any:
        a, b = (x @ gate_up).chunk(2, dim=-1)
        return (self.torch.nn.functional.silu(a) * b) @ down

    def prefill(self, tokens: int) -> None:
        """One prefill iteration of `tokens` prompt tokens (one causal sequence) through every layer."""
        torch = self.torch
        f = torch.nn.functional
        x = self.x[:tokens]
        for qkv, o, gate_up, down in self.weights:
            y = x @ qkv
            q, k, v = y.split([self.heads * self.d, self.kv_heads * self.d, self.kv_heads * self.d], dim=-1)
            q = q.view(1, tokens, self.heads, self.d).transpose(1, 2)
            k = k.view(1, tokens, self.kv_heads, self.d).transpose(1, 2)
            v = v.view(1, tokens, self.kv_heads, self.d).transpose(1, 2)
            a = f.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
            x = x + a.transpose(1, 2).reshape(tokens, -1) @ o
            x = x + self._mlp(x, gate_up, down)

    def decode(self, batch: int, kv_tokens: int) -> None:
        """One decode iteration of `batch` sequences over `kv_tokens` KV tokens in total."""
        torch = self.torch
        f = torch.nn.functional
        length = max(min(kv_tokens, self.max_kv) // max(batch, 1), 1)
        kv = self.k.view(-1, self.kv_heads, self.d)[: batch * length]
        kv = kv.view(batch, length, self.kv_heads, self.d).transpose(1, 2)
        x = self.x[:batch]
        for qkv, o, gate_up, down in self.weights:
            y = x @ qkv
            q = y[:, : self.heads * self.d].view(batch, self.heads, 1, self.d)
            a = f.scaled_dot_product_attention(q, kv, kv, enable_gqa=True)
            x = x + a.reshape(batch, -1) @ o
            x = x + self._mlp(x, gate_up, down)
