from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sysgym.agents.resolve import resolve
from sysgym.agents.training import harmonia
from sysgym.agents.training.hyperparams import Hyperparams
from sysgym.envs.core.errors import SysgymError
from sysgym.envs.registry import specs
from sysgym.experiments.harness import run_episode

pytestmark = pytest.mark.skipif(
    harmonia.JOINT_ID not in {s.id for s in specs()}, reason="the storage envs are not registered"
)
KWARGS = {"max_requests": 300}


def test_partner_view_is_a_valid_single_agent_env() -> None:
    view = harmonia.PartnerView(KWARGS, "migration", harmonia.first_valid)
    obs, info = view.reset(seed=3)
    assert view.observation_space.contains(obs)
    steps = 0
    rng = np.random.default_rng(0)
    while True:
        action = int(rng.choice(np.flatnonzero(view.action_masks())))
        obs, _, done, _, info = view.step(action)
        assert view.observation_space.contains(obs)
        steps += 1
        if done:
            break
    assert "mean_latency_us" in info["metrics"]
    assert steps > 0


@pytest.mark.slow
def test_two_agents_train_alternately_and_evaluate_as_one_policy(tmp_path: Path) -> None:
    params = Hyperparams.from_entry(
        {"n_envs": 1, "n_steps": 64, "batch_size": 32, "n_epochs": 1, "policy_kwargs": {"net_arch": [16]}}
    )
    config = harmonia.HarmoniaConfig(seed=0, rounds=1, timesteps=256, env_kwargs=KWARGS, hyperparams=params)
    out = tmp_path / "harmonia"
    facts = harmonia.train(config, out, "sysgym train --algo harmonia test")
    assert [p["agent"] for p in facts["phases"]] == ["placement", "migration"]
    assert json.loads((out / "harmonia.json").read_text())["mode"].startswith("alternating")
    policy = resolve(harmonia.JOINT_ID, str(out))
    record = run_episode(harmonia.JOINT_ID, policy, seed=100, env_kwargs=KWARGS)
    assert record.metrics["mean_latency_us"] > 0
    with pytest.raises(SysgymError, match="HybridStorage-v0"):
        resolve("sysgym/HybridStorage-Placement-v0", str(out))
    assert record.metrics["steps"] == len(record.actions)
