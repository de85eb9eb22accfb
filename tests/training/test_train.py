from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from stable_baselines3.common.base_class import BaseAlgorithm
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from sysgym.agents.resolve import resolve
from sysgym.agents.training import run
from sysgym.agents.training.algos import ALGOS
from sysgym.agents.training.checkpoint import checkpoints
from sysgym.agents.training.config import TrainConfig
from sysgym.agents.training.policy import SB3Policy
from sysgym.envs.core.errors import SysgymError
from sysgym.envs.registry import specs
from sysgym.experiments.harness import run_episode
from tests.toy_env import TOY_ID
from tests.training.helpers import tiny_config


def params_of(folder: Path) -> dict[str, torch.Tensor]:
    config = TrainConfig.read(folder / "config.json")
    model: BaseAlgorithm = ALGOS[config.algo].cls.load(folder / "model.zip", device="cpu")
    return dict(model.policy.state_dict())


def scalars(folder: Path) -> dict[str, dict[int, float]]:
    """Every tensorboard scalar of a run; a step written twice (killed and resumed) keeps the last value."""
    found: dict[str, dict[int, float]] = {}
    for events in sorted((folder / "tb").glob("events.out.tfevents.*")):
        acc = EventAccumulator(str(events))
        acc.Reload()
        for tag in acc.Tags()["scalars"]:
            found.setdefault(tag, {}).update({e.step: e.value for e in acc.Scalars(tag)})
    return found


@pytest.mark.parametrize("algo", list(ALGOS))
def test_every_algorithm_trains_into_a_complete_run_folder_and_evaluates(tmp_path: Path, algo: str) -> None:
    out = tmp_path / "run"
    result = run.start(tiny_config(tmp_path, algo, timesteps=200), out, {"algo": algo}, "sysgym train test")
    assert result.status == "finished"
    assert result.timesteps >= 200
    for name in ("config.json", "hyperparams.yml", "args.json", "command.txt", "versions.json", "model.zip"):
        assert (out / name).is_file(), name
    assert (out / "vecnormalize.pkl").is_file()
    assert json.loads((out / "versions.json").read_text())["stable-baselines3"]
    assert TrainConfig.read(out / "config.json").seed == 1
    policy = resolve(TOY_ID, str(out))
    assert isinstance(policy, SB3Policy)
    record = run_episode(TOY_ID, policy, seed=1000, env_kwargs={"workload": "random"})
    assert record.metrics["left"] == 0


@pytest.mark.parametrize("algo", ["ppo", "maskable-ppo", "dqn"])
def test_resuming_from_a_checkpoint_reproduces_the_uninterrupted_run(tmp_path: Path, algo: str) -> None:
    config = tiny_config(tmp_path, algo, timesteps=640, checkpoint_every=128)
    full = tmp_path / "full"
    run.start(config, full, {}, "sysgym train test")
    assert len(checkpoints(full / "checkpoints")) == 2
    resumed = tmp_path / "resumed"
    shutil.copytree(full, resumed)
    (resumed / "model.zip").unlink()
    shutil.rmtree(resumed / "tb")
    progress = json.loads((resumed / "training.json").read_text())
    (resumed / "training.json").write_text(json.dumps({**progress, "status": "running"}))
    result = run.resume(resumed, "sysgym train --resume test")
    assert result.timesteps == json.loads((full / "training.json").read_text())["timesteps"]
    expected, got = params_of(full), params_of(resumed)
    assert expected.keys() == got.keys()
    for key in expected:
        assert torch.equal(expected[key], got[key]), key
    assert json.loads((resumed / "training.json").read_text())["resumes"] == 1


def test_tensorboard_tags_use_the_fixed_namespaces(tmp_path: Path) -> None:
    out = tmp_path / "run"
    run.start(tiny_config(tmp_path, "ppo", timesteps=256), out, {}, "sysgym train test")
    tags = set(scalars(out))
    assert {"charts/ep_rew_mean", "losses/value_loss", "losses/policy_gradient_loss", "env/served"} <= tags
    assert "env/invalid_action_rate" in tags
    assert all(tag.split("/")[0] in ("charts", "losses", "env") for tag in tags), tags


def test_budget_stops_training_and_says_so(tmp_path: Path) -> None:
    result = run.start(
        tiny_config(tmp_path, "ppo", timesteps=10**6, budget_s=1.0), tmp_path / "run", {}, "sysgym train test"
    )
    assert result.status == "budget"
    assert 0 < result.timesteps < 10**6
    assert json.loads((tmp_path / "run" / "training.json").read_text())["status"] == "budget"


def test_existing_and_finished_runs_are_refused(tmp_path: Path) -> None:
    out = tmp_path / "run"
    run.start(tiny_config(tmp_path, "a2c", timesteps=64), out, {}, "sysgym train test")
    with pytest.raises(SysgymError, match="--resume"):
        run.start(tiny_config(tmp_path, "a2c", timesteps=64), out, {}, "sysgym train test")
    with pytest.raises(SysgymError, match="finished"):
        run.resume(out, "sysgym train --resume test")


def test_a_run_evaluates_only_on_its_own_env(tmp_path: Path) -> None:
    out = tmp_path / "run"
    run.start(tiny_config(tmp_path, "a2c", timesteps=64), out, {}, "sysgym train test")
    with pytest.raises(SysgymError, match="trained on"):
        resolve(_other_env(), str(out))


def _other_env() -> str:
    others = [s.id for s in specs() if s.id != TOY_ID]
    if not others:
        pytest.skip("no second registered env")
    return others[0]
