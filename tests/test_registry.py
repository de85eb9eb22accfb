"""One registry-driven test of every registered env (Gymnasium style): checkers, determinism, pickling."""

from __future__ import annotations

import pickle
import warnings
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from sysgym.agents.random_policy import sample_action
from sysgym.envs.core.errors import InvalidActionError
from sysgym.envs.registry import specs

IDS = [s.id for s in specs()]
QUICK = {s.id: dict(s.quick_kwargs) for s in specs()}
ROLLOUT_STEPS = 400


class ValidActions(gym.Wrapper[Any, Any, Any, Any], gym.utils.RecordConstructorArgs):
    """The checkers step with unmasked samples; this maps a masked-out action to the first valid one."""

    def __init__(self, env: gym.Env[Any, Any]) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.Wrapper.__init__(self, env)

    def step(self, action: Any) -> Any:
        space = self.env.action_space
        mask = self.env.unwrapped.action_masks()  # type: ignore[attr-defined]
        if isinstance(space, gym.spaces.Discrete) and not mask[int(action) - int(space.start)]:
            action = int(space.start) + int(np.flatnonzero(mask)[0])
        return self.env.step(action)


def make(env_id: str) -> gym.Env[Any, Any]:
    return gym.make(env_id, disable_env_checker=True, **QUICK[env_id]).unwrapped


def rollout(env: gym.Env[Any, Any], seed: int, steps: int = ROLLOUT_STEPS) -> list[Any]:
    rng = np.random.default_rng(seed)
    obs, info = env.reset(seed=seed)
    trace: list[Any] = [obs]
    for _ in range(steps):
        action = sample_action(env.action_space, info["action_mask"], rng)
        obs, reward, terminated, truncated, info = env.step(action)
        trace += [obs, reward, terminated, truncated]
        if terminated or truncated:
            trace.append(info["metrics"])
            break
    return trace


def same(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return bool(np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True))


@pytest.mark.parametrize("env_id", IDS)
def test_gymnasium_checker(env_id: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gym_check_env(ValidActions(make(env_id)), skip_render_check=True)


@pytest.mark.parametrize("env_id", IDS)
def test_sb3_checker(env_id: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sb3_check_env(ValidActions(make(env_id)), warn=False)


@pytest.mark.parametrize("env_id", IDS)
def test_seeded_rollouts_are_identical(env_id: str) -> None:
    first, second = rollout(make(env_id), seed=3), rollout(make(env_id), seed=3)
    assert len(first) == len(second)
    assert all(same(a, b) for a, b in zip(first, second, strict=True))


@pytest.mark.parametrize("env_id", IDS)
def test_observations_in_space(env_id: str) -> None:
    env = make(env_id)
    rng = np.random.default_rng(1)
    obs, info = env.reset(seed=1)
    for _ in range(100):
        assert env.observation_space.contains(obs), f"observation outside {env.observation_space}"
        obs, _, terminated, truncated, info = env.step(sample_action(env.action_space, info["action_mask"], rng))
        if terminated or truncated:
            break


@pytest.mark.parametrize("env_id", IDS)
def test_pickle_round_trip_continues_identically(env_id: str) -> None:
    env = make(env_id)
    rng = np.random.default_rng(5)
    _, info = env.reset(seed=5)
    for _ in range(10):
        _, _, terminated, truncated, info = env.step(sample_action(env.action_space, info["action_mask"], rng))
        if terminated or truncated:
            _, info = env.reset(seed=6)
            break
    clone = pickle.loads(pickle.dumps(env))
    action = sample_action(env.action_space, info["action_mask"], rng)
    assert all(same(a, b) for a, b in zip(env.step(action)[:4], clone.step(action)[:4], strict=True))


@pytest.mark.parametrize("env_id", IDS)
def test_masked_out_action_is_refused(env_id: str) -> None:
    env = make(env_id)
    _, info = env.reset(seed=0)
    mask = info["action_mask"]
    if not isinstance(env.action_space, gym.spaces.Discrete) or mask is None or mask.all():
        pytest.skip("no masked-out action at the first decision")
    with pytest.raises(InvalidActionError, match="masked"):
        env.step(int(np.flatnonzero(~mask)[0]) + int(env.action_space.start))


@pytest.mark.parametrize("env_id", [i for i in IDS if i.startswith("sysgym/")])
def test_module_prefixed_id(env_id: str) -> None:
    env = gym.make(f"sysgym:{env_id}", disable_env_checker=True, **QUICK[env_id])
    env.reset(seed=0)
    env.close()


@pytest.mark.parametrize("env_id", [i for i in IDS if i.startswith("sysgym/")])
def test_docstring_sections(env_id: str) -> None:
    doc = type(make(env_id)).__doc__ or ""
    for section in (
        "Description",
        "Action Space",
        "Observation Space",
        "Rewards",
        "Episode End",
        "Arguments",
        "Version History",
    ):
        assert section in doc, f"{env_id} docstring lacks a {section} section"
