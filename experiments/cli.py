"""The `sysgym` command line (typer): list, eval, replay, bench, suite, table, calibrate."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

import sysgym
from sysgym.agents.resolve import expand, resolve
from sysgym.envs.core.errors import ConfigError, SysgymError, UnknownNameError
from sysgym.envs.registry import spec, specs
from sysgym.experiments import bench as bench_module
from sysgym.experiments import policy_bench
from sysgym.experiments.arguments import parse_kwargs, parse_seeds
from sysgym.experiments.export_commands import deploy, export
from sysgym.experiments.harness import run_episode
from sysgym.experiments.records import EpisodeRecord, read_records
from sysgym.experiments.replay import replay as replay_record
from sysgym.experiments.reports import command_line, write_report
from sysgym.experiments.tables import results_table
from sysgym.experiments.train_commands import sweep, train

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Gymnasium environments for systems decisions.")
console = Console(soft_wrap=True)
errors = Console(stderr=True)

CALIBRATION_TARGETS = {
    "storage": "sysgym.runtime.storage.calibrate:run",
    "gpu": "sysgym.runtime.gpu.calibrate:run",
}
"""`sysgym calibrate --target T` runs `module:function(out: Path)`, which writes a calibration JSON."""


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=errors,
        transient=True,
    )


def _fail(exc: Exception) -> typer.Exit:
    errors.print(f"[bold red]error:[/] {exc}", highlight=False)
    return typer.Exit(code=2)


@app.command("list")
def list_envs() -> None:
    """Registered env ids with their backends, workloads and baselines."""
    for s in specs():
        console.print(f"[bold]{s.id}[/]", highlight=False)
        console.print(f"  backends:  {', '.join(s.backends)}", highlight=False)
        console.print(f"  workloads: {', '.join(s.workloads)}", highlight=False)
        console.print(f"  baselines: {', '.join(s.baselines)}", highlight=False)
        direction = "lower" if s.lower_is_better else "higher"
        console.print(f"  headline:  {s.headline_metric} ({direction} is better)", highlight=False)


def evaluate_to(
    env_id: str, policy_names: list[str], seeds: list[int], env_kwargs: dict[str, Any], out: Path
) -> dict[str, Any]:
    """Evaluate named policies on seeds with a progress bar and write the report into `out`."""
    policies = [resolve(env_id, name) for name in policy_names]
    records: list[EpisodeRecord] = []
    with _progress() as progress:
        task = progress.add_task(env_id, total=len(policies) * len(seeds))
        for name, policy in zip(policy_names, policies, strict=True):
            policy.name = name
            for seed in seeds:
                progress.update(task, description=f"{env_id} · {name} · seed {seed}")
                records.append(run_episode(env_id, policy, seed, env_kwargs))
                progress.advance(task)
    return write_report(spec(env_id), records, env_kwargs, out)


@app.command("eval")
def eval_command(
    env: Annotated[str, typer.Option(help="Registered env id, e.g. sysgym/SparkJobOrder-v0.")],
    out: Annotated[Path, typer.Option(help="Folder for summary.json, summary.md, episodes.jsonl and plots.")],
    policy: Annotated[str, typer.Option(help="'all' (every baseline), names, or paths, comma-separated.")] = "all",
    seeds: Annotated[str, typer.Option(help="Seeds as a range '0-4' or a list '0,1,2'.")] = "0-4",
    workload: Annotated[str | None, typer.Option(help="Built-in workload name or trace file.")] = None,
    backend: Annotated[str, typer.Option(help="model or live.")] = "model",
    env_kwargs: Annotated[list[str] | None, typer.Option("--env-kwargs", help="key=value env overrides.")] = None,
) -> None:
    """Run policies on seeds under one harness and write the comparison."""
    try:
        kwargs = parse_kwargs(env_kwargs or [])
        if workload is not None:
            kwargs["workload"] = workload
        if backend != "model":
            kwargs["backend"] = backend
        summary = evaluate_to(env, expand(env, policy), parse_seeds(seeds), kwargs, out)
    except SysgymError as exc:
        raise _fail(exc) from exc
    console.print((out / "summary.md").read_text(), markup=False, highlight=False)
    console.print(f"ranking on {summary['headline_metric']}: {', '.join(summary['ranking'])}")


@app.command()
def replay(file: Annotated[Path, typer.Argument(help="episodes.jsonl written by eval.")]) -> None:
    """Re-run recorded episodes and report whether their metrics match (exactly, on the model backend)."""
    try:
        results = [replay_record(record) for record in read_records(file)]
    except SysgymError as exc:
        raise _fail(exc) from exc
    table = Table("env", "policy", "seed", "backend", "match", "differences")
    for r in results:
        diff = "; ".join(f"{k}: {a:g} -> {b:g}" for k, (a, b) in r.mismatches.items())
        table.add_row(r.record.env_id, r.record.policy, str(r.record.seed), r.record.backend, str(r.matches), diff)
    console.print(table)
    if not all(r.matches for r in results):
        raise typer.Exit(code=1)


@app.command()
def bench(
    seconds: Annotated[float, typer.Option(help="Seconds per round per env.")] = 1.0,
    rounds: Annotated[int, typer.Option(help="Interleaved rounds per env.")] = 3,
    env: Annotated[list[str] | None, typer.Option(help="Only these env ids.")] = None,
    out: Annotated[Path, typer.Option(help="Markdown report.")] = Path("results/bench.md"),
    policies: Annotated[
        bool, typer.Option("--policies", help="Decision latency of results/policies/ -> results/policy-latency.md.")
    ] = False,
) -> None:
    """Steps per second of every env against CartPole-v1 in the same run (or, with --policies, decision latency)."""
    if policies:
        try:
            text = policy_bench.bench_policies(
                Path("results/policies"), Path("results/policy-latency.md"), command_line()
            )
        except SysgymError as exc:
            raise _fail(exc) from exc
        console.print(text, markup=False, highlight=False)
        return
    try:
        chosen = [spec(e) for e in env] if env else specs()
    except SysgymError as exc:
        raise _fail(exc) from exc
    with _progress() as progress:
        task = progress.add_task("bench", total=len(chosen))
        rows = bench_module.bench(chosen, seconds, rounds, progress=lambda _: progress.advance(task))
    text = bench_module.markdown(rows, command_line(), seconds, rounds)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    console.print(text, markup=False, highlight=False)


@app.command()
def suite(
    out: Annotated[Path, typer.Option(help="Folder for one sub-folder per env.")] = Path("results/quick"),
    seeds: Annotated[str, typer.Option(help="Seeds for every env.")] = "0-2",
) -> None:
    """The main job of `make run`: every env's baselines on its quick workload through the harness."""
    try:
        seed_list = parse_seeds(seeds)
        for s in specs():
            folder = out / s.id.split("/")[-1]
            evaluate_to(s.id, list(s.baselines), seed_list, dict(s.quick_kwargs), folder)
            console.print(f"[green]wrote[/] {folder}")
        (out / "README.md").write_text(results_table(sorted(out.glob("*/summary.json")), command_line()))
    except SysgymError as exc:
        raise _fail(exc) from exc
    console.print((out / "README.md").read_text(), markup=False, highlight=False)


@app.command()
def table(
    summaries: Annotated[list[Path], typer.Argument(help="summary.json files written by eval.")],
    out: Annotated[Path | None, typer.Option(help="Write the markdown here as well.")] = None,
) -> None:
    """One markdown table of the headline metric across several evaluations."""
    try:
        text = results_table(summaries, command_line())
    except SysgymError as exc:
        raise _fail(exc) from exc
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    console.print(text, markup=False, highlight=False)


@app.command()
def calibrate(
    target: Annotated[str, typer.Option(help="What to measure: " + ", ".join(CALIBRATION_TARGETS) + ".")],
    out: Annotated[Path, typer.Option(help="Calibration JSON to write.")],
    directory: Annotated[
        Path | None, typer.Option("--dir", help="Directory on the device to measure (storage only).")
    ] = None,
) -> None:
    """Measure this machine and write a calibration file the models accept (`calibration=FILE`)."""
    try:
        if target not in CALIBRATION_TARGETS:
            raise UnknownNameError("calibration target", target, list(CALIBRATION_TARGETS))
        if directory is not None and target != "storage":
            raise ConfigError("--dir applies to --target storage only")
        module, function = CALIBRATION_TARGETS[target].split(":")
        run = getattr(importlib.import_module(module), function)
        if directory is None:
            run(out)
        else:
            run(out, directory=directory)
    except SysgymError as exc:
        raise _fail(exc) from exc
    console.print(f"wrote {out}")


@app.command()
def version() -> None:
    """Print the installed sysgym version."""
    console.print(json.dumps({"sysgym": sysgym.__version__}))


app.command()(train)
app.command()(sweep)
app.command()(export)
app.command()(deploy)
