"""Hyperparameters as data: `experiments/hyperparams/<algo>.yml`, keyed by env id with a `default:` entry.

The format is rl-baselines3-zoo's, so zoo users can read it: one mapping per env id whose keys are either
sysgym's own (`policy`, `n_timesteps`, `n_envs`, `normalize`, `invalid_action_penalty`, `env_kwargs`) or the
algorithm constructor's keyword arguments (`learning_rate`, `n_steps`, `policy_kwargs`, ...). An env's entry is
merged over `default:` key by key, so a file states only what differs. Schedules are written `lin_<start>`
(linear decay to zero, the zoo's notation) and activation functions and optimizers by name (`tanh`, `relu`, `rmsprop`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from torch import nn, optim

from sysgym.envs.core.config import require
from sysgym.envs.core.errors import ConfigError

SYSGYM_KEYS = ("policy", "n_timesteps", "n_envs", "normalize", "invalid_action_penalty", "env_kwargs")
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
    "silu": nn.SiLU,
}
OPTIMIZERS: dict[str, type[optim.Optimizer]] = {"adam": optim.Adam, "rmsprop": optim.RMSprop, "sgd": optim.SGD}


@dataclass(frozen=True)
class Normalize:
    """VecNormalize settings; the statistics are saved in the run folder and applied again at evaluation.

    Attributes:
        obs: normalise observations with running mean and variance.
        reward: scale rewards by the running std of the discounted return (latencies span orders of magnitude).
        clip_obs: clip normalised observations to +- this.
    """

    obs: bool = True
    reward: bool = True
    clip_obs: float = 10.0

    def __post_init__(self) -> None:
        require(self.clip_obs > 0, f"normalize.clip_obs must be > 0, got {self.clip_obs}")


@dataclass(frozen=True)
class Hyperparams:
    """Everything a run needs besides the env and the seed.

    Attributes:
        policy: SB3 policy class name (`MlpPolicy`; `MultiInputPolicy` is chosen for Dict observations).
        n_timesteps: training steps when `--timesteps` is not given.
        n_envs: parallel env copies in the vector env.
        normalize: observation and reward normalisation.
        invalid_action_penalty: reward subtracted when a non-masking algorithm picks a masked-out action
            (the env then performs the nearest valid action instead).
        env_kwargs: env kwargs the agent trains with (command-line `--env-kwargs` override them).
        model_kwargs: the algorithm constructor's keyword arguments, as written in the YAML.
    """

    policy: str = "MlpPolicy"
    n_timesteps: int = 100_000
    n_envs: int = 1
    normalize: Normalize = field(default_factory=Normalize)
    invalid_action_penalty: float = 1.0
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    model_kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        require(self.n_timesteps > 0, f"n_timesteps must be > 0, got {self.n_timesteps}")
        require(self.n_envs >= 1, f"n_envs must be >= 1, got {self.n_envs}")
        require(self.invalid_action_penalty >= 0, "invalid_action_penalty must be >= 0")

    def to_yaml_entry(self) -> dict[str, Any]:
        """This object as one entry of the YAML format (the inverse of `from_entry`)."""
        data = asdict(self)
        entry = {k: data[k] for k in SYSGYM_KEYS if k != "env_kwargs" or data[k]}
        entry.update(data["model_kwargs"])
        return entry

    @classmethod
    def from_entry(cls, entry: Mapping[str, Any]) -> Hyperparams:
        """Parse one merged YAML entry."""
        model_kwargs = {k: v for k, v in entry.items() if k not in SYSGYM_KEYS}
        norm = entry.get("normalize", {})
        if isinstance(norm, bool):
            norm = {"obs": norm, "reward": norm}
        if not isinstance(norm, Mapping) or set(norm) - {"obs", "reward", "clip_obs"}:
            raise ConfigError(f"normalize must be true/false or a mapping of obs/reward/clip_obs, got {norm!r}")
        try:
            return cls(
                policy=str(entry.get("policy", "MlpPolicy")),
                n_timesteps=int(float(entry.get("n_timesteps", 100_000))),
                n_envs=int(entry.get("n_envs", 1)),
                normalize=Normalize(**norm),
                invalid_action_penalty=float(entry.get("invalid_action_penalty", 1.0)),
                env_kwargs=dict(entry.get("env_kwargs") or {}),
                model_kwargs=model_kwargs,
            )
        except (TypeError, ValueError) as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(f"bad hyperparameter entry {dict(entry)!r}: {exc}") from exc


def default_file(algo_name: str) -> Path:
    """The packaged YAML of `algo_name`."""
    return Path(str(resources.files("sysgym.experiments.hyperparams").joinpath(f"{algo_name}.yml")))


def read_file(path: Path) -> dict[str, Any]:
    """A hyperparameter YAML as a dict of entries."""
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read hyperparameters {str(path)!r}: {exc}") from exc
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ConfigError(f"{path}: expected a mapping of env id -> mapping of hyperparameters")
    return data


def lookup(algo_name: str, env_id: str, path: Path | None = None) -> Hyperparams:
    """The hyperparameters for `env_id`: its entry merged over `default:` (either may be absent, not both)."""
    source = path or default_file(algo_name)
    data = read_file(source)
    if env_id not in data and "default" not in data:
        raise ConfigError(f"{source} has neither an entry for {env_id!r} nor a 'default:' entry")
    return Hyperparams.from_entry({**data.get("default", {}), **data.get(env_id, {})})


def write_entry(path: Path, env_id: str, params: Hyperparams, comment: str) -> None:
    """Write `params` as `env_id`'s entry of a YAML file in the format `lookup` reads."""
    text = f"# {comment}\n" + yaml.safe_dump({env_id: params.to_yaml_entry()}, sort_keys=False)
    path.write_text(text)


class Linear:
    """A schedule decaying linearly from `start` at the beginning of training to zero at the end."""

    def __init__(self, start: float) -> None:
        self.start = start

    def __call__(self, progress_remaining: float) -> float:
        """SB3 calls schedules with the fraction of training left (1 -> 0)."""
        return progress_remaining * self.start


def constructor_kwargs(model_kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """YAML values turned into what the SB3 constructors take (schedules, activation classes, tuples)."""
    out: dict[str, Any] = {}
    for key, value in model_kwargs.items():
        if isinstance(value, str) and value.startswith("lin_"):
            try:
                out[key] = Linear(float(value[4:]))
            except ValueError as exc:
                raise ConfigError(f"{key}: cannot read schedule {value!r}; write lin_<number>") from exc
        elif key == "policy_kwargs":
            out[key] = _policy_kwargs(value)
        elif key == "train_freq" and isinstance(value, list):
            out[key] = tuple(value)
        else:
            out[key] = value
    return out


def _policy_kwargs(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"policy_kwargs must be a mapping, got {value!r}")
    kwargs = dict(value)
    if "activation_fn" in kwargs:
        name = kwargs["activation_fn"]
        if name not in ACTIVATIONS:
            raise ConfigError(f"unknown activation_fn {name!r}; known: {', '.join(ACTIVATIONS)}")
        kwargs["activation_fn"] = ACTIVATIONS[name]
    if "optimizer_class" in kwargs:
        name = kwargs["optimizer_class"]
        if name not in OPTIMIZERS:
            raise ConfigError(f"unknown optimizer_class {name!r}; known: {', '.join(OPTIMIZERS)}")
        kwargs["optimizer_class"] = OPTIMIZERS[name]
    return kwargs
