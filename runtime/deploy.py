"""`sysgym deploy`: run an exported policy where decisions are made, and measure what each decision costs.

The artifact acts inside the env's own runtime loop on the `model` or `live` backend (same spaces, so a policy
trained on the model deploys on the live system unchanged). Every decision's latency (the artifact's `act`,
observation in, action out) is logged; the report is the harness's summary.json (metrics over episodes, the
same shape `sysgym eval` writes) plus decision-latency percentiles and the artifact's provenance.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sysgym.envs.core.config import require
from sysgym.envs.registry import spec
from sysgym.experiments.harness import run_episode
from sysgym.experiments.records import EpisodeRecord, to_json_value
from sysgym.experiments.reports import write_report
from sysgym.runtime.policy import load
from sysgym.runtime.policy.adapter import ArtifactPolicy, check_env

PERCENTILES = (50, 90, 99, 99.9)


@dataclass(frozen=True)
class DeployConfig:
    """One deployment.

    Attributes:
        artifact: the `.onnx` or `.npz` file written by `sysgym export`.
        env_id: the env whose runtime loop the policy acts in.
        backend: `model` or `live`.
        workload: built-in workload name or trace path (None: the env's default).
        duration_s: keep starting episodes until this many wall-clock seconds have passed (None: no limit).
        episodes: the most episodes to run (None: one unless `duration_s` is given, then no limit).
        seed: seed of the first episode; episode `i` uses `seed + i`.
        env_kwargs: further env kwargs.
    """

    artifact: Path
    env_id: str
    backend: str = "model"
    workload: str | None = None
    duration_s: float | None = None
    episodes: int | None = None
    seed: int = 0
    env_kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        require(self.duration_s is None or self.duration_s > 0, f"duration must be > 0 s, got {self.duration_s}")
        require(self.episodes is None or self.episodes >= 1, f"episodes must be >= 1, got {self.episodes}")

    def kwargs(self) -> dict[str, Any]:
        """The `gym.make` kwargs of every episode."""
        kwargs = dict(self.env_kwargs)
        if self.workload is not None:
            kwargs["workload"] = self.workload
        if self.backend != "model":
            kwargs["backend"] = self.backend
        return kwargs


class DecisionLog:
    """Times every decision of an artifact and keeps (episode, step, action, latency)."""

    def __init__(self, policy: ArtifactPolicy) -> None:
        self.policy = policy
        self.rows: list[tuple[int, int, Any, float]] = []
        self.episode = 0
        self._step = 0

    def start(self, episode: int) -> None:
        """Number the following decisions as episode `episode`."""
        self.episode = episode
        self._step = 0

    def act(self, obs: Any, info: dict[str, Any]) -> Any:
        """The policy's action, timed with `perf_counter_ns` around exactly the artifact's call."""
        mask = info.get("action_mask")
        runtime = self.policy.runtime
        begin = time.perf_counter_ns()
        action = runtime.act(obs, mask)
        elapsed = time.perf_counter_ns() - begin
        self.rows.append((self.episode, self._step, to_json_value(action), elapsed / 1e3))
        self._step += 1
        return action

    def latencies_us(self) -> np.ndarray:
        """Every decision's latency in microseconds."""
        return np.array([row[3] for row in self.rows], dtype=np.float64)

    def write_csv(self, path: Path) -> None:
        """decisions.csv: episode, step, action (JSON), latency_us."""
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["episode", "step", "action", "latency_us"])
            for episode, step, action, latency in self.rows:
                writer.writerow([episode, step, json.dumps(action), f"{latency:.3f}"])


def latency_summary(latencies_us: np.ndarray) -> dict[str, float]:
    """Count, mean, max and percentiles of decision latency (microseconds)."""
    if latencies_us.size == 0:
        return {"count": 0.0}
    summary = {"count": float(latencies_us.size), "mean": float(latencies_us.mean()), "max": float(latencies_us.max())}
    for q in PERCENTILES:
        summary[f"p{q:g}"] = float(np.percentile(latencies_us, q))
    return summary


def run(config: DeployConfig, out: Path, on_episode: Callable[[EpisodeRecord], None] | None = None) -> dict[str, Any]:
    """Deploy `config.artifact`, write the report into `out` and return the summary."""
    env_spec = spec(config.env_id)
    runtime = load(config.artifact)
    kwargs = config.kwargs()
    check_env(runtime, env_spec.id, kwargs)
    policy = ArtifactPolicy(runtime, config.artifact, env_spec.id)
    log = DecisionLog(policy)
    limit = config.episodes if config.episodes is not None else (None if config.duration_s else 1)
    records: list[EpisodeRecord] = []
    started = time.perf_counter()
    while limit is None or len(records) < limit:
        log.start(len(records))
        record = run_episode(env_spec.id, policy, config.seed + len(records), kwargs, act=log.act)
        records.append(record)
        if on_episode is not None:
            on_episode(record)
        if config.duration_s is not None and time.perf_counter() - started >= config.duration_s:
            break
    summary = write_report(env_spec, records, kwargs, out)
    latency = latency_summary(log.latencies_us())
    meta = runtime.metadata
    summary["deploy"] = {
        "artifact": str(config.artifact),
        "format": config.artifact.suffix.lstrip("."),
        "run_id": meta.run_id,
        "algorithm": meta.algorithm,
        "trained_on": meta.env_id,
        "exported_by": meta.sysgym_version,
        "episodes": len(records),
        "wall_s": time.perf_counter() - started,
        "decision_latency_us": latency,
        "memory_bytes": runtime.memory_bytes,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    log.write_csv(out / "decisions.csv")
    with (out / "summary.md").open("a") as handle:
        handle.write(_latency_markdown(summary["deploy"]))
    return summary


def _latency_markdown(deploy: dict[str, Any]) -> str:
    latency = deploy["decision_latency_us"]
    cells = " | ".join(f"{latency.get(f'p{q:g}', float('nan')):.1f}" for q in PERCENTILES)
    return "\n".join(
        [
            "",
            f"## Deployment of `{deploy['artifact']}` ({deploy['algorithm']}, run `{deploy['run_id']}`)",
            "",
            f"{int(latency['count'])} decisions over {deploy['episodes']} episode(s) in {deploy['wall_s']:.1f} s;"
            f" policy memory {deploy['memory_bytes'] / 1024:.1f} KiB.",
            "",
            "| decision latency (µs) | " + " | ".join(f"p{q:g}" for q in PERCENTILES) + " | mean |",
            "|---|" + "---:|" * (len(PERCENTILES) + 1),
            f"| {deploy['format']} | {cells} | {latency.get('mean', float('nan')):.1f} |",
            "",
        ]
    )
