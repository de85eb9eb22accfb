"""Writes the live-vs-model table from two `sysgym eval` summaries of the same scenario, seeds and settings.

Besides the uncalibrated model (the `sysgym eval --backend model` summary: `task_overhead_s=0`,
`task_slowdown=1`), it runs the model again calibrated to the live run, episode by episode: for each policy and
seed, `task_overhead_s` = a and `task_slowdown` = b of the line `real task time = a + b * nominal` that this live
episode's backend fitted at start-up, before the episode's clock started, to real UDF tasks of the workload's
task sizes (metrics `live_task_overhead_s`, `live_task_slowdown`). Each live episode starts its own SparkSession
and calibration, so each model episode gets the calibration of the live episode it is compared with, measured
under the machine's load of that moment. As a diagnostic it also runs the model with each episode's mean real
excess time per task (`live_task_excess_s`) as a pure per-task overhead: that one is read from the very
episodes it is compared with, so it shows what a per-task term can explain rather than being a calibration.
A second diagnostic runs the model with the line fitted afterwards to each live episode's own tasks
(`live_episode_task_overhead_s`, `live_episode_task_slowdown`): what a perfectly calibrated line would give,
which separates the model's own error from the drift of the machine's load after start-up.

Usage: python -m sysgym.runtime.spark.compare LIVE/summary.json MODEL/summary.json --out FILE.md
"""

from __future__ import annotations

import argparse
import itertools
import json
import shlex
import statistics
import sys
from pathlib import Path
from typing import Any

from sysgym.agents.resolve import resolve
from sysgym.envs.core.errors import ConfigError
from sysgym.experiments.harness import run_episode

METRIC = "mean_response_time_s"
TIE = 1e-9
"""Model means closer than this are one policy's decisions twice (e.g. `fifo` and `fair`)."""
SMALL = "small_job_mean_response_time_s"
OVERHEAD = "live_task_overhead_s"
SLOWDOWN = "live_task_slowdown"
RMS = "live_task_fit_rms_s"
EXCESS = "live_task_excess_s"
FIT_EXCESS = "live_task_fit_excess_s"
OWN_OVERHEAD = "live_episode_task_overhead_s"
OWN_SLOWDOWN = "live_episode_task_slowdown"
LOAD = "live_load_avg_1m"
GOAL = 0.25
"""Largest acceptable relative error of the mean response time (issue 7)."""

Means = dict[str, dict[str, float]]
"""Per policy, per metric: the mean over seeds."""


def means(summary: dict[str, Any], policies: list[str]) -> Means:
    """Per-policy metric means of a `sysgym eval` summary."""
    return {p: {m: float(v["mean"]) for m, v in summary["policies"][p].items()} for p in policies}


def live_mean(summary: dict[str, Any], policies: list[str], metric: str) -> float:
    """Mean of a live diagnostic over every episode of the live run (all policies and seeds)."""
    try:
        values = [float(x) for p in policies for x in summary["policies"][p][metric]["values"]]
    except KeyError as exc:
        raise ConfigError(f"the live summary has no {metric!r}: rerun the live eval with this version") from exc
    return statistics.fmean(values)


def live_range(summary: dict[str, Any], policies: list[str], metric: str) -> str:
    """`lo-hi` of a live diagnostic over every episode of the live run (3 decimals)."""
    values = [float(x) for p in policies for x in summary["policies"][p][metric]["values"]]
    return f"{min(values):.3f}-{max(values):.3f}"


Term = str | float
"""A model parameter: a live metric's name (each live episode's own value is used) or a constant."""


def episode_value(live: dict[str, Any], policy: str, index: int, term: Term) -> float:
    """`term` for the live episode of `policy` on the `index`-th seed."""
    if not isinstance(term, str):
        return term
    try:
        return float(live["policies"][policy][term]["values"][index])
    except KeyError as exc:
        raise ConfigError(f"the live summary has no {term!r}: rerun the live eval with this version") from exc


def run_model(live: dict[str, Any], policies: list[str], task_overhead_s: Term, task_slowdown: Term = 1.0) -> Means:
    """The model on the live run's env kwargs and seeds, with `task_overhead_s` and `task_slowdown` set per episode.

    A parameter given as a live metric's name takes, for each policy and seed, the value that live episode
    reported, so every model episode is calibrated like the live episode it is compared with. Values are clipped
    to the model's ranges (overhead [0, 60] s, slowdown [0.1, 10]): a negative mean excess (tasks faster than
    nominal) is not a per-task overhead.
    """
    out: Means = {}
    for name in policies:
        policy = resolve(live["env"], name)
        records = []
        for index, seed in enumerate(live["seeds"]):
            kwargs = {
                **live["env_kwargs"],
                "backend": "model",
                "task_overhead_s": min(max(episode_value(live, name, index, task_overhead_s), 0.0), 60.0),
                "task_slowdown": min(max(episode_value(live, name, index, task_slowdown), 0.1), 10.0),
            }
            records.append(run_episode(live["env"], policy, seed, kwargs))
        out[name] = {m: statistics.fmean(r.metrics[m] for r in records) for m in (METRIC, SMALL)}
    return out


def error(live: Means, model: Means, policy: str) -> float:
    """Relative error (live - model) / live of the mean response time."""
    return (live[policy][METRIC] - model[policy][METRIC]) / live[policy][METRIC]


def table(
    live_summary: dict[str, Any],
    model_summary: dict[str, Any],
    calibrated: Means,
    diagnostic: Means,
    episode_fit: Means,
    command: str,
) -> str:
    """Per policy: live, uncalibrated and calibrated model mean RT with errors, rankings and the live diagnostics."""
    policies = [p for p in live_summary["policies"] if p in model_summary["policies"]]
    live = means(live_summary, policies)
    before = means(model_summary, policies)
    overhead = live_mean(live_summary, policies, OVERHEAD)
    slowdown = live_mean(live_summary, policies, SLOWDOWN)
    excess = live_mean(live_summary, policies, EXCESS)
    own_overhead = live_mean(live_summary, policies, OWN_OVERHEAD)
    own_slowdown = live_mean(live_summary, policies, OWN_SLOWDOWN)
    lines = [
        "# Live Spark vs model: SparkJobOrder-v0",
        "",
        f"Workload `{live_summary['workload']}`, seeds {live_summary['seeds']}, env kwargs "
        f"{json.dumps(live_summary['env_kwargs'])}.",
        "Live: real PySpark (`local[cores]`, FAIR scheduler, one pool per user), tasks released by the policy, each",
        "as its own one-partition Spark job. Relative error = (live - model) / live of the mean over seeds.",
        "",
        "- *before*: the model as registered (`task_overhead_s=0`, `task_slowdown=1`: Spark's scheduling is free "
        "and the UDF runs at its nominal speed).",
        "- *after*: the model calibrated to the live run with the line real task time = a + b x nominal "
        f"(`task_overhead_s` = a, `task_slowdown` = b), fitted at start-up: a = {overhead:.3f} s and "
        f"b = {slowdown:.3f} on average over the live episodes (a {live_range(live_summary, policies, OVERHEAD)} s, "
        f"b {live_range(live_summary, policies, SLOWDOWN)}). Each live episode measured its own a and b at "
        "start-up, before its clock started, by timing one-partition jobs running the real UDF at the shortest, "
        "median and 90th-percentile task durations of its workload from every core at once (metrics "
        "`live_task_overhead_s`, `live_task_slowdown`); each model episode uses the a and b of the live episode "
        "(policy, seed) it is compared with. Nothing is read from the compared episodes.",
        "- *diagnostic*: the model with `task_overhead_s` = the live episode's mean real excess time per task "
        f"(`live_task_excess_s`: real task time minus its duration; {excess:.3f} s on average) and "
        "`task_slowdown=1` (a negative excess is clipped to 0); read from the compared episodes themselves, so a "
        "check of what a per-task term explains, not a calibration.",
        "- *episode fit*: a second diagnostic, the model with the line fitted afterwards to each live episode's own "
        f"tasks (real vs nominal time of every task; a = {own_overhead:.3f} s and b = {own_slowdown:.3f} on "
        "average, `live_episode_task_overhead_s`, `live_episode_task_slowdown`): what a perfectly calibrated "
        "line gives, so its error is the model's own and the gap to *after* is the machine's drift after "
        "start-up.",
        "",
        "| policy | live mean RT (s) | model before (s) | error before | model after (s) | error after "
        "| diagnostic (s) | error diag. | episode fit (s) | error ep. fit | live small-job RT (s) "
        "| model small-job RT before / after (s) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for policy in policies:
        lv = live_summary["policies"][policy][METRIC]
        lines.append(
            f"| {policy} | {lv['mean']:.2f} ± {lv['std']:.2f} | {before[policy][METRIC]:.2f} | "
            f"{100 * error(live, before, policy):+.1f} % | {calibrated[policy][METRIC]:.2f} | "
            f"{100 * error(live, calibrated, policy):+.1f} % | {diagnostic[policy][METRIC]:.2f} | "
            f"{100 * error(live, diagnostic, policy):+.1f} % | {episode_fit[policy][METRIC]:.2f} | "
            f"{100 * error(live, episode_fit, policy):+.1f} % | {live[policy][SMALL]:.2f} | "
            f"{before[policy][SMALL]:.2f} / {calibrated[policy][SMALL]:.2f} |"
        )
    lines += [
        "",
        "Live diagnostics per policy (mean over seeds): the start-up fit (a, b and its residual over the timed",
        "tasks), the real excess time per task during the episode next to the excess the start-up fit predicts",
        "for the same tasks (a + (b - 1) x duration), the line fitted afterwards to the episode's own tasks, and",
        "the machine's 1-minute load average sampled at every decision (2 CPUs; it includes this run's own busy",
        "cores, about 2, and any other jobs on the machine).",
        "",
        "| policy | a: live_task_overhead_s | b: live_task_slowdown | fit rms (s) | live_task_excess_s "
        "| fit's excess (s) | episode's own a (s) / b | live_load_avg_1m |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for policy in policies:
        row = live[policy]
        lines.append(
            f"| {policy} | {row[OVERHEAD]:.3f} | {row[SLOWDOWN]:.3f} | {row[RMS]:.3f} | {row[EXCESS]:.3f} | "
            f"{row[FIT_EXCESS]:.3f} | {row[OWN_OVERHEAD]:.3f} / {row[OWN_SLOWDOWN]:.3f} | {row[LOAD]:.2f} |"
        )
    worst = {
        name: max(abs(error(live, m, p)) for p in policies)
        for name, m in (("before", before), ("after", calibrated), ("diagnostic", diagnostic), ("own", episode_fit))
    }
    lines += [
        "",
        f"Ranking on {METRIC}: live {order(policies, live)}; model before {order(policies, before)} "
        f"({consistency(policies, live, before, before)}); after {order(policies, calibrated)} "
        f"({consistency(policies, live, calibrated, before)}).",
        "Consistent means every pair the model orders strictly is ordered the same way live, leaving out policies the",
        "uncalibrated model ties (`fifo` and `fair` make identical decisions): they may fall either way live, and",
        "the calibrated model orders them only by the different a and b their live episodes measured at start-up.",
        f"Largest relative error of mean RT: before {100 * worst['before']:.1f} %, after "
        f"{100 * worst['after']:.1f} %, diagnostic {100 * worst['diagnostic']:.1f} %, episode fit "
        f"{100 * worst['own']:.1f} % (goal: under {100 * GOAL:.0f} % and the same ranking; after "
        f"{verdict(worst['after'], policies, live, calibrated, before)}).",
        "",
        "Commands:",
        "",
        f"    {live_summary.get('command', '')}",
        f"    {model_summary.get('command', '')}",
        f"    {command}",
        "",
    ]
    return "\n".join(lines)


def verdict(worst: float, policies: list[str], live: Means, model: Means, before: Means) -> str:
    """`meets it` only when the error is under the goal and the ranking is consistent."""
    if worst >= GOAL:
        return "misses it"
    if consistency(policies, live, model, before) != "consistent":
        return "misses it on the ranking"
    return "meets it"


def order(policies: list[str], mean: Means) -> str:
    """`a < b = c`: the ranking on the mean response time with ties written as `=`."""
    ranked = sorted(policies, key=lambda p: mean[p][METRIC])
    text = ranked[0]
    for before, after in itertools.pairwise(ranked):
        text += (" = " if abs(mean[after][METRIC] - mean[before][METRIC]) <= TIE else " < ") + after
    return text


def consistency(policies: list[str], live: Means, model: Means, same_decisions: Means) -> str:
    """Whether every pair the model orders strictly is ordered the same way live.

    Pairs tied in `same_decisions` (the uncalibrated model: equal means there are the same decisions on every
    seed) are left out: the per-episode calibration gives them different a and b, so the calibrated model orders
    them by the machine's speed at their start-ups, not by anything the policies do.
    """
    same = all(
        live[a][METRIC] < live[b][METRIC]
        for a in policies
        for b in policies
        if model[a][METRIC] < model[b][METRIC] - TIE
        and abs(same_decisions[a][METRIC] - same_decisions[b][METRIC]) > TIE
    )
    return "consistent" if same else "NOT consistent"


def main() -> None:
    """Parse the two summaries, run the calibrated and both diagnostic models and write the markdown."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("live", type=Path)
    parser.add_argument("model", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    live = json.loads(args.live.read_text())
    model = json.loads(args.model.read_text())
    policies = [p for p in live["policies"] if p in model["policies"]]
    calibrated = run_model(live, policies, OVERHEAD, SLOWDOWN)
    diagnostic = run_model(live, policies, EXCESS)
    episode_fit = run_model(live, policies, OWN_OVERHEAD, OWN_SLOWDOWN)
    command = shlex.join(["python", "-m", "sysgym.runtime.spark.compare", *sys.argv[1:]])
    args.out.write_text(table(live, model, calibrated, diagnostic, episode_fit, command))


if __name__ == "__main__":
    main()
