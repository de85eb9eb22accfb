"""Read a `sysgym train` run folder into what the exporter needs: the model, its VecNormalize, provenance.

The folder layout is `sysgym.agents.training.run`'s (config.json, model.zip, vecnormalize.pkl, training.json,
versions.json); the model and statistics are loaded by the training package's own adapter, so a run exports
exactly the policy `sysgym eval --policy RUN_DIR` evaluates.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecNormalize

from sysgym.agents.training.config import TrainConfig
from sysgym.agents.training.policy import load as load_run_policy
from sysgym.envs.core.errors import SysgymError


@dataclass(frozen=True)
class TrainedRun:
    """A trained run, ready to export.

    Attributes:
        env_id: the env the run trained on.
        algorithm: the `--algo` name.
        run_id: `<folder name>-<first 8 hex digits of the SHA-256 of config.json>`, stable for one run.
        model: the final (or newest checkpointed) SB3 model.
        stats: the run's VecNormalize (observation statistics), or None.
        provenance: seed, timesteps and training wall time, carried into the artifact's metadata.
        env_kwargs: the env kwargs the run trained with (they can change the spaces).
    """

    env_id: str
    algorithm: str
    run_id: str
    model: BaseAlgorithm
    stats: VecNormalize | None
    provenance: dict[str, str] = field(default_factory=dict)
    env_kwargs: dict[str, Any] = field(default_factory=dict)


def read_run(path: Path) -> TrainedRun:
    """Load the run folder `path`, naming what is missing when it is not one."""
    config_path = path / "config.json"
    if not path.is_dir() or not config_path.is_file():
        raise SysgymError(f"{str(path)!r} is not a run folder written by `sysgym train` (no config.json)")
    config = TrainConfig.read(config_path)
    policy = load_run_policy(path, config.env_id)
    digest = hashlib.sha256(config_path.read_bytes()).hexdigest()[:8]
    provenance = {
        "seed": str(config.seed),
        "timesteps": str(config.timesteps),
        "run_folder": path.name,
        "env_kwargs": json.dumps(config.env_kwargs, sort_keys=True),
    }
    progress = path / "training.json"
    if progress.is_file():
        data = json.loads(progress.read_text())
        for key in ("timesteps", "wall_s", "status"):
            if key in data:
                provenance[f"training_{key}"] = str(data[key])
    run_id = f"{path.name}-{digest}"
    return TrainedRun(
        config.env_id, config.algo, run_id, policy.model, policy.normalizer, provenance, dict(config.env_kwargs)
    )
