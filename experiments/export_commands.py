"""`sysgym export` and `sysgym deploy`: typer command functions, registered by `experiments/cli.py`.

Torch and SB3 are imported inside `export` only: `deploy` runs an artifact with numpy or onnxruntime.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from sysgym.envs.core.errors import SysgymError
from sysgym.envs.registry import spec
from sysgym.experiments.arguments import parse_kwargs

console = Console()
errors = Console(stderr=True)


def _fail(exc: Exception) -> typer.Exit:
    errors.print(f"[bold red]error:[/] {exc}", highlight=False)
    return typer.Exit(code=2)


def export(
    run_dir: Annotated[Path, typer.Argument(help="Run folder written by `sysgym train`.")],
    out: Annotated[Path, typer.Option(help="Artifact file (.onnx or .npz; the suffix is added when missing).")],
    format: Annotated[str, typer.Option("--format", help="onnx or numpy.")] = "onnx",
) -> None:
    """Export a trained run as one artifact: normalisation, network, mask and post-processing, plus metadata."""
    try:
        from sysgym.agents.export.export import export_run
        from sysgym.runtime.policy import load

        path = export_run(run_dir, format, out)
        meta = load(path).metadata
    except SysgymError as exc:
        raise _fail(exc) from exc
    size = path.stat().st_size
    console.print(
        f"wrote {path} ({size / 1024:.1f} KiB): {meta.algorithm} for {meta.env_id}, run {meta.run_id}", highlight=False
    )


def deploy(
    file: Annotated[Path, typer.Argument(help="Artifact written by `sysgym export` (.onnx or .npz).")],
    env: Annotated[str, typer.Option(help="Registered env id whose runtime loop the policy acts in.")],
    out: Annotated[Path, typer.Option(help="Folder for summary.json, summary.md, decisions.csv, plots.")],
    backend: Annotated[str, typer.Option(help="model or live.")] = "model",
    workload: Annotated[str | None, typer.Option(help="Built-in workload name or trace file.")] = None,
    duration: Annotated[float | None, typer.Option(help="Keep starting episodes for this many seconds.")] = None,
    episodes: Annotated[
        int | None, typer.Option(help="Most episodes (default 1, or unlimited with --duration).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the first episode (episode i uses seed + i).")] = 0,
    env_kwargs: Annotated[list[str] | None, typer.Option("--env-kwargs", help="key=value env overrides.")] = None,
) -> None:
    """Run an exported policy in the env's runtime loop (model or live backend) and log every decision's latency."""
    from sysgym.runtime.deploy import DeployConfig, run

    try:
        config = DeployConfig(
            artifact=file,
            env_id=env,
            backend=backend,
            workload=workload,
            duration_s=duration,
            episodes=episodes,
            seed=seed,
            env_kwargs=parse_kwargs(env_kwargs or []),
        )
        headline = spec(env).headline_metric
        summary = run(
            config,
            out,
            on_episode=lambda r: errors.print(
                f"episode seed {r.seed}: {len(r.actions)} decisions, {headline} {r.metrics[headline]:g}"
            ),
        )
    except SysgymError as exc:
        raise _fail(exc) from exc
    console.print((out / "summary.md").read_text(), markup=False, highlight=False)
    latency = summary["deploy"]["decision_latency_us"]
    console.print(
        f"decision latency p50 {latency.get('p50', float('nan')):.1f} µs, p99 {latency.get('p99', float('nan')):.1f} µs"
    )
