"""Parity: SB3's deterministic predict (with the eval adapter's mask rule) == the numpy and the ONNX artifact."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

from sysgym.agents.export.export import program_of, save
from sysgym.envs.registry import spec, specs
from sysgym.runtime.policy import NumpyPolicy, OnnxPolicy, load
from tests.export.helpers import Decisions, model, off_distribution, record, reference
from tests.toy_env import TOY_ID


def artifacts(agent: Any, venv: Any, env_id: str, algo: str, kwargs: dict[str, Any], tmp: Path) -> list[Any]:
    program = program_of(agent, venv, env_id, algo, f"test-{algo}", env_kwargs=kwargs)
    return [load(save(program, fmt, tmp / f"{algo}.x")) for fmt in ("numpy", "onnx")]


def assert_parity(runtimes: list[Any], expected: list[Any], decisions: Decisions) -> None:
    """Discrete actions identical; continuous ones within 1e-5."""
    want = np.asarray(expected)
    for runtime in runtimes:
        single = np.asarray([runtime.act(o, m) for o, m in zip(decisions.obs, decisions.masks, strict=True)])
        batch = runtime.act_batch(decisions.obs, decisions.stacked_masks())
        name = type(runtime).__name__
        if want.dtype.kind == "f":
            np.testing.assert_allclose(single, want, atol=1e-5, rtol=0, err_msg=f"{name} single")
            np.testing.assert_allclose(batch, want, atol=1e-5, rtol=0, err_msg=f"{name} batch")
            continue
        assert np.array_equal(single, want), f"{name} single: {np.flatnonzero(single != want)[:10]}"
        assert np.array_equal(batch, want), f"{name} batch: {np.flatnonzero(batch != want)[:10]}"


@pytest.mark.parametrize("algo", ["ppo", "a2c", "dqn", "qrdqn", "maskable-ppo"])
def test_trained_toy_agents_match_sb3(algo: str, tmp_path: Path) -> None:
    kwargs = {"workload": "random"}
    agent, venv = model(algo, TOY_ID, kwargs, seed=1, learn=96)
    decisions = record(TOY_ID, kwargs, 60)
    runtimes = artifacts(agent, venv, TOY_ID, algo, kwargs, tmp_path)
    assert_parity(runtimes, reference(agent, venv, decisions), decisions)
    # every mask pattern, including those the rule must repair: nearest valid (non-maskable) or masked argmax
    grid = np.stack(np.meshgrid(np.linspace(-1, 2, 8), np.linspace(-1, 2, 8)), -1).reshape(-1, 2).astype(np.float32)
    patterns = [np.array(m) for m in ([True, True], [True, False], [False, True])]
    for mask in patterns:
        probe = Decisions(grid, [mask] * len(grid))
        assert_parity(runtimes, reference(agent, venv, probe), probe)
    unmasked = Decisions(grid, [None] * len(grid))
    expected = agent.predict(venv.normalize_obs(grid), deterministic=True)[0]
    assert_parity(runtimes, list(expected), unmasked)


def _registered() -> list[Any]:
    """Per env, the algorithms `sysgym train` offers for its action space (two by default, the rest slow)."""
    cases: list[Any] = []
    for s in specs():
        if not s.id.startswith("sysgym/"):
            continue
        env = gym.make(s.id, disable_env_checker=True, **dict(s.quick_kwargs))
        continuous = isinstance(env.action_space, gym.spaces.Box)
        env.close()
        quick, slow = (("ppo", "a2c"), ()) if continuous else (("maskable-ppo", "dqn"), ("ppo", "qrdqn"))
        cases += [(s.id, algo) for algo in quick]
        cases += [pytest.param(s.id, algo, marks=pytest.mark.slow) for algo in slow]
    return cases


@pytest.mark.parametrize(("env_id", "algo"), _registered())
def test_every_registered_env_exports_with_parity(env_id: str, algo: str, tmp_path: Path) -> None:
    kwargs = dict(spec(env_id).quick_kwargs)
    agent, venv = model(algo, env_id, kwargs, seed=2, learn=0)
    decisions = record(env_id, kwargs, 80)
    runtimes = artifacts(agent, venv, env_id, algo, kwargs, tmp_path)
    assert_parity(runtimes, reference(agent, venv, decisions), decisions)
    space = gym.make(env_id, disable_env_checker=True, **kwargs).observation_space
    assert isinstance(space, gym.spaces.Box)
    wild = off_distribution(space, decisions, seed=3)
    assert_parity(runtimes, reference(agent, venv, wild), wild)


class _MultiEnv(gym.Env[np.ndarray, np.ndarray]):
    """Spaces only: 5 features, MultiDiscrete([3, 4]) actions."""

    def __init__(self) -> None:
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (5,), np.float32)
        self.action_space = gym.spaces.MultiDiscrete([3, 4])

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        return self.observation_space.sample(), 0.0, False, False, {}

    def action_masks(self) -> np.ndarray:
        return np.ones(7, dtype=bool)


def _metadata(env: gym.Env[Any, Any], algo: str) -> Any:
    from sysgym.runtime.policy import PolicyMetadata
    from sysgym.runtime.policy.spaces import describe

    action = describe(env.action_space)
    return PolicyMetadata("test/Spaces-v0", 0, describe(env.observation_space), action, "0", algo, algo, True)


@pytest.mark.parametrize("algo", ["ppo", "maskable-ppo"])
def test_multidiscrete_heads_match_sb3(algo: str, tmp_path: Path) -> None:
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    from sysgym.agents.export.extract import program_from_model
    from sysgym.agents.export.onnx_export import save_onnx
    from sysgym.agents.training.algos import algo as find_algo
    from sysgym.runtime.policy import save_npz

    venv = VecNormalize(DummyVecEnv([_MultiEnv]), norm_reward=False)
    venv.obs_rms.update(np.random.default_rng(0).normal(0.2, 0.3, (50, 5)))
    venv.training = False
    agent = find_algo(algo).cls("MlpPolicy", venv, seed=0, n_steps=16, batch_size=16)
    program = program_from_model(agent, venv, _metadata(_MultiEnv(), algo))
    save_npz(program, tmp_path / "m.npz")
    save_onnx(program, tmp_path / "m.onnx")
    runtimes = [load(tmp_path / "m.npz"), load(tmp_path / "m.onnx")]
    rng = np.random.default_rng(1)
    obs = rng.uniform(-1, 1, (300, 5)).astype(np.float32)
    masks = [
        m | np.eye(7, dtype=bool)[i % 3] | np.eye(7, dtype=bool)[3 + i % 4]
        for i, m in enumerate(rng.random((300, 7)) < 0.5)
    ]
    decisions = Decisions(obs, masks)
    assert_parity(runtimes, reference(agent, venv, decisions), decisions)


@pytest.mark.parametrize("squash", [False, True])
def test_continuous_actions_within_1e_5(squash: bool, tmp_path: Path) -> None:
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    from sysgym.agents.export.extract import program_from_model
    from sysgym.agents.export.onnx_export import save_onnx
    from sysgym.runtime.policy import save_npz

    venv = VecNormalize(DummyVecEnv([lambda: gym.make("Pendulum-v1")]), norm_reward=False)
    extra = {"use_sde": True, "policy_kwargs": {"squash_output": True}} if squash else {}
    agent = PPO("MlpPolicy", venv, seed=0, n_steps=64, batch_size=32, n_epochs=1, **extra)
    agent.learn(64)
    venv.training = False
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for parameter in agent.policy.parameters():
            parameter.add_(torch.randn(parameter.shape, generator=generator) * 0.5)
    env = gym.make("Pendulum-v1")
    program = program_from_model(agent, venv, _metadata(env, "ppo"))
    assert program.head.squash == squash
    save_npz(program, tmp_path / "p.npz")
    save_onnx(program, tmp_path / "p.onnx")
    obs = np.random.default_rng(0).uniform(env.observation_space.low, env.observation_space.high, (400, 3))
    obs = obs.astype(np.float32)
    expected = agent.predict(venv.normalize_obs(obs), deterministic=True)[0]
    assert np.abs(expected).max() > 0.1 and (squash or np.any(np.abs(expected) == 2.0)), "exercise clip/rescale"
    for runtime in (load(tmp_path / "p.npz"), load(tmp_path / "p.onnx")):
        single = np.stack([runtime.act(o) for o in obs])
        assert single.shape == expected.shape
        np.testing.assert_allclose(single, expected, atol=1e-5, rtol=0)
        np.testing.assert_allclose(runtime.act_batch(obs), expected, atol=1e-5, rtol=0)
    assert isinstance(load(tmp_path / "p.npz"), NumpyPolicy)
    assert isinstance(load(tmp_path / "p.onnx"), OnnxPolicy)
