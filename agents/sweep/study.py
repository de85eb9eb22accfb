"""`sysgym sweep`: an Optuna study over one algorithm's hyperparameters on one env.

- Sampler: TPE seeded with `seed` (+ a per-worker offset, so workers started together explore differently).
- Pruner: median or successive halving, fed by evaluations of the training model every `timesteps/evaluations`
  steps, through the harness on validation seeds (never the seeds results are reported on).
- Failures: a trial that raises (diverging losses, NaN logits, bad hyperparameter combinations) or returns a
  non-finite value is pruned with the reason in its `failure` attribute; the study goes on.
- Storage: a journal file by default (SQLite locks under parallel workers); any SQLAlchemy URL, e.g.
  `postgresql://user:pass@host/db`, for many workers on many machines (driver: `pip install "sysgym[postgres]"`).
- Killed workers: each running trial writes a heartbeat (user attribute) every `grace_s/4` seconds; a worker that
  starts fails every running trial whose heartbeat is older than `grace_s` and queues its parameters again, so
  finished trials are never lost and the study resumes where it stood.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage, JournalStorage, RDBStorage
from optuna.storages.journal import JournalFileBackend
from optuna.study import MaxTrialsCallback
from optuna.trial import TrialState
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecNormalize

from sysgym.agents.sweep.space import SPACES
from sysgym.agents.training.algos import algo as find_algo
from sysgym.agents.training.callbacks import PeriodicCallback
from sysgym.agents.training.config import TrainConfig
from sysgym.agents.training.hyperparams import Hyperparams, lookup, write_entry
from sysgym.agents.training.policy import SB3Policy
from sysgym.agents.training.run import build_model
from sysgym.envs.core.config import require
from sysgym.envs.core.errors import ConfigError, SysgymError
from sysgym.envs.registry import spec
from sysgym.experiments.harness import run_episode

FINISHED = (TrialState.COMPLETE, TrialState.PRUNED)


@dataclass(frozen=True)
class SweepConfig:
    """One worker's view of a study.

    Attributes:
        env_id: registered env id.
        algo: algorithm name.
        trials: finished (complete or pruned) trials the study should reach, over all workers.
        storage: SQLAlchemy URL, or None for the journal file `out/journal.log`.
        study: study name (workers sharing a storage and a name share the study).
        n_jobs: trials this worker runs in parallel threads (trials are then not reproducible).
        worker: this worker's index, offsetting its sampler seed.
        seed: sampler seed; trial k trains with seed `seed + k`.
        timesteps: training timesteps per trial.
        evaluations: evaluations per trial (the pruner's steps).
        eval_seeds: validation seeds of each evaluation.
        pruner: `median` or `sha`.
        env_kwargs: env kwargs for training and evaluation.
        hyperparams: base YAML whose entry the sampled values override (None: the packaged one).
        grace_s: heartbeat age after which a running trial counts as killed.
        out: folder for the journal file and `best.yml`.
    """

    env_id: str
    algo: str
    trials: int
    storage: str | None = None
    study: str = "sweep"
    n_jobs: int = 1
    worker: int = 0
    seed: int = 0
    timesteps: int = 20_000
    evaluations: int = 4
    eval_seeds: tuple[int, ...] = (500, 501, 502)
    pruner: str = "median"
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    hyperparams: Path | None = None
    grace_s: float = 120.0
    out: Path = Path("runs/sweeps")

    def __post_init__(self) -> None:
        require(self.trials >= 1, f"trials must be >= 1, got {self.trials}")
        require(self.n_jobs >= 1, f"n_jobs must be >= 1, got {self.n_jobs}")
        require(self.timesteps >= 1, f"timesteps must be >= 1, got {self.timesteps}")
        require(self.evaluations >= 1, f"evaluations must be >= 1, got {self.evaluations}")
        require(len(self.eval_seeds) >= 1, "at least one evaluation seed is needed")
        require(self.pruner in ("median", "sha"), f"pruner must be median or sha, got {self.pruner!r}")
        require(self.grace_s > 0, f"grace_s must be > 0, got {self.grace_s}")
        require(self.algo in SPACES, f"no search space for {self.algo!r}; known: {', '.join(SPACES)}")


def open_storage(config: SweepConfig) -> BaseStorage:
    """The study's storage: the journal file in `out`, or the database at `config.storage`."""
    if config.storage is None:
        config.out.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(config.out / "journal.log")))
    if "://" not in config.storage:
        raise ConfigError(f"storage {config.storage!r} is not a URL such as postgresql://user:pass@host/db")
    try:
        return RDBStorage(database_url(config.storage), engine_kwargs={"pool_pre_ping": True})
    except Exception as exc:
        raise ConfigError(f"cannot open storage {config.storage!r}: {exc}") from exc


def database_url(url: str) -> str:
    """`postgresql://` names SQLAlchemy's psycopg (3) driver; use psycopg2 where only that one is installed."""
    if url.startswith("postgresql://") and importlib.util.find_spec("psycopg") is None:
        return "postgresql+psycopg2://" + url.removeprefix("postgresql://")
    return url


def dashboard_command(config: SweepConfig) -> str:
    """How to look at the study in optuna-dashboard."""
    target = config.storage or str(config.out / "journal.log")
    return f"optuna-dashboard {target}"


class Heartbeat:
    """Writes the trial's `heartbeat` user attribute from a background thread until stopped."""

    def __init__(self, storage: BaseStorage, trial_id: int, interval_s: float) -> None:
        self.storage = storage
        self.trial_id = trial_id
        self.interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def __enter__(self) -> Heartbeat:
        self.storage.set_trial_user_attr(self.trial_id, "heartbeat", time.time())
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.storage.set_trial_user_attr(self.trial_id, "heartbeat", time.time())


def fail_stale(study: optuna.Study, storage: BaseStorage, grace_s: float) -> list[int]:
    """Fail running trials whose worker died (heartbeat older than `grace_s`) and queue their parameters again."""
    failed = []
    now = time.time()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        start = trial.datetime_start.timestamp() if trial.datetime_start else now
        if now - float(trial.user_attrs.get("heartbeat", start)) <= grace_s:
            continue
        try:
            changed = storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        except RuntimeError:
            continue
        if changed:
            failed.append(trial.number)
            study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number})
    return failed


class TrialEvaluation(PeriodicCallback):
    """Evaluates the training model on the validation seeds, reports to the trial and stops pruned trials."""

    def __init__(self, every: int, evaluate: Any, trial: optuna.Trial) -> None:
        super().__init__(every)
        self.evaluate = evaluate
        self.trial = trial
        self.step = 0
        self.pruned = False

    def _on_period(self) -> None:
        value = self.evaluate()
        self.step += 1
        self.logger.record("eval/headline", value)
        self.trial.report(value, self.step)
        self.pruned = not math.isfinite(value) or self.trial.should_prune()

    def _on_step(self) -> bool:
        return not self.pruned


class Objective:
    """Trains one trial's hyperparameters and returns the mean headline metric on the validation seeds."""

    def __init__(self, config: SweepConfig, storage: BaseStorage) -> None:
        self.config = config
        self.storage = storage
        self.base = lookup(config.algo, config.env_id, config.hyperparams)
        self.env_kwargs = {**self.base.env_kwargs, **config.env_kwargs}
        self.metric = spec(config.env_id).headline_metric

    def __call__(self, trial: optuna.Trial) -> float:
        """One trial; exceptions and non-finite values become pruned trials."""
        trial.set_user_attr("worker", f"{socket.gethostname()}:{os.getpid()}:{self.config.worker}")
        params = self._params(trial)
        trial.set_user_attr("hyperparams", params.to_yaml_entry())
        run = TrainConfig(
            env_id=self.config.env_id,
            algo=self.config.algo,
            seed=self.config.seed + trial.number,
            timesteps=self.config.timesteps,
            env_kwargs=self.env_kwargs,
            hyperparams=params,
        )
        with Heartbeat(self.storage, trial._trial_id, self.config.grace_s / 4):
            try:
                value = self._train(run, trial)
            except (SysgymError, ValueError, RuntimeError, FloatingPointError, AssertionError) as exc:
                trial.set_user_attr("failure", repr(exc)[:500])
                raise optuna.TrialPruned(f"training failed: {exc!r}") from exc
        if not math.isfinite(value):
            trial.set_user_attr("failure", f"non-finite objective {value}")
            raise optuna.TrialPruned(f"non-finite objective {value}")
        return value

    def _params(self, trial: optuna.Trial) -> Hyperparams:
        sampled = SPACES[self.config.algo](trial, self.base.n_envs, self.config.timesteps)
        merged = {**self.base.model_kwargs, **sampled}
        return Hyperparams(
            policy=self.base.policy,
            n_timesteps=self.config.timesteps,
            n_envs=self.base.n_envs,
            normalize=self.base.normalize,
            invalid_action_penalty=self.base.invalid_action_penalty,
            env_kwargs=self.env_kwargs,
            model_kwargs=merged,
        )

    def _train(self, run: TrainConfig, trial: optuna.Trial) -> float:
        model, env = build_model(run)
        try:
            evaluate = lambda: self._evaluate(model, env)  # noqa: E731 - bound late to the live model
            callback = TrialEvaluation(max(1, run.timesteps // self.config.evaluations), evaluate, trial)
            model.learn(total_timesteps=run.timesteps, callback=callback)
            if callback.pruned:
                raise optuna.TrialPruned(f"pruned at evaluation {callback.step}")
            return evaluate()
        finally:
            env.close()

    def _evaluate(self, model: BaseAlgorithm, env: VecNormalize) -> float:
        policy = SB3Policy(model, env, self.config.algo)
        values = [
            run_episode(self.config.env_id, policy, seed, self.env_kwargs).metrics[self.metric]
            for seed in self.config.eval_seeds
        ]
        return float(sum(values) / len(values))


def _pruner(name: str) -> optuna.pruners.BasePruner:
    if name == "sha":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    return optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1)


def load_study(config: SweepConfig, storage: BaseStorage, command: str) -> optuna.Study:
    """Create the study or join it, checking that it optimises the same env and algorithm."""
    lower = spec(config.env_id).lower_is_better
    study = optuna.create_study(
        study_name=config.study,
        storage=storage,
        direction="minimize" if lower else "maximize",
        sampler=optuna.samplers.TPESampler(seed=config.seed + 7919 * config.worker, n_startup_trials=5),
        pruner=_pruner(config.pruner),
        load_if_exists=True,
    )
    attrs = study.user_attrs
    if attrs.get("env_id", config.env_id) != config.env_id or attrs.get("algo", config.algo) != config.algo:
        raise ConfigError(
            f"study {config.study!r} tunes {attrs.get('algo')} on {attrs.get('env_id')}, "
            f"not {config.algo} on {config.env_id}"
        )
    if "command" not in attrs:
        study.set_user_attr("command", command)
        study.set_user_attr("env_id", config.env_id)
        study.set_user_attr("algo", config.algo)
        study.set_user_attr("headline_metric", spec(config.env_id).headline_metric)
    return study


def finished(study: optuna.Study) -> int:
    """Complete and pruned trials."""
    return len(study.get_trials(deepcopy=False, states=FINISHED))


def run_sweep(config: SweepConfig, command: str) -> str:
    """Run this worker until the study has `config.trials` finished trials; export the best; return a summary."""
    find_algo(config.algo)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(config)
    study = load_study(config, storage, command)
    failed = fail_stale(study, storage, config.grace_s)
    if finished(study) < config.trials:
        study.optimize(
            Objective(config, storage),
            n_jobs=config.n_jobs,
            callbacks=[MaxTrialsCallback(config.trials, states=FINISHED)],
        )
    lines = [
        f"study {config.study}: {finished(study)} finished trials "
        f"({len(study.get_trials(deepcopy=False, states=(TrialState.PRUNED,)))} pruned)",
        f"stale trials failed and re-queued by this worker: {failed or 'none'}",
        f"dashboard: {dashboard_command(config)}",
    ]
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if complete:
        best = study.best_trial
        params = Hyperparams.from_entry(best.user_attrs["hyperparams"])
        path = config.out / f"{config.study}.best.yml"
        config.out.mkdir(parents=True, exist_ok=True)
        write_entry(path, config.env_id, params, f"best trial {best.number} of study {config.study}: {best.value}")
        lines.append(f"best trial {best.number}: {best.value:.6g} -> {path}")
        lines.append(json.dumps(best.params, sort_keys=True))
    else:
        lines.append("no complete trial yet (all pruned or failed); nothing exported")
    return "\n".join(lines)
