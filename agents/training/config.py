"""The typed description of one training run, stored as `config.json` in its run folder."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sysgym.agents.training.hyperparams import Hyperparams, Normalize
from sysgym.envs.core.config import require
from sysgym.envs.core.errors import SysgymError


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a run's result (wall-clock budget aside).

    Attributes:
        env_id: registered env id.
        algo: algorithm name (`ppo`, `a2c`, `dqn`, `maskable-ppo`, `qrdqn`).
        seed: the run's seed (drawn and recorded when the user gives none).
        timesteps: training steps in total, over all env copies.
        env_kwargs: env kwargs of the training envs (YAML `env_kwargs` merged with the command line's).
        hyperparams: the resolved hyperparameters.
        checkpoint_every: timesteps between checkpoints.
        budget_s: stop after this many seconds of training wall time (None: run all `timesteps`).
        torch_threads: PyTorch intra-op threads (1 keeps runs reproducible and leaves cores to the envs).
    """

    env_id: str
    algo: str
    seed: int
    timesteps: int
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    hyperparams: Hyperparams = field(default_factory=Hyperparams)
    checkpoint_every: int = 10_000
    budget_s: float | None = None
    torch_threads: int = 1

    def __post_init__(self) -> None:
        require(self.timesteps > 0, f"timesteps must be > 0, got {self.timesteps}")
        require(self.checkpoint_every > 0, f"checkpoint_every must be > 0, got {self.checkpoint_every}")
        require(self.budget_s is None or self.budget_s > 0, "budget_s must be > 0")
        require(self.torch_threads >= 1, "torch_threads must be >= 1")
        require(0 <= self.seed < 2**32, f"seed must be in [0, 2**32), got {self.seed}")

    def write(self, path: Path) -> None:
        """Store as JSON."""
        path.write_text(json.dumps(asdict(self), indent=1, sort_keys=True) + "\n")

    @classmethod
    def read(cls, path: Path) -> TrainConfig:
        """Load what `write` stored."""
        try:
            data = json.loads(path.read_text())
            params = data.pop("hyperparams")
            params["normalize"] = Normalize(**params["normalize"])
            return cls(hyperparams=Hyperparams(**params), **data)
        except (OSError, json.JSONDecodeError, KeyError, TypeError) as exc:
            raise SysgymError(f"{path} is not a run config written by `sysgym train`: {exc}") from exc
