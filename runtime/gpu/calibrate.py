"""`sysgym calibrate --target gpu`: measure a calibration file of `h100.json`'s shape on this machine's GPU.

Covers the GPU sections the models fit: `device`, `gemm_bf16`, `attention`, `layer_grid`, `sm_partition` (alone,
co-running and unpartitioned), `green_context_switch`, `pcie`, `kv_gather`, `moe_expert`. Each timing is the median
of 10 CUDA-event-timed runs after 3 warm-ups, as in the packaged file. The model backends accept the result with
`calibration=FILE`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from sysgym.envs.serving.models import MODELS
from sysgym.runtime.gpu.device import device_info, require_cuda
from sysgym.runtime.gpu.green import GreenPartitions
from sysgym.runtime.gpu.layers import LayerStack
from sysgym.runtime.gpu.timing import time_ms

GEMM_SHAPES = ((4096, 4096), (4096, 14336), (14336, 4096), (8192, 28672), (2048, 1408), (2880, 2880))
GEMM_M = (1, 8, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384)
PREFILL_TOKENS = (256, 1024, 2048, 4096, 8192)
DECODE_POINTS = ((8, 1024), (8, 4096), (32, 1024), (32, 4096), (128, 1024), (128, 4096))
MOE = (("mixtral-8x7b", 4096, 14336), ("deepseek-v2-lite", 2048, 1408), ("gpt-oss-120b", 2880, 2880))


def _gemm(torch: Any) -> list[dict[str, Any]]:
    rows = []
    for k, n in GEMM_SHAPES:
        w = torch.randn(k, n, device="cuda", dtype=torch.bfloat16)
        for m in GEMM_M:
            x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
            ms = time_ms(torch, lambda x=x, w=w: x @ w)
            rows.append({"m": m, "k": k, "n": n, "ms": ms, "tflops": 2 * m * k * n / ms / 1e9})
    return rows


def _attention(torch: Any) -> list[dict[str, Any]]:
    f = torch.nn.functional
    rows: list[dict[str, Any]] = []
    for b in (1, 8, 32, 64, 128, 256):
        for length in (512, 1024, 2048, 4096, 8192):
            q = torch.randn(b, 32, 1, 128, device="cuda", dtype=torch.bfloat16)
            k = torch.randn(b, 8, length, 128, device="cuda", dtype=torch.bfloat16)
            v = torch.randn_like(k)
            ms = time_ms(torch, lambda q=q, k=k, v=v: f.scaled_dot_product_attention(q, k, v, enable_gqa=True))
            kv_bytes = 2 * k.numel() * 2
            rows.append(
                {
                    "phase": "decode",
                    "batch": b,
                    "kv_len": length,
                    "heads": 32,
                    "kv_heads": 8,
                    "ms": ms,
                    "kv_gbps": kv_bytes / ms / 1e6,
                }
            )
    for s in (512, 1024, 2048, 4096, 8192, 16384):
        q = torch.randn(1, 32, s, 128, device="cuda", dtype=torch.bfloat16)
        ms = time_ms(torch, lambda q=q: f.scaled_dot_product_attention(q, q, q, is_causal=True))
        rows.append({"phase": "prefill", "batch": 1, "seq": s, "ms": ms, "tflops": 4 * 32 * s * s * 128 / 2 / ms / 1e9})
    return rows


def _layer_grid(torch: Any, parts: GreenPartitions) -> dict[str, Any]:
    stack = LayerStack(torch, MODELS["llama3-8b"], layers=1, max_kv=128 * 4096)
    rows = []
    for sms in (16, 32, 48, 64, 80, 96, 112, parts.total_sms):
        stream = parts.stream(sms)
        for t in PREFILL_TOKENS:
            ms = time_ms(torch, lambda t=t: stack.prefill(t), stream=stream)
            rows.append({"sms": sms, "phase": "prefill", "tokens": t, "batch": 0, "kv_len": 0, "ms": ms})
        for b, length in DECODE_POINTS:
            ms = time_ms(torch, lambda b=b, n=b * length: stack.decode(b, n), stream=stream)
            rows.append({"sms": sms, "phase": "decode", "tokens": 0, "batch": b, "kv_len": length, "ms": ms})
    return {"model": "llama-3-8b layer (1 of 32)", "rows": rows}


def _sm_partition(torch: Any, parts: GreenPartitions) -> dict[str, Any]:
    f = torch.nn.functional
    a = torch.randn(4096, 4096, device="cuda", dtype=torch.bfloat16)
    w = torch.randn(4096, 14336, device="cuda", dtype=torch.bfloat16)
    d = torch.randn(64, 4096, device="cuda", dtype=torch.bfloat16)
    q = torch.randn(64, 32, 1, 128, device="cuda", dtype=torch.bfloat16)
    kv = torch.randn(64, 8, 2048, 128, device="cuda", dtype=torch.bfloat16)
    src = torch.empty(256 * 2**20, dtype=torch.uint8, device="cuda")
    dst = torch.empty_like(src)
    kernels = {
        "prefill_gemm": lambda: a @ w,
        "decode_gemm": lambda: d @ w,
        "decode_attn": lambda: f.scaled_dot_product_attention(q, kv, kv, enable_gqa=True),
        "copy_256mb": lambda: dst.copy_(src),
    }
    full = {k: time_ms(torch, fn) for k, fn in kernels.items()}
    alone = []
    for sms in (8, 16, 24, 32, 48, 64, 80, 96, 112, 128):
        row: dict[str, Any] = {"sms": sms}
        for k, fn in kernels.items():
            row[f"{k}_ms"] = time_ms(torch, fn, stream=parts.stream(sms))
        alone.append(row)

    def prefill_loop() -> None:
        for _ in range(20):
            kernels["prefill_gemm"]()

    def decode_loop() -> None:
        for _ in range(200):
            kernels["decode_gemm"]()
            kernels["decode_attn"]()

    def corun(sp: Any, sd: Any) -> tuple[float, float]:
        torch.cuda.synchronize()
        events = [torch.cuda.Event(enable_timing=True) for _ in range(4)]
        events[0].record(sp)
        events[2].record(sd)
        with torch.cuda.stream(sp):
            prefill_loop()
        with torch.cuda.stream(sd):
            decode_loop()
        events[1].record(sp)
        events[3].record(sd)
        torch.cuda.synchronize()
        return events[0].elapsed_time(events[1]), events[2].elapsed_time(events[3])

    runs = []
    for p in (16, 32, 48, 64, 80, 96, 112):
        sp, sd = parts.stream(p), parts.stream(parts.total_sms - p)
        p_alone = time_ms(torch, prefill_loop, reps=3, warmup=1, stream=sp)
        d_alone = time_ms(torch, decode_loop, reps=3, warmup=1, stream=sd)
        corun(sp, sd)
        p_co, d_co = corun(sp, sd)
        runs.append(
            {
                "prefill_sms": p,
                "decode_sms": parts.total_sms - p,
                "prefill_alone_ms": p_alone,
                "decode_alone_ms": d_alone,
                "prefill_corun_ms": p_co,
                "decode_corun_ms": d_co,
                "prefill_reps": 20,
                "decode_reps": 200,
            }
        )
    s1, s2 = torch.cuda.Stream(), torch.cuda.Stream()
    corun(s1, s2)
    un_p, un_d = corun(s1, s2)
    return {
        "alone": alone,
        "corun": runs,
        "full_device_ms": full,
        "corun_unpartitioned": {"prefill_ms": un_p, "decode_ms": un_d},
    }


def _green_switch(torch: Any) -> list[dict[str, Any]]:
    from torch.cuda.green_contexts import GreenContext

    rows = []
    for sms in (16, 64, 112):
        times = []
        for _ in range(10):
            start = time.perf_counter()
            ctx: Any = GreenContext.create(num_sms=sms, device_id=0)
            stream = ctx.Stream()
            with torch.cuda.stream(stream):
                torch.zeros(1, device="cuda").add_(1)
            stream.synchronize()
            times.append((time.perf_counter() - start) * 1e3)
            del stream, ctx
        times.sort()
        rows.append({"sms": sms, "create_and_first_kernel_ms_p50": times[len(times) // 2], "max_ms": times[-1]})
    return rows


def _pcie(torch: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rows = []
    for pinned in (True, False):
        for nbytes in (4096, 65536, 2**20, 2**24, 2**28):
            host = torch.empty(nbytes, dtype=torch.uint8, pin_memory=pinned)
            dev = torch.empty(nbytes, dtype=torch.uint8, device="cuda")
            h2d = time_ms(torch, lambda d=dev, h=host: d.copy_(h, non_blocking=True))
            d2h = time_ms(torch, lambda d=dev, h=host: h.copy_(d, non_blocking=True))
            rows.append(
                {
                    "kind": "single",
                    "pinned": pinned,
                    "bytes": nbytes,
                    "h2d_ms": h2d,
                    "d2h_ms": d2h,
                    "h2d_gbps": nbytes / h2d / 1e6,
                    "d2h_gbps": nbytes / d2h / 1e6,
                }
            )
    gather = []
    total = 2**28
    src = torch.empty(total, dtype=torch.uint8, device="cuda")
    host = torch.empty(total, dtype=torch.uint8, pin_memory=True)
    for block in (16384, 65536, 262144):
        blocks = total // block
        view = src.view(blocks, block)
        idx = torch.randperm(blocks, device="cuda")
        staging = torch.empty_like(view)
        g = time_ms(torch, lambda v=view, i=idx, s=staging: torch.index_select(v, 0, i, out=s))
        c = time_ms(torch, lambda s=staging, b=block: host.view(-1, b).copy_(s, non_blocking=True))
        gather.append(
            {"block": block, "blocks": blocks, "gather_ms": g, "d2h_ms": c, "effective_gbps": total / (g + c) / 1e6}
        )
    return rows, gather


def _moe(torch: Any) -> list[dict[str, Any]]:
    f = torch.nn.functional
    rows: list[dict[str, Any]] = []
    for name, h, inter in MOE:
        wg = torch.randn(h, inter, device="cuda", dtype=torch.bfloat16)
        wu = torch.randn_like(wg)
        wd = torch.randn(inter, h, device="cuda", dtype=torch.bfloat16)
        for t in (1, 16, 64, 256, 1024, 4096, 16384, 65536):
            x = torch.randn(t, h, device="cuda", dtype=torch.bfloat16)
            ms = time_ms(torch, lambda x=x, g=wg, u=wu, d=wd: (f.silu(x @ g) * (x @ u)) @ d)
            rows.append({"model": name, "hidden": h, "inter": inter, "tokens": t, "ms": ms})
        flat = torch.cat([wg.flatten(), wu.flatten(), wd.flatten()])
        copy = torch.empty_like(flat)
        rows.append(
            {
                "model": name,
                "expert_weight_bytes": flat.numel() * 2,
                "d2d_copy_ms": time_ms(torch, lambda c=copy, s=flat: c.copy_(s)),
            }
        )
    return rows


def run(out: Path) -> None:
    """Measure every GPU section on GPU 0 and write the calibration JSON to `out`."""
    torch = require_cuda(green_contexts=True)
    info = device_info(torch)
    parts = GreenPartitions(torch, info["sms"])
    pcie, gather = _pcie(torch)
    sections = {
        "device": info,
        "gemm_bf16": _gemm(torch),
        "attention": _attention(torch),
        "sm_partition": _sm_partition(torch, parts),
        "layer_grid": _layer_grid(torch, parts),
        "green_context_switch": _green_switch(torch),
        "pcie": pcie,
        "kv_gather": gather,
        "moe_expert": _moe(torch),
    }
    parts.close()
    about = (
        f"Measured by `sysgym calibrate --target gpu` on {info['name']} ({info['sms']} SMs), torch "
        f"{info['torch']} / CUDA {info['cuda']}, {time.strftime('%Y-%m-%d')}. Medians of 10 CUDA-event-timed "
        "runs after 3 warm-ups, milliseconds."
    )
    Path(out).write_text(json.dumps({"about": about, "sections": sections}, indent=1))
