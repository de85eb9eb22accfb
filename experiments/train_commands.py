"""`sysgym train` and `sysgym sweep`: typer command functions, registered by `experiments/cli.py`.

PyTorch, SB3 and Optuna are imported inside the commands, so the other `sysgym` commands start without them.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from sysgym.envs.core.errors import ConfigError, SysgymError
from sysgym.envs.registry import spec
from sysgym.experiments.arguments import parse_kwargs, parse_seeds
from sysgym.experiments.reports import command_line

if TYPE_CHECKING:
    from sysgym.agents.training.hyperparams import Hyperparams

console = Console()
errors = Console(stderr=True)


def _fail(exc: Exception) -> typer.Exit:
    errors.print(f"[bold red]error:[/] {exc}", highlight=False)
    return typer.Exit(code=2)


def _with_overrides(params: Hyperparams, env_kwargs: dict[str, object], n_envs: int | None) -> Hyperparams:
    from sysgym.agents.training.hyperparams import Hyperparams

    return Hyperparams(
        policy=params.policy,
        n_timesteps=params.n_timesteps,
        n_envs=n_envs if n_envs is not None else params.n_envs,
        normalize=params.normalize,
        invalid_action_penalty=params.invalid_action_penalty,
        env_kwargs={**params.env_kwargs, **env_kwargs},
        model_kwargs=params.model_kwargs,
    )


def train(
    env: Annotated[str | None, typer.Option(help="Registered env id (not with --resume).")] = None,
    algo: Annotated[
        str, typer.Option(help="ppo, a2c, dqn, maskable-ppo, qrdqn, or harmonia (two agents, HybridStorage-v0).")
    ] = "maskable-ppo",
    out: Annotated[Path | None, typer.Option(help="New run folder (e.g. runs/learned/<env>/<algo>).")] = None,
    timesteps: Annotated[int | None, typer.Option(help="Training timesteps (default: the YAML's n_timesteps).")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed; drawn at random and recorded when not given.")] = None,
    env_kwargs: Annotated[list[str] | None, typer.Option("--env-kwargs", help="key=value env overrides.")] = None,
    n_envs: Annotated[int | None, typer.Option(help="Env copies (default: the YAML's n_envs).")] = None,
    hyperparams: Annotated[
        Path | None, typer.Option(help="Hyperparameter YAML (default: the packaged <algo>.yml).")
    ] = None,
    checkpoint_every: Annotated[int, typer.Option(help="Timesteps between checkpoints.")] = 10_000,
    budget_s: Annotated[float | None, typer.Option(help="Stop after this many seconds of training.")] = None,
    resume: Annotated[Path | None, typer.Option(help="Continue the killed run in this folder.")] = None,
    verbose: Annotated[bool, typer.Option(help="Print SB3's progress table.")] = False,
) -> None:
    """Train an SB3 / sb3-contrib agent into a run folder (model, config, seed, normalisation, tensorboard)."""
    from sysgym.agents.training import run
    from sysgym.agents.training.config import TrainConfig
    from sysgym.agents.training.hyperparams import lookup

    try:
        if resume is not None:
            result = run.resume(resume, command_line(), verbose)
        else:
            if env is None or out is None:
                raise ConfigError("--env and --out are required (or --resume DIR)")
            env_id = spec(env).id
            overrides = parse_kwargs(env_kwargs or [])
            if algo == "harmonia":
                _harmonia(env_id, out, timesteps, seed, overrides, n_envs, hyperparams, budget_s)
                return
            params = _with_overrides(lookup(algo, env_id, hyperparams), overrides, n_envs)
            config = TrainConfig(
                env_id=env_id,
                algo=algo,
                seed=seed if seed is not None else secrets.randbelow(2**31),
                timesteps=timesteps if timesteps is not None else params.n_timesteps,
                env_kwargs=params.env_kwargs,
                hyperparams=params,
                checkpoint_every=checkpoint_every,
                budget_s=budget_s,
            )
            args = {
                "env": env,
                "algo": algo,
                "out": out,
                "timesteps": timesteps,
                "seed": seed,
                "env_kwargs": env_kwargs,
                "n_envs": n_envs,
                "hyperparams": hyperparams,
                "checkpoint_every": checkpoint_every,
                "budget_s": budget_s,
            }
            result = run.start(config, out, args, command_line(), verbose)
    except SysgymError as exc:
        raise _fail(exc) from exc
    console.print(
        f"{result.status}: {result.timesteps} timesteps in {result.wall_s:.1f} s -> {result.folder}", highlight=False
    )


def _harmonia(
    env_id: str,
    out: Path,
    timesteps: int | None,
    seed: int | None,
    overrides: dict[str, object],
    n_envs: int | None,
    hyperparams: Path | None,
    budget_s: float | None,
) -> None:
    from sysgym.agents.training import harmonia
    from sysgym.agents.training.hyperparams import lookup

    if env_id != harmonia.JOINT_ID:
        raise ConfigError(f"--algo harmonia trains the two storage agents; use --env {harmonia.JOINT_ID}")
    params = _with_overrides(lookup("maskable-ppo", env_id, hyperparams), overrides, n_envs)
    config = harmonia.HarmoniaConfig(
        seed=seed if seed is not None else secrets.randbelow(2**31),
        timesteps=timesteps if timesteps is not None else params.n_timesteps,
        env_kwargs=params.env_kwargs,
        hyperparams=params,
        budget_s=budget_s,
    )
    facts = harmonia.train(config, out, command_line())
    console.print(f"harmonia: {facts['timesteps']} timesteps in {facts['wall_s']:.1f} s -> {out}", highlight=False)


def sweep(
    env: Annotated[str, typer.Option(help="Registered env id.")],
    algo: Annotated[str, typer.Option(help="ppo, a2c, dqn, maskable-ppo or qrdqn.")] = "maskable-ppo",
    trials: Annotated[int, typer.Option(help="Finished trials the study should reach (over all workers).")] = 20,
    storage: Annotated[
        str | None, typer.Option(help="postgresql://... for many workers; default: a journal file in --out.")
    ] = None,
    study: Annotated[str | None, typer.Option(help="Study name (default: <env>-<algo>).")] = None,
    n_jobs: Annotated[int, typer.Option(help="Trials run in parallel threads by this worker.")] = 1,
    worker: Annotated[int, typer.Option(help="This worker's index; gives each worker its own sampler seed.")] = 0,
    seed: Annotated[int, typer.Option(help="Sampler seed (TPE) and base of the trials' training seeds.")] = 0,
    timesteps: Annotated[int, typer.Option(help="Training timesteps per trial.")] = 20_000,
    evaluations: Annotated[int, typer.Option(help="Evaluations per trial that feed the pruner.")] = 4,
    eval_seeds: Annotated[str, typer.Option(help="Validation seeds (kept apart from the test seeds).")] = "500-502",
    pruner: Annotated[str, typer.Option(help="median or sha (successive halving).")] = "median",
    env_kwargs: Annotated[list[str] | None, typer.Option("--env-kwargs", help="key=value env overrides.")] = None,
    hyperparams: Annotated[Path | None, typer.Option(help="Base hyperparameter YAML.")] = None,
    grace_s: Annotated[float, typer.Option(help="A running trial without heartbeat this long is failed.")] = 120.0,
    out: Annotated[Path, typer.Option(help="Folder for the journal file and best.yml.")] = Path("runs/sweeps"),
) -> None:
    """Tune hyperparameters with Optuna (seeded TPE, pruning on periodic evaluations) and export the best."""
    from sysgym.agents.sweep.study import SweepConfig, run_sweep

    try:
        env_id = spec(env).id
        config = SweepConfig(
            env_id=env_id,
            algo=algo,
            trials=trials,
            storage=storage,
            study=study or f"{env_id.split('/')[-1]}-{algo}",
            n_jobs=n_jobs,
            worker=worker,
            seed=seed,
            timesteps=timesteps,
            evaluations=evaluations,
            eval_seeds=tuple(parse_seeds(eval_seeds)),
            pruner=pruner,
            env_kwargs=parse_kwargs(env_kwargs or []),
            hyperparams=hyperparams,
            grace_s=grace_s,
            out=out,
        )
        summary = run_sweep(config, command_line())
    except SysgymError as exc:
        raise _fail(exc) from exc
    console.print(summary, highlight=False)
