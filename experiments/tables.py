"""Cross-evaluation tables: the headline metric of several summary.json files side by side."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sysgym.envs.core.errors import SysgymError


def _load(path: Path) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise SysgymError(f"cannot read summary {str(path)!r}: {exc}") from exc
    if "policies" not in data or "headline_metric" not in data:
        raise SysgymError(f"{path} is not a summary.json written by `sysgym eval`")
    return data


def results_table(paths: list[Path], command: str) -> str:
    """Markdown: one row per evaluation, the best policy and every policy's headline mean ± std."""
    lines = [
        "# Results",
        "",
        "Generated from the summary.json files below; mean ± std over the seeds listed. Best is by the headline",
        "metric's direction. Each folder's summary.md has every metric and command.txt the command that made it.",
        "",
        "| env | workload | seeds | headline | best | every policy (mean ± std) |",
        "|---|---|---|---|---|---|",
    ]
    for path in paths:
        s = _load(path)
        metric = s["headline_metric"]
        cells = ", ".join(
            f"{name} {s['policies'][name][metric]['mean']:.4g} ± {s['policies'][name][metric]['std']:.2g}"
            for name in s["ranking"]
        )
        best = s["ranking"][0] if s["ranking"] else "-"
        seeds = f"{len(s['seeds'])} ({min(s['seeds'])}-{max(s['seeds'])})" if s["seeds"] else "-"
        lines.append(f"| {s['env']} | {s['workload']} | {seeds} | {metric} | {best} | {cells} |")
    lines += ["", "Command:", "", f"    {command}", ""]
    return "\n".join(lines)
