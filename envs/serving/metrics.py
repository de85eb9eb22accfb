"""Request-level serving metrics: SLO attainment, goodput, latency percentiles."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sysgym.envs.serving.models import Slo
from sysgym.envs.serving.request import Request


def attained(req: Request, objective: Slo) -> bool:
    """Whether a finished request met both its TTFT and TPOT objectives."""
    return req.ttft() <= objective.ttft_s and req.tpot() <= objective.tpot_s


def summarize(finished: Sequence[Request], total: int, objective: Slo, duration_s: float) -> dict[str, float]:
    """The serving metrics of an episode.

    Args:
        finished: requests that finished.
        total: requests in the episode (unfinished ones count as missing their SLO).
        objective: the SLO.
        duration_s: simulated seconds of the episode (for goodput).

    Returns:
        slo_attainment, goodput_rps (requests within SLO per second), p90_ttft_s, p90_tpot_s, mean_latency_s,
        throughput_rps and finished.
    """
    if not finished:
        return {
            "slo_attainment": 0.0,
            "goodput_rps": 0.0,
            "p90_ttft_s": 0.0,
            "p90_tpot_s": 0.0,
            "mean_latency_s": 0.0,
            "throughput_rps": 0.0,
            "finished": 0.0,
        }
    ttft = np.array([r.first_token - r.arrival for r in finished])
    tpot = np.array([r.tpot() for r in finished])
    latency = np.array([r.finish - r.arrival for r in finished])
    ok = int(np.count_nonzero((ttft <= objective.ttft_s) & (tpot <= objective.tpot_s)))
    span = max(duration_s, 1e-9)
    return {
        "slo_attainment": ok / max(total, 1),
        "goodput_rps": ok / span,
        "p90_ttft_s": float(np.percentile(ttft, 90)),
        "p90_tpot_s": float(np.percentile(tpot, 90)),
        "mean_latency_s": float(latency.mean()),
        "throughput_rps": len(finished) / span,
        "finished": float(len(finished)),
    }
