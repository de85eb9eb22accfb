"""Summaries of evaluated episodes: summary.json, summary.md and PNG plots, each beside the command that made it."""

from __future__ import annotations

import json
import math
import shlex
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from sysgym.envs.core.spec import SysEnvSpec
from sysgym.experiments.records import EpisodeRecord, write_records


def command_line() -> str:
    """The command that is running, as a user would type it."""
    return " ".join(["sysgym", *map(shlex.quote, sys.argv[1:])])


def summarise(spec: SysEnvSpec, records: list[EpisodeRecord], env_kwargs: dict[str, Any]) -> dict[str, Any]:
    """The summary.json object: per policy, per metric, mean / std / values over seeds, plus a ranking."""
    per_policy: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    seeds: list[int] = []
    for record in records:
        for metric, value in record.metrics.items():
            per_policy[record.policy][metric].append(value)
        if record.seed not in seeds:
            seeds.append(record.seed)
    policies: dict[str, dict[str, dict[str, Any]]] = {
        name: {
            metric: {"mean": float(np.mean(values)), "std": float(np.std(values)), "values": values}
            for metric, values in metrics.items()
        }
        for name, metrics in per_policy.items()
    }
    headline = spec.headline_metric
    ranked = sorted(
        (name for name in policies if headline in policies[name]),
        key=lambda name: policies[name][headline]["mean"] * (1 if spec.lower_is_better else -1),
    )
    backend = records[0].backend if records else str(env_kwargs.get("backend", "model"))
    return {
        "env": spec.id,
        "version": spec.version,
        "backend": backend,
        "workload": env_kwargs.get("workload", "default"),
        "env_kwargs": env_kwargs,
        "seeds": seeds,
        "headline_metric": headline,
        "lower_is_better": spec.lower_is_better,
        "ranking": ranked,
        "policies": policies,
        "command": command_line(),
    }


def markdown(summary: dict[str, Any]) -> str:
    """summary.md: a mean ± std table over seeds and the ranking on the headline metric."""
    policies: dict[str, dict[str, dict[str, Any]]] = summary["policies"]
    metrics = sorted({m for p in policies.values() for m in p}, key=lambda m: (m != summary["headline_metric"], m))
    direction = "lower is better" if summary["lower_is_better"] else "higher is better"
    lines = [
        f"# {summary['env']} (v{summary['version']}), backend `{summary['backend']}`, workload `{summary['workload']}`",
        "",
        f"Seeds {summary['seeds']}; mean ± std over seeds. Headline: `{summary['headline_metric']}` ({direction}).",
        "",
        "| policy | " + " | ".join(metrics) + " |",
        "|---|" + "---|" * len(metrics),
    ]
    for name in summary["ranking"] + [n for n in policies if n not in summary["ranking"]]:
        cells = [_cell(policies[name].get(m)) for m in metrics]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "Ranking (best first): " + ", ".join(summary["ranking"]), ""]
    lines += ["Command:", "", f"    {summary['command']}", ""]
    return "\n".join(lines)


def _cell(stat: dict[str, Any] | None) -> str:
    if stat is None:
        return "-"
    return f"{_num(stat['mean'])} ± {_num(stat['std'])}"


def _num(value: float) -> str:
    if value == 0 or not math.isfinite(value):
        return str(value)
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 1:
        return f"{value:.3g}" if magnitude < 10 else f"{value:.1f}"
    return f"{value:.3g}"


def plot_headline(summary: dict[str, Any], path: Path) -> None:
    """Bar chart of the headline metric per policy with std error bars."""
    names = summary["ranking"]
    metric = summary["headline_metric"]
    means = [summary["policies"][n][metric]["mean"] for n in names]
    stds = [summary["policies"][n][metric]["std"] for n in names]
    fig, ax = plt.subplots(figsize=(max(4.0, 0.9 * len(names) + 1.5), 3.6))
    ax.bar(names, means, yerr=stds, capsize=4, color="#4c72b0")
    ax.set_ylabel(metric)
    ax.set_title(f"{summary['env']} · {summary['workload']} · {len(summary['seeds'])} seeds")
    ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def plot_cdf(records: list[EpisodeRecord], key: str, title: str, path: Path) -> bool:
    """CDF of a per-item sample (pooled over seeds) per policy; False when no record has that sample."""
    pooled: dict[str, list[float]] = defaultdict(list)
    for record in records:
        pooled[record.policy].extend(record.samples.get(key, []))
    if not any(pooled.values()):
        return False
    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for name, values in pooled.items():
        if values:
            xs = np.sort(values)
            ax.step(xs, np.arange(1, len(xs) + 1) / len(xs), where="post", label=name)
    ax.set_xscale("log")
    ax.set_xlabel(key)
    ax.set_ylabel("CDF")
    ax.set_title(title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True


def write_report(
    spec: SysEnvSpec, records: list[EpisodeRecord], env_kwargs: dict[str, Any], out: Path
) -> dict[str, Any]:
    """Write every output of one evaluation into `out` and return the summary."""
    out.mkdir(parents=True, exist_ok=True)
    summary = summarise(spec, records, env_kwargs)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    (out / "summary.md").write_text(markdown(summary))
    (out / "command.txt").write_text(summary["command"] + "\n")
    write_records(out / "episodes.jsonl", records)
    if summary["ranking"]:
        plot_headline(summary, out / "headline.png")
    if spec.latency_sample:
        plot_cdf(records, spec.latency_sample, f"{spec.id} · {summary['workload']}", out / "cdf.png")
    return summary
