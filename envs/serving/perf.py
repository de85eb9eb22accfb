"""Iteration-latency model of LLM serving on an SM partition, fitted to measured H100 data.

Operator triage as in Vidur, fitted to the calibration sections (`envs/calibration/h100.json`):

* Prefill: one measured Llama-3-8B layer `G(s, T)` on `s` SMs for `T` prompt tokens (`layer_grid`). Its
  token-level part on the whole GPU is `G(132, T)` minus causal attention `A(T)`; attention is fitted from the
  `attention` section as `A = a0 + a2 * E2`, where `E2 = sum c * (c + 2 l)` over the batch's chunks of `c` new tokens
  after `l` cached ones (Vidur's equivalent length: attention cost follows the sum of squares). The SM count scales
  both by the measured ratio `G(s, T) / G(132, T)`, interpolated linearly in 1/s (exact for `A / s + B`) and in log T.
  Below 256 tokens GEMMs are weight-read bound: the token-level part follows the measured `gemm_bf16` times of
  the layer's shapes.
* Decode: per measured SM count, least squares `D = w + a * batch + c * kv_tokens` over the `layer_grid` decode
  rows (weights read once, per-sequence work, K+V bytes read); w, a, c are interpolated in 1/s.
* Below 16 SMs (the grid's smallest) the `sm_partition.alone` kernels give the scaling from 16 to 8 SMs.
* Co-running: when the other worker is busy, an iteration progresses at rate `rho` < 1. `rho` comes from
  `sm_partition.corun`: the loop that ends first ran overlapped throughout (`rho = alone / corun`); the other ran
  overlapped only until then, so its overlapped progress is its alone time minus the part it ran alone afterwards.
  That second estimate divides by a small difference, so a 3-point running median over the rows removes single
  outliers. Unpartitioned co-running (`sm_partition.corun_unpartitioned`) gives `rho` of oversubscribed splits.
* Other models: token-level and weight-read parts scale by GEMM FLOPs (= weight bytes) per layer per GPU,
  attention by K+V bytes (heads) per GPU; `layers` multiplies; tensor parallelism adds two ring all-reduces per
  layer over NVLink (450 GB/s per direction, H100 SXM spec sheet; 20 us launch overhead each as Vidur profiles).

`holdout_report()` refits without some measured rows and reports the relative error on them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from sysgym.envs.core.errors import ConfigError
from sysgym.envs.serving.models import MODELS, ModelSpec

REFERENCE = MODELS["llama3-8b"]
NVLINK_GBPS = 450.0
ALLREDUCE_LAUNCH_MS = 0.02
TOKEN_STEP = 16
MAX_TOKENS = 32768

RowFilter = Callable[[dict[str, Any]], bool]


class IterationModel(Protocol):
    """What the engine asks of iteration times: the fitted `PerfModel`, or a live GPU timing each batch."""

    def prefill_s(self, sms: int, tokens: int, e2: float) -> float:
        """A prefill-only iteration."""
        ...

    def decode_s(self, sms: int, batch: int, kv_tokens: int) -> float:
        """A decode-only iteration."""
        ...

    def mixed_s(self, sms: int, tokens: int, e2: float, batch: int, kv_tokens: int) -> float:
        """A chunked-prefill iteration with a decode step."""
        ...

    def decode_terms(self, sms: int, batch: int) -> tuple[float, float]:
        """(fixed seconds, seconds per KV token) of a decode iteration."""
        ...

    def corun_rates(self, prefill_sms: int, oversubscribed: bool) -> tuple[float, float]:
        """(prefill, decode) progress rates while both partitions are busy."""
        ...


def _interp_inverse(s_points: list[int], values: np.ndarray, s: float) -> np.ndarray:
    """Interpolate per-SM-count rows `values[i]` (measured at `s_points[i]`) at `s`, linearly in 1/s."""
    inv = [1.0 / p for p in s_points]
    x = 1.0 / s
    if x >= inv[0]:
        return values[0]
    if x <= inv[-1]:
        return values[-1]
    j = next(i for i in range(1, len(inv)) if inv[i] <= x)
    w = (inv[j - 1] - x) / (inv[j - 1] - inv[j])
    return values[j - 1] * (1.0 - w) + values[j] * w


def _running_median3(values: list[float]) -> list[float]:
    out = list(values)
    for i in range(1, len(values) - 1):
        out[i] = sorted(values[i - 1 : i + 2])[1]
    return out


@dataclass(frozen=True)
class CorunRates:
    """Progress rates of prefill and decode while the other side runs, by the prefill side's SM count.

    Attributes:
        prefill_sms: prefill SM counts of the measured partitions (increasing).
        prefill_rate: prefill progress rate (work per second relative to running alone) at each.
        decode_rate: decode progress rate at each.
        oversub_prefill_rate: prefill rate when both share all SMs unpartitioned.
        oversub_decode_rate: decode rate when both share all SMs unpartitioned.
    """

    prefill_sms: tuple[int, ...]
    prefill_rate: tuple[float, ...]
    decode_rate: tuple[float, ...]
    oversub_prefill_rate: float
    oversub_decode_rate: float

    def rates(self, prefill_sms: int, oversubscribed: bool) -> tuple[float, float]:
        """(prefill rate, decode rate) while both workers are busy."""
        if oversubscribed:
            return self.oversub_prefill_rate, self.oversub_decode_rate
        xs = self.prefill_sms
        return (
            float(np.interp(prefill_sms, xs, self.prefill_rate)),
            float(np.interp(prefill_sms, xs, self.decode_rate)),
        )


def _overlap_rates(alone_a: float, corun_a: float, alone_b: float, corun_b: float) -> tuple[float, float]:
    """Progress rates of two co-running loops, given each loop's time alone and co-running."""
    overlap = min(corun_a, corun_b)

    def rate(alone: float, corun: float) -> float:
        work_in_overlap = alone - (corun - overlap)
        return float(np.clip(work_in_overlap / overlap, 0.02, 1.0))

    return rate(alone_a, corun_a), rate(alone_b, corun_b)


def fit_corun(calibration: dict[str, Any]) -> CorunRates:
    """Co-running progress rates from `sm_partition.corun` and `corun_unpartitioned`."""
    part = calibration["sections"]["sm_partition"]
    rows = sorted(part["corun"], key=lambda r: r["prefill_sms"])
    p_rates, d_rates = [], []
    for r in rows:
        p, d = _overlap_rates(r["prefill_alone_ms"], r["prefill_corun_ms"], r["decode_alone_ms"], r["decode_corun_ms"])
        p_rates.append(p)
        d_rates.append(d)
    p_rates, d_rates = _running_median3(p_rates), _running_median3(d_rates)
    full = part["full_device_ms"]
    un = part["corun_unpartitioned"]
    p_reps = rows[0].get("prefill_reps", 20)
    d_reps = rows[0].get("decode_reps", 200)
    p_alone = full["prefill_gemm"] * p_reps
    d_alone = (full["decode_gemm"] + full["decode_attn"]) * d_reps
    op, od = _overlap_rates(p_alone, un["prefill_ms"], d_alone, un["decode_ms"])
    return CorunRates(tuple(int(r["prefill_sms"]) for r in rows), tuple(p_rates), tuple(d_rates), op, od)


class PerfModel:
    """Iteration times (seconds) of prefill, decode and mixed batches on `s` SMs of one GPU of the group.

    Args:
        calibration: a parsed calibration file (`sysgym.envs.calibration.load()`).
        model: the served model.
        exclude: rows of `layer_grid` to leave out of the fit (held-out validation).
    """

    def __init__(self, calibration: dict[str, Any], model: ModelSpec, exclude: RowFilter | None = None) -> None:
        self.model = model
        sections = calibration["sections"]
        self.total_sms = int(sections["device"]["sms"])
        rows = [r for r in sections["layer_grid"]["rows"] if exclude is None or not exclude(r)]
        self._fit_attention(sections["attention"])
        self._fit_prefill(rows, sections)
        self._fit_decode(rows, sections)
        self.corun = fit_corun(calibration)
        self._corun_table = [self.corun.rates(s, False) for s in range(self.total_sms + 1)]
        self._corun_over = self.corun.rates(0, True)
        self.switch_s = self._fit_switch(sections.get("green_context_switch", []))
        self._scale(model)

    # ---- fitting -------------------------------------------------------------------------------------------
    def _fit_attention(self, rows: list[dict[str, Any]]) -> None:
        pre = [r for r in rows if r["phase"] == "prefill" and r.get("batch", 1) == 1]
        if len(pre) < 2:
            raise ConfigError("calibration needs at least two prefill rows in `attention`")
        e2 = np.array([float(r["seq"]) ** 2 for r in pre])
        ms = np.array([r["ms"] for r in pre])
        weights = 1.0 / ms
        design = np.stack([np.ones_like(e2), e2], axis=1) * weights[:, None]
        a0, a2 = np.linalg.lstsq(design, ms * weights, rcond=None)[0]
        self.attn_a0, self.attn_a2 = max(float(a0), 0.0), max(float(a2), 1e-15)

    def attention_ms(self, e2: float) -> float:
        """Causal prefill attention of one reference layer on the whole GPU for equivalent squared length `e2`."""
        return self.attn_a0 + self.attn_a2 * e2

    @staticmethod
    def _gemm_layer_ms(gemm_rows: list[dict[str, Any]], m: float) -> float:
        """Sum of the reference layer's GEMMs at `m` tokens, from measured shapes (QKV as 1.5x the square)."""

        def at(k: int, n: int) -> float:
            pts = sorted((r["m"], r["ms"]) for r in gemm_rows if r["k"] == k and r["n"] == n)
            return float(np.interp(math.log(max(m, 1.0)), [math.log(p[0]) for p in pts], [p[1] for p in pts]))

        return 2.5 * at(4096, 4096) + 2.0 * at(4096, 14336) + at(14336, 4096)

    def _fit_prefill(self, rows: list[dict[str, Any]], sections: dict[str, Any]) -> None:
        pre = [r for r in rows if r["phase"] == "prefill"]
        full = self.total_sms
        grid: dict[int, dict[int, float]] = {}
        for r in pre:
            grid.setdefault(int(r["sms"]), {})[int(r["tokens"])] = float(r["ms"])
        if full not in grid or len(grid[full]) < 2:
            raise ConfigError(f"layer_grid needs at least two prefill rows on all {full} SMs")
        full_tokens = sorted(grid[full])
        full_ms = [grid[full][t] for t in full_tokens]
        gemm_rows = sections["gemm_bf16"]
        t_min = full_tokens[0]
        g_min = self._gemm_layer_ms(gemm_rows, t_min)
        self.tokens_axis = np.arange(0, MAX_TOKENS + TOKEN_STEP, TOKEN_STEP, dtype=float)
        self._last_bin = len(self.tokens_axis) - 1
        lin = np.empty_like(self.tokens_axis)
        slope = (full_ms[-1] - full_ms[-2]) / (full_tokens[-1] - full_tokens[-2])
        lin_at = [ms - self.attention_ms(float(t) ** 2) for t, ms in zip(full_tokens, full_ms, strict=True)]
        for i, t in enumerate(self.tokens_axis):
            tt = max(t, 1.0)
            if tt < t_min:
                lin[i] = lin_at[0] * self._gemm_layer_ms(gemm_rows, tt) / g_min
            elif tt <= full_tokens[-1]:
                lin[i] = float(np.interp(tt, full_tokens, lin_at))
            else:
                lin[i] = lin_at[-1] + slope * (tt - full_tokens[-1])
        self.prefill_lin_full = lin
        # SM scaling ratio per measured SM count, on the token axis (log-interpolated between measured tokens).
        s_points = sorted(s for s in grid if len(grid[s]) >= 2)
        log_t = np.log(np.maximum(self.tokens_axis, 1.0))
        ratios = []
        for s in s_points:
            ts = sorted(set(grid[s]) & set(grid[full]))
            if len(ts) < 2:
                continue
            ratio = [grid[s][t] / grid[full][t] for t in ts]
            ratios.append((s, np.interp(log_t, np.log(ts), ratio)))
        alone = sorted(sections["sm_partition"]["alone"], key=lambda row: row["sms"])
        self._alone = alone
        s_meas = [s for s, _ in ratios]
        values = np.stack([r for _, r in ratios])
        self.prefill_ratio = np.ones((full + 1, len(self.tokens_axis)))
        for s in range(1, full + 1):
            if s >= s_meas[0]:
                self.prefill_ratio[s] = _interp_inverse(s_meas, values, s)
            else:
                self.prefill_ratio[s] = values[0] * self._alone_ratio("prefill_gemm_ms", s, s_meas[0])

    def _alone_ratio(self, key: str, s: int, base: int) -> float:
        """Measured slowdown of the `key` kernel on `s` SMs relative to `base` SMs (sm_partition.alone)."""
        pts = [(r["sms"], r[key]) for r in self._alone]
        inv = [1.0 / p[0] for p in pts][::-1]
        vals = [p[1] for p in pts][::-1]
        return float(np.interp(1.0 / s, inv, vals) / np.interp(1.0 / base, inv, vals))

    def _fit_decode(self, rows: list[dict[str, Any]], sections: dict[str, Any]) -> None:
        dec = [r for r in rows if r["phase"] == "decode"]
        by_s: dict[int, list[dict[str, Any]]] = {}
        for r in dec:
            by_s.setdefault(int(r["sms"]), []).append(r)
        coefs = []
        for s in sorted(by_s):
            pts = by_s[s]
            if len(pts) < 3:
                continue
            b = np.array([float(p["batch"]) for p in pts])
            k = np.array([float(p["batch"] * p["kv_len"]) for p in pts])
            y = np.array([p["ms"] for p in pts])
            w = 1.0 / y
            design = np.stack([np.ones_like(b), b, k], axis=1) * w[:, None]
            sol = np.linalg.lstsq(design, y * w, rcond=None)[0]
            coefs.append((s, np.maximum(sol, [1e-4, 0.0, 0.0])))
        if not coefs:
            raise ConfigError("layer_grid needs decode rows (three or more per SM count)")
        s_meas = [s for s, _ in coefs]
        values = np.stack([c for _, c in coefs])
        full = self.total_sms
        self.decode_coef = np.zeros((full + 1, 3))
        for s in range(1, full + 1):
            if s >= s_meas[0]:
                self.decode_coef[s] = _interp_inverse(s_meas, values, s)
            else:
                g = self._alone_ratio("decode_gemm_ms", s, s_meas[0])
                a = self._alone_ratio("decode_attn_ms", s, s_meas[0])
                self.decode_coef[s] = values[0] * np.array([g, g, a])

    @staticmethod
    def _fit_switch(rows: list[dict[str, Any]]) -> float:
        if not rows:
            return 0.0017
        return float(np.median([r["create_and_first_kernel_ms_p50"] for r in rows])) / 1e3

    def _scale(self, model: ModelSpec) -> None:
        """Whole-model, seconds: per-layer reference times scaled to `model` and multiplied by its layers."""
        lin = model.linear_flops_per_token_layer / REFERENCE.linear_flops_per_token_layer
        kv = model.kv_bytes_per_token_layer / REFERENCE.kv_bytes_per_token_layer
        heads = (model.heads / model.tp) / REFERENCE.heads * (model.head_dim / REFERENCE.head_dim)
        layers_s = model.layers / 1e3
        self._lin_scale = lin
        self._attn_scale = heads * layers_s
        # Tables in seconds per iteration: prefill token-level part by [s][token bin], attention ratio by [s][bin].
        self._pre_lin = (self.prefill_ratio * self.prefill_lin_full[None, :] * lin * layers_s).tolist()
        self._pre_ratio = (self.prefill_ratio * heads * layers_s).tolist()
        coef = self.decode_coef * np.array([lin, lin, kv])[None, :] * layers_s
        self._dec_w = coef[:, 0].tolist()
        self._dec_a = coef[:, 1].tolist()
        self._dec_c = coef[:, 2].tolist()
        # Tensor parallelism: two all-reduces of tokens x hidden bf16 per layer.
        if model.tp > 1:
            ring = 2.0 * (model.tp - 1) / model.tp
            self._comm_per_token = model.layers * 2 * ring * model.hidden * model.dtype_bytes / (NVLINK_GBPS * 1e9)
            self._comm_fixed = model.layers * 2 * ALLREDUCE_LAUNCH_MS / 1e3
        else:
            self._comm_per_token = 0.0
            self._comm_fixed = 0.0

    # ---- prediction (seconds, whole model, one iteration) ------------------------------------------------
    def prefill_s(self, sms: int, tokens: int, e2: float) -> float:
        """A prefill-only iteration of `tokens` new tokens with attention work `e2` (sum of c*(c+2l))."""
        i = -(-tokens // TOKEN_STEP)  # the token bin, capped at the grid's end
        if i > self._last_bin:
            i = self._last_bin
        attn = self.attn_a0 + self.attn_a2 * e2
        return self._pre_lin[sms][i] + self._pre_ratio[sms][i] * attn + self._comm_fixed + self._comm_per_token * tokens

    def decode_s(self, sms: int, batch: int, kv_tokens: int) -> float:
        """A decode-only iteration of `batch` sequences holding `kv_tokens` KV tokens in total."""
        return (
            self._dec_w[sms]
            + self._dec_a[sms] * batch
            + self._dec_c[sms] * kv_tokens
            + self._comm_fixed
            + self._comm_per_token * batch
        )

    def decode_terms(self, sms: int, batch: int) -> tuple[float, float]:
        """(time independent of KV, seconds per KV token) of a decode iteration: the engine's fast path."""
        fixed = self._dec_w[sms] + self._dec_a[sms] * batch + self._comm_fixed + self._comm_per_token * batch
        return fixed, self._dec_c[sms]

    def mixed_s(self, sms: int, tokens: int, e2: float, batch: int, kv_tokens: int) -> float:
        """A chunked-prefill iteration: `tokens` prompt tokens plus one token each of `batch` decoding sequences."""
        if tokens == 0:
            return self.decode_s(sms, batch, kv_tokens)
        return self.prefill_s(sms, tokens + batch, e2) + self._dec_c[sms] * kv_tokens

    def layer_ms(self, sms: int, phase: str, tokens: int = 0, batch: int = 0, kv_len: int = 0) -> float:
        """One reference layer in milliseconds, the quantity `layer_grid` measured (for validation)."""
        per_layer = 1e3 / self.model.layers
        if phase == "prefill":
            return (self.prefill_s(sms, tokens, float(tokens) ** 2) - self._comm_fixed) * per_layer
        return (self.decode_s(sms, batch, batch * kv_len) - self._comm_fixed) * per_layer

    def corun_rates(self, prefill_sms: int, oversubscribed: bool) -> tuple[float, float]:
        """(prefill, decode) progress rates while both workers are busy (tabulated per SM count)."""
        if oversubscribed:
            return self._corun_over
        return self._corun_table[prefill_sms]


@dataclass(frozen=True)
class HoldoutReport:
    """Relative errors of the performance model on `layer_grid` rows left out of its fit.

    Attributes:
        rows: (sms, phase, tokens, batch, kv_len, measured ms, predicted ms) per held-out row.
        mape: mean absolute relative error.
        max_error: largest absolute relative error.
    """

    rows: tuple[tuple[int, str, int, int, int, float, float], ...]
    mape: float
    max_error: float


def holdout_report(calibration: dict[str, Any], held_out: RowFilter | None = None) -> HoldoutReport:
    """Refit without the held-out rows and compare predictions with their measurements.

    The default holds out every row measured on 48 and 96 SMs (whole SM counts the fit must interpolate) and the
    2,048-token prefill rows on the other SM counts.
    """
    rule: RowFilter = held_out or (lambda r: r["sms"] in (48, 96) or (r["phase"] == "prefill" and r["tokens"] == 2048))
    model = PerfModel(calibration, REFERENCE, exclude=rule)
    out = []
    for r in calibration["sections"]["layer_grid"]["rows"]:
        if not rule(r):
            continue
        pred = model.layer_ms(int(r["sms"]), r["phase"], int(r["tokens"]), int(r["batch"]), int(r["kv_len"]))
        out.append((int(r["sms"]), r["phase"], int(r["tokens"]), int(r["batch"]), int(r["kv_len"]), r["ms"], pred))
    errors = [abs(p - m) / m for *_, m, p in out]
    return HoldoutReport(tuple(out), float(np.mean(errors)), float(np.max(errors)))


def fit_error_report(calibration: dict[str, Any]) -> HoldoutReport:
    """In-sample errors of the full fit on every `layer_grid` row (how well the functional form fits)."""
    model = PerfModel(calibration, REFERENCE)
    out = []
    for r in calibration["sections"]["layer_grid"]["rows"]:
        pred = model.layer_ms(int(r["sms"]), r["phase"], int(r["tokens"]), int(r["batch"]), int(r["kv_len"]))
        out.append((int(r["sms"]), r["phase"], int(r["tokens"]), int(r["batch"]), int(r["kv_len"]), r["ms"], pred))
    errors = [abs(p - m) / m for *_, m, p in out]
    return HoldoutReport(tuple(out), float(np.mean(errors)), float(np.max(errors)))
