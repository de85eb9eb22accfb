from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from sysgym.agents.training.envs import ValidActionWrapper, is_masked, nearest_valid, to_valid
from tests.toy_env import TOY_ID


@pytest.mark.parametrize(
    ("index", "mask", "expected"),
    [
        (1, [True, True, True], (1, False)),
        (1, [True, False, True], (0, True)),
        (3, [False, False, True, False, False], (2, True)),
        (0, [False, False, False, True], (3, True)),
        (7, [True, False], (0, True)),
    ],
)
def test_nearest_valid_prefers_the_closest_then_the_lower_index(
    index: int, mask: list[bool], expected: tuple[int, bool]
) -> None:
    assert nearest_valid(index, np.array(mask)) == expected


def test_multidiscrete_actions_are_fixed_per_dimension() -> None:
    space = gym.spaces.MultiDiscrete([3, 2])
    mask = np.array([False, True, False, True, False])
    action, changed = to_valid(space, np.array([2, 1]), mask)
    assert changed
    assert action.tolist() == [1, 0]
    assert space.contains(action)


def test_discrete_with_start_and_no_mask() -> None:
    space = gym.spaces.Discrete(3, start=5)
    assert to_valid(space, 6, None) == (6, False)
    assert to_valid(space, 5, np.array([False, False, True])) == (7, True)


def test_wrapper_substitutes_masked_actions_and_charges_the_penalty() -> None:
    env = ValidActionWrapper(gym.make(TOY_ID, disable_env_checker=True), penalty=5.0)
    env.reset(seed=0)
    for _ in range(3):
        _, reward, _, _, info = env.step(0)
        assert not info["invalid_action"]
    _, reward, _, _, info = env.step(0)
    assert info["invalid_action"]
    assert reward == pytest.approx(-0.0 - 5.0)


def test_mask_probe() -> None:
    assert is_masked(TOY_ID, {})
    assert not is_masked("CartPole-v1", {})
