"""Calibrated costs of one MoE layer step: expert GEMMs, launch overhead, all-to-all, weight copies, memory.

Fitted to the packaged H100 measurements (`sysgym.envs.calibration`, sections `moe_expert` and
`per_gemm_overhead`):

* An expert SwiGLU slice of B tokens costs `launch_ms + gemm_ms(B)`. `launch_ms` is the per-expert time of an
  eager Python loop over many small experts (`per_gemm_overhead`, rows with <= 256 tokens per expert: about
  57 us whatever the shape). `gemm_ms(B)` is the measured single-expert curve minus that launch cost (at least
  0), made non-decreasing by taking at each token count the smallest time measured at that count or above
  (the small-token points differ only by timing noise); it is flat while weight-read bound and then linear,
  interpolated piecewise-linearly between measured token counts and extrapolated with the last slope.
* Shapes that were not measured (DeepSeek-V3, Kimi-K2) scale the nearest measured shape (in log D*H) by
  D*H, which is both the FLOPs-per-token ratio and the weight-bytes ratio of a SwiGLU expert. Predicting one
  measured shape from another this way is within 20 % from 4096 tokens per expert on, where the paper's
  layers run, but up to 40 % low in the weight-read-bound regime below 1024 tokens (the tests check both).
  The eager-loop rows of `per_gemm_overhead` are predicted within 20 %.
* Communication was not measured (one GPU): link bandwidth is a documented parameter, NVLink 4's 450 GB/s per
  direction by default, plus a fixed latency per collective.
"""

from __future__ import annotations

import functools
import math
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from sysgym.envs.core.errors import ConfigError
from sysgym.envs.moe.models import BF16_BYTES, MoEModel

GIB = float(1 << 30)
_FAR_TOKENS = 1e12


@dataclass(frozen=True)
class Fabric:
    """The inter-device links, which one GPU cannot measure.

    Attributes:
        link_gbps: per-direction bandwidth of each device's link into the switch, GB/s (NVLink 4: 450).
        collective_ms: fixed latency of one all-to-all collective (launch and synchronisation), ms.
    """

    link_gbps: float = 450.0
    collective_ms: float = 0.02

    @property
    def bytes_per_ms(self) -> float:
        """Link bandwidth in bytes per millisecond."""
        return self.link_gbps * 1e6


@dataclass(frozen=True)
class ExpertCurve:
    """Time of one expert SwiGLU slice as a function of its token count.

    Attributes:
        launch_ms: per-slice fixed cost (kernel issue from an eager loop).
        tokens: increasing token grid, starting at 0 (last point far out, for linear extrapolation).
        slice_grid_ms: slice time (launch + GEMM) at each grid point; 0 at 0 tokens, where nothing launches.
        source: the measured shape the curve comes from.
        scale: factor applied to that shape's GEMM time (1 for a measured shape).
        ratio_grid: running minimum of time per token over the grid points from 1 token on.
    """

    launch_ms: float
    tokens: np.ndarray
    slice_grid_ms: np.ndarray
    source: str
    scale: float
    ratio_grid: np.ndarray

    def slice_ms(self, tokens: np.ndarray) -> np.ndarray:
        """Time of slices of `tokens` tokens each (token counts are integers, so (0, 1) never occurs)."""
        return np.interp(tokens, self.tokens, self.slice_grid_ms)

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the fields only: the cached closure of `scalar_ms` is rebuilt on first use."""
        return {k: v for k, v in self.__dict__.items() if k != "scalar_ms"}

    def one_ms(self, tokens: float) -> float:
        """Scalar `slice_ms` in plain Python (cheaper than numpy for the few slices a step changes)."""
        return self.scalar_ms(tokens)

    @functools.cached_property
    def scalar_grid(self) -> tuple[list[float], list[float], list[float]]:
        """Grid tokens, times and segment slopes as lists: slice i's time is slopes[i] * (t - xs[i]) + ys[i].

        That is np.interp's own formula, so plain-Python evaluations equal `slice_ms` exactly. Token counts stay
        below the far grid point (1e12), so i = bisect_right(xs, t) - 1 is always a segment.
        """
        xs, ys = self.tokens.tolist(), self.slice_grid_ms.tolist()
        return xs, ys, [(ys[i + 1] - ys[i]) / (xs[i + 1] - xs[i]) for i in range(len(xs) - 1)]

    @functools.cached_property
    def scalar_ms(self) -> Callable[[float], float]:
        """`one_ms` as a closure over `scalar_grid`, for hot loops."""
        xs, ys, slopes = self.scalar_grid
        top = len(xs) - 2

        def one(tokens: float) -> float:
            i = bisect_right(xs, tokens) - 1
            if i > top:
                i = top
            return slopes[i] * (tokens - xs[i]) + ys[i]

        return one

    def min_work_ms(self, tokens: np.ndarray) -> np.ndarray:
        """A lower bound on the total time of any split of `tokens` into slices.

        Every slice of b <= tokens costs at least b * min over 0 < x <= tokens of slice_ms(x) / x. The curve is
        piecewise linear, so that ratio is monotone on each segment and its running minimum is taken over the
        grid points and `tokens` itself: the bound is min(slice_ms(t), r_i * t) with r_i the running minimum
        over the measured points up to t's segment. That is piecewise linear too (`_min_work_grid`), so one
        interpolation evaluates it.
        """
        xs, ys = self._min_work_grid
        return np.interp(tokens, xs, ys)

    @functools.cached_property
    def whole_is_cheapest_to(self) -> float:
        """Up to this token count `min_work_ms` equals `slice_ms` (the running minimum is the curve itself there).

        Both are piecewise linear and the bound's breakpoints include the curve's, so they agree up to the last
        breakpoint before the first one where they differ. Bulk bounds interpolate only the loads above it.
        """
        xs, ys = self._min_work_grid
        curve = np.interp(xs, self.tokens, self.slice_grid_ms)
        differ = np.flatnonzero(~np.isclose(ys, curve, rtol=1e-12, atol=0.0))
        return float(xs[differ[0] - 1]) if differ.size else math.inf

    @functools.cached_property
    def _min_work_grid(self) -> tuple[np.ndarray, np.ndarray]:
        """Breakpoints of `min_work_ms`: the curve's grid plus, per segment, where the curve drops below r_i * t.

        Below the first measured point the bound is the curve itself; on the segment from measured point i to
        the next grid point it is min(curve, r_i * t), the minimum of two linear functions, which bends at most
        once. It is continuous at the grid points because r_i already includes point i.
        """
        xs, ys, ratio = self.tokens.tolist(), self.slice_grid_ms.tolist(), self.ratio_grid.tolist()
        points = [(0.0, 0.0)]
        for i in range(1, len(xs) - 1):
            left, right, r = xs[i], xs[i + 1], ratio[i - 1]
            above_left, above_right = ys[i] - r * left, ys[i + 1] - r * right
            points.append((left, min(ys[i], r * left)))
            if above_left > 0 > above_right:
                cross = left + above_left / (above_left - above_right) * (right - left)
                points.append((cross, r * cross))
        points.append((xs[-1], min(ys[-1], ratio[-1] * xs[-1])))
        return np.array([x for x, _ in points]), np.array([y for _, y in points])


def launch_overhead_ms(calibration: dict[str, Any]) -> float:
    """Per-expert fixed cost in an eager loop: the median per-expert time over many small experts."""
    rows = [r for r in calibration["sections"]["per_gemm_overhead"] if r["tokens_per_expert"] <= 256]
    if not rows:
        raise ConfigError("calibration has no per_gemm_overhead rows with <= 256 tokens per expert")
    return float(np.median([r["ms"] / r["experts"] for r in rows]))


def measured_shapes(calibration: dict[str, Any]) -> dict[tuple[int, int], list[tuple[int, float]]]:
    """The `moe_expert` curves by (hidden, inter): sorted (tokens, ms) points."""
    curves: dict[tuple[int, int], list[tuple[int, float]]] = {}
    for row in calibration["sections"]["moe_expert"]:
        if "tokens" in row:
            curves.setdefault((int(row["hidden"]), int(row["inter"])), []).append(
                (int(row["tokens"]), float(row["ms"]))
            )
    if not curves:
        raise ConfigError("calibration has no moe_expert curves")
    return {k: sorted(v) for k, v in curves.items()}


def expert_curve(model: MoEModel, calibration: dict[str, Any], hidden: int = 0, inter: int = 0) -> ExpertCurve:
    """Fit the slice-time curve of `model`'s expert (or of an explicit hidden x inter shape)."""
    d = hidden or model.hidden
    h = inter or model.inter
    launch = launch_overhead_ms(calibration)
    curves = measured_shapes(calibration)
    ref = min(curves, key=lambda s: (abs(math.log(s[0] * s[1] / (d * h))), s))
    scale = d * h / (ref[0] * ref[1])
    points = curves[ref]
    tokens = np.array([p[0] for p in points], dtype=np.float64)
    gemm = np.maximum(np.array([p[1] for p in points]) - launch, 0.0)
    gemm = np.minimum.accumulate(gemm[::-1])[::-1]
    slope = (gemm[-1] - gemm[-2]) / (tokens[-1] - tokens[-2])
    times = np.append(gemm, gemm[-1] + slope * (_FAR_TOKENS - tokens[-1])) * scale + launch
    grid = np.concatenate(([0.0], tokens, [_FAR_TOKENS]))
    ratio = np.minimum.accumulate(times[:-1] / tokens)
    return ExpertCurve(launch, grid, np.concatenate(([0.0], times)), f"{ref[0]}x{ref[1]}", scale, ratio)


@dataclass(frozen=True)
class Memory:
    """Per-device memory accounting of one layer.

    Attributes:
        capacity_bytes: what the layer may use on each device (device memory minus what is reserved).
        expert_bytes: one expert's weights.
        pair_bytes: bytes held per routed token for the whole layer (dispatched input and combined output).
        slice_bytes: bytes per token of the one slice in flight (gate, up and their product).
    """

    capacity_bytes: float
    expert_bytes: float
    pair_bytes: float
    slice_bytes: float


def memory_model(model: MoEModel, memory_gib: float, reserved_gib: float) -> Memory:
    """Looped GEMMs keep every routed token's input and output, but only one expert's intermediates at a time."""
    return Memory(
        capacity_bytes=(memory_gib - reserved_gib) * GIB,
        expert_bytes=float(model.expert_bytes),
        pair_bytes=2.0 * model.hidden * BF16_BYTES,
        slice_bytes=3.0 * model.inter * BF16_BYTES,
    )
