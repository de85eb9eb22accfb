"""The env's metrics, computed from per-job submission and completion times (the same for both backends)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

METRICS = (
    "mean_response_time_s",
    "small_job_mean_response_time_s",
    "p90_response_time_s",
    "mean_slowdown",
    "dvr",
    "makespan_s",
    "jobs_finished",
)


@dataclass(frozen=True)
class JobTimes:
    """What one episode measured per job (indexed like the workload's jobs).

    Attributes:
        arrival: submission times (s), inf for jobs never submitted.
        finish: completion times (s), inf for unfinished jobs.
        isolated: isolated runtimes (s), the slowdown denominator.
        small: True for jobs tagged `small`.
    """

    arrival: np.ndarray
    finish: np.ndarray
    isolated: np.ndarray
    small: np.ndarray


def episode_metrics(times: JobTimes, reference: JobTimes | None) -> dict[str, float]:
    """Headline and secondary metrics over finished jobs; `reference` is the UJF run for DVR.

    DVR (§6): per job, ratio = (end - end_ref) / response_time_ref with ends measured from each run's start;
    the mean of the positive ratios (0 when UJF finishes no job earlier). `small_job_mean_response_time_s` is
    NaN on a workload without `small` jobs.
    """
    done = np.isfinite(times.finish)
    rt = times.finish[done] - times.arrival[done]
    small = rt[times.small[done]]
    metrics = {
        "mean_response_time_s": float(rt.mean()) if rt.size else float("nan"),
        "small_job_mean_response_time_s": float(small.mean()) if small.size else float("nan"),
        "p90_response_time_s": float(np.percentile(rt, 90)) if rt.size else float("nan"),
        "mean_slowdown": float((rt / times.isolated[done]).mean()) if rt.size else float("nan"),
        "makespan_s": float(times.finish[done].max()) if rt.size else 0.0,
        "jobs_finished": float(done.sum()),
        "dvr": float("nan"),
    }
    if reference is not None:
        both = done & np.isfinite(reference.finish)
        ref_rt = reference.finish[both] - reference.arrival[both]
        ratio = (times.finish[both] - reference.finish[both]) / ref_rt
        positive = ratio[ratio > 0]
        metrics["dvr"] = float(positive.mean()) if positive.size else 0.0
    return metrics
