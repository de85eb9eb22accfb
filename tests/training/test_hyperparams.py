from __future__ import annotations

from pathlib import Path

import pytest
from torch import nn, optim

from sysgym.agents.training.algos import ALGOS, algo
from sysgym.agents.training.hyperparams import (
    Hyperparams,
    Linear,
    constructor_kwargs,
    default_file,
    lookup,
    read_file,
    write_entry,
)
from sysgym.envs.core.errors import ConfigError, UnknownNameError


@pytest.mark.parametrize("name", list(ALGOS))
def test_every_algorithm_has_a_packaged_yaml_with_a_default(name: str) -> None:
    data = read_file(default_file(name))
    assert "default" in data
    params = lookup(name, "sysgym/NoSuchEnv-v0")
    assert params.n_timesteps > 0
    constructor_kwargs(params.model_kwargs)


def test_env_entry_is_merged_over_default(tmp_path: Path) -> None:
    path = tmp_path / "ppo.yml"
    path.write_text("default:\n  n_steps: 64\n  gamma: 0.9\nsysgym/X-v0:\n  gamma: 0.5\n  n_envs: 3\n")
    params = lookup("ppo", "sysgym/X-v0", path)
    assert params.model_kwargs == {"n_steps": 64, "gamma": 0.5}
    assert params.n_envs == 3
    assert lookup("ppo", "sysgym/Other-v0", path).model_kwargs == {"n_steps": 64, "gamma": 0.9}


def test_written_entry_reads_back_identically(tmp_path: Path) -> None:
    params = Hyperparams.from_entry(
        {"n_envs": 2, "normalize": {"obs": False, "reward": True}, "learning_rate": "lin_0.001", "env_kwargs": {"a": 1}}
    )
    write_entry(tmp_path / "best.yml", "sysgym/X-v0", params, "test")
    assert lookup("ppo", "sysgym/X-v0", tmp_path / "best.yml") == params


def test_yaml_values_become_constructor_objects() -> None:
    kwargs = constructor_kwargs(
        {
            "learning_rate": "lin_0.5",
            "train_freq": [4, "step"],
            "policy_kwargs": {"activation_fn": "relu", "optimizer_class": "rmsprop", "net_arch": [8]},
        }
    )
    assert isinstance(kwargs["learning_rate"], Linear)
    assert kwargs["learning_rate"](0.5) == pytest.approx(0.25)
    assert kwargs["train_freq"] == (4, "step")
    assert kwargs["policy_kwargs"]["activation_fn"] is nn.ReLU
    assert kwargs["policy_kwargs"]["optimizer_class"] is optim.RMSprop


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"policy_kwargs": {"activation_fn": "swoosh"}}, "activation_fn"),
        ({"learning_rate": "lin_x"}, "schedule"),
    ],
)
def test_bad_values_name_the_problem(entry: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        constructor_kwargs(entry)


def test_bad_entries_and_files_raise_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="n_envs"):
        Hyperparams.from_entry({"n_envs": 0})
    with pytest.raises(ConfigError, match="normalize"):
        Hyperparams.from_entry({"normalize": {"bogus": 1}})
    (tmp_path / "bad.yml").write_text("- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        read_file(tmp_path / "bad.yml")
    (tmp_path / "none.yml").write_text("sysgym/A-v0: {}\n")
    with pytest.raises(ConfigError, match="default"):
        lookup("ppo", "sysgym/B-v0", tmp_path / "none.yml")


def test_unknown_algorithm_lists_the_known_ones() -> None:
    with pytest.raises(UnknownNameError, match="maskable-ppo"):
        algo("c51")
