"""Run folders: train a `TrainConfig` into a folder, checkpoint it, and resume it after a kill.

Layout of a run folder:
    config.json       the exact TrainConfig (env, algorithm, seed, timesteps, env kwargs, hyperparameters)
    hyperparams.yml   the hyperparameters in the YAML format `--hyperparams` reads
    args.json         the command-line arguments as parsed;  command.txt  the command line(s), one per start
    versions.json     sysgym and library versions
    training.json     progress: status, timesteps done, training wall time, resumes
    model.zip         the final model;  vecnormalize.pkl  its observation/reward normalisation statistics
    checkpoints/      step-<N>/ folders (see `checkpoint`);  tb/  tensorboard events (see `logging`)
"""

from __future__ import annotations

import json
import platform
import shutil
import time
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.vec_env import VecNormalize

from sysgym.agents.training import checkpoint
from sysgym.agents.training.algos import algo as find_algo
from sysgym.agents.training.callbacks import BudgetCallback, EnvMetricsCallback, PeriodicCallback
from sysgym.agents.training.config import TrainConfig
from sysgym.agents.training.envs import is_masked, vec_env
from sysgym.agents.training.hyperparams import constructor_kwargs, write_entry
from sysgym.agents.training.logging import make_logger
from sysgym.envs.core.errors import SysgymError

LIBRARIES = ("sysgym", "stable-baselines3", "sb3-contrib", "torch", "gymnasium", "numpy", "optuna", "pettingzoo")


@dataclass(frozen=True)
class RunResult:
    """What a finished (or budget-stopped) run reports.

    Attributes:
        folder: the run folder.
        timesteps: timesteps trained.
        wall_s: training wall time in seconds, summed over resumes.
        status: `finished` (all timesteps) or `budget` (stopped by the wall-clock budget).
    """

    folder: Path
    timesteps: int
    wall_s: float
    status: str


def versions() -> dict[str, str]:
    """Installed versions of sysgym and the libraries a result depends on."""
    found = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    return found


class Clock:
    """Training wall time, continued across resumes."""

    def __init__(self, before_s: float) -> None:
        self.before_s = before_s
        self.started = time.monotonic()

    def wall_s(self) -> float:
        """Seconds trained so far, this process and earlier ones."""
        return self.before_s + time.monotonic() - self.started


class Checkpointer(PeriodicCallback):
    """Checkpoints every `every` timesteps and records progress in `training.json`."""

    def __init__(self, every: int, folder: Path, clock: Clock) -> None:
        super().__init__(every)
        self.folder = folder
        self.clock = clock

    def _on_period(self) -> None:
        env = self.model.get_env()
        assert isinstance(env, VecNormalize)
        checkpoint.save(self.model, env, self.folder / "checkpoints", {"wall_s": self.clock.wall_s()})
        _update_progress(self.folder, status="running", timesteps=self.num_timesteps, wall_s=self.clock.wall_s())


def _update_progress(folder: Path, **fields: Any) -> None:
    path = folder / "training.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    data.update(fields)
    path.write_text(json.dumps(data, indent=1) + "\n")


def _policy_name(config: TrainConfig, env: VecNormalize) -> str:
    if isinstance(env.observation_space, gym.spaces.Dict) and config.hyperparams.policy == "MlpPolicy":
        return "MultiInputPolicy"
    return config.hyperparams.policy


def build_model(config: TrainConfig) -> tuple[BaseAlgorithm, VecNormalize]:
    """A fresh model and its vector env for `config`."""
    chosen = find_algo(config.algo)
    params = config.hyperparams
    masked = is_masked(config.env_id, config.env_kwargs)
    penalty = params.invalid_action_penalty if masked and not chosen.masks else None
    gamma = float(params.model_kwargs.get("gamma", 0.99))
    env = vec_env(config.env_id, config.env_kwargs, params.n_envs, penalty, params.normalize, gamma)
    try:
        model = chosen.cls(
            _policy_name(config, env),
            env,
            seed=config.seed,
            device="cpu",
            verbose=0,
            **constructor_kwargs(params.model_kwargs),
        )
    except (TypeError, ValueError, AssertionError) as exc:
        env.close()
        raise SysgymError(f"cannot build {config.algo} for {config.env_id}: {exc}") from exc
    return model, env


def start(config: TrainConfig, out: Path, args: dict[str, Any], command: str, verbose: bool = False) -> RunResult:
    """Train `config` into the new run folder `out`."""
    if (out / "config.json").exists():
        raise SysgymError(f"{out} already holds a run; continue it with --resume {out} or choose another --out")
    out.mkdir(parents=True, exist_ok=True)
    config.write(out / "config.json")
    write_entry(out / "hyperparams.yml", config.env_id, config.hyperparams, f"hyperparameters of {command}")
    (out / "args.json").write_text(json.dumps(args, indent=1, sort_keys=True, default=str) + "\n")
    (out / "command.txt").write_text(command + "\n")
    (out / "versions.json").write_text(json.dumps(versions(), indent=1) + "\n")
    _update_progress(out, status="running", timesteps=0, wall_s=0.0, resumes=0, seed=config.seed)
    torch.set_num_threads(config.torch_threads)
    model, env = build_model(config)
    return _learn(model, env, config, out, Clock(0.0), resumed=False, verbose=verbose)


def resume(out: Path, command: str, verbose: bool = False) -> RunResult:
    """Continue the run in `out` from its newest checkpoint (from the start if it was killed before the first)."""
    config = TrainConfig.read(out / "config.json")
    with (out / "command.txt").open("a") as handle:
        handle.write(command + "\n")
    progress = json.loads((out / "training.json").read_text()) if (out / "training.json").exists() else {}
    if progress.get("status") in ("finished", "budget"):
        raise SysgymError(f"{out} has already finished ({progress['status']}); nothing to resume")
    _update_progress(out, resumes=int(progress.get("resumes", 0)) + 1)
    torch.set_num_threads(config.torch_threads)
    if not checkpoint.checkpoints(out / "checkpoints"):
        shutil.rmtree(out / "tb", ignore_errors=True)
        model, env = build_model(config)
        return _learn(model, env, config, out, Clock(0.0), resumed=False, verbose=verbose)
    restored = checkpoint.restore(out / "checkpoints", find_algo(config.algo))
    clock = Clock(float(restored.extra["wall_s"]))
    return _learn(restored.model, restored.env, config, out, clock, resumed=True, verbose=verbose, restored=restored)


def _final_dump(model: BaseAlgorithm) -> None:
    """Write the pending values and episode statistics, so even a run stopped mid-rollout has a curve."""
    if model.ep_info_buffer:
        model.logger.record("rollout/ep_rew_mean", float(np.mean([e["r"] for e in model.ep_info_buffer])))
        model.logger.record("rollout/ep_len_mean", float(np.mean([e["l"] for e in model.ep_info_buffer])))
    model.logger.dump(model.num_timesteps)


def _learn(
    model: BaseAlgorithm,
    env: VecNormalize,
    config: TrainConfig,
    out: Path,
    clock: Clock,
    resumed: bool,
    verbose: bool,
    restored: checkpoint.Restored | None = None,
) -> RunResult:
    model.set_logger(make_logger(out / "tb", verbose))
    if restored is not None:
        checkpoint.restore_logger(model, restored.extra["logger"])
    callbacks: list[BaseCallback] = [EnvMetricsCallback(), Checkpointer(config.checkpoint_every, out, clock)]
    budget = None
    if config.budget_s is not None:
        budget = BudgetCallback(config.budget_s - clock.before_s, clock.started)
        callbacks.append(budget)
    remaining = config.timesteps - model.num_timesteps
    try:
        if remaining > 0 and (budget is None or budget.deadline > time.monotonic()):
            model.learn(total_timesteps=remaining, callback=CallbackList(callbacks), reset_num_timesteps=not resumed)
        _final_dump(model)
        model.save(out / "model.zip")
        env.save(str(out / "vecnormalize.pkl"))
    finally:
        model.logger.close()
        env.close()
    status = "budget" if budget is not None and model.num_timesteps < config.timesteps else "finished"
    result = RunResult(out, int(model.num_timesteps), clock.wall_s(), status)
    _update_progress(out, status=status, timesteps=result.timesteps, wall_s=result.wall_s)
    return result
