"""Writes the live-vs-model table from two `sysgym eval` summaries of the same scenario, seeds and settings.

Usage: python -m sysgym.runtime.spark.compare LIVE/summary.json MODEL/summary.json --out FILE.md
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path
from typing import Any

METRIC = "mean_response_time_s"
TIE = 1e-9
"""Model means closer than this are one policy's decisions twice (e.g. `fifo` and `fair`)."""
SMALL = "small_job_mean_response_time_s"


def table(live: dict[str, Any], model: dict[str, Any]) -> str:
    """Per policy: mean RT on both backends with the relative error, plus both rankings."""
    policies = [p for p in live["policies"] if p in model["policies"]]
    rank_live = sorted(policies, key=lambda p: live["policies"][p][METRIC]["mean"])
    rank_model = sorted(policies, key=lambda p: model["policies"][p][METRIC]["mean"])
    lines = [
        "# Live Spark vs model: SparkJobOrder-v0",
        "",
        f"Workload `{live['workload']}`, seeds {live['seeds']}, env kwargs {json.dumps(live['env_kwargs'])}.",
        "Live: real PySpark (`local[cores]`, FAIR scheduler, one pool per user), tasks released by the policy.",
        "Relative error = (live - model) / live of the mean over seeds.",
        "",
        "| policy | live mean RT (s) | model mean RT (s) | rel. error | live small-job RT (s) "
        "| model small-job RT (s) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    errors = []
    for policy in policies:
        lv = live["policies"][policy]
        md = model["policies"][policy]
        error = (lv[METRIC]["mean"] - md[METRIC]["mean"]) / lv[METRIC]["mean"]
        errors.append(abs(error))
        lines.append(
            f"| {policy} | {lv[METRIC]['mean']:.2f} ± {lv[METRIC]['std']:.2f} | "
            f"{md[METRIC]['mean']:.2f} ± {md[METRIC]['std']:.2f} | {100 * error:+.1f} % | "
            f"{lv[SMALL]['mean']:.2f} | {md[SMALL]['mean']:.2f} |"
        )
    model_mean = {p: model["policies"][p][METRIC]["mean"] for p in policies}
    live_mean = {p: live["policies"][p][METRIC]["mean"] for p in policies}
    same = all(live_mean[a] < live_mean[b] for a in policies for b in policies if model_mean[a] < model_mean[b] - TIE)
    lines += [
        "",
        f"Ranking on {METRIC}, live: {' < '.join(rank_live)}; model: {weak_order(rank_model, model_mean)} "
        f"({'consistent' if same else 'NOT consistent'}).",
        "Consistent means every pair the model orders strictly is ordered the same way live; policies the model ties",
        "(`fifo` and `fair` make identical decisions) may fall either way live.",
        f"Largest relative error of mean RT: {100 * max(errors):.1f} % (goal: under 25 % and the same ranking).",
        "",
        "Commands:",
        "",
        f"    {live.get('command', '')}",
        f"    {model.get('command', '')}",
        "",
    ]
    return "\n".join(lines)


def weak_order(ranked: list[str], mean: dict[str, float]) -> str:
    """`a < b = c`: the ranking with ties written as `=`."""
    text = ranked[0]
    for before, after in itertools.pairwise(ranked):
        text += (" = " if abs(mean[after] - mean[before]) <= TIE else " < ") + after
    return text


def main() -> None:
    """Parse the two summaries and write the markdown."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("live", type=Path)
    parser.add_argument("model", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    live = json.loads(args.live.read_text())
    model = json.loads(args.model.read_text())
    args.out.write_text(table(live, model))


if __name__ == "__main__":
    main()
