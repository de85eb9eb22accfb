"""The algorithms `sysgym train` offers, and what the trainer must know about each."""

from __future__ import annotations

from dataclasses import dataclass

from sb3_contrib import QRDQN, MaskablePPO
from stable_baselines3 import A2C, DQN, PPO
from stable_baselines3.common.base_class import BaseAlgorithm

from sysgym.envs.core.errors import UnknownNameError


@dataclass(frozen=True)
class Algo:
    """One algorithm.

    Attributes:
        name: the `--algo` name and the YAML file stem.
        cls: the SB3 / sb3-contrib class.
        masks: whether it takes action masks itself; the others act through `ValidActionWrapper` on masked envs.
        off_policy: whether it keeps a replay buffer (checkpointed with the model so a resume loses no experience).
    """

    name: str
    cls: type[BaseAlgorithm]
    masks: bool
    off_policy: bool


ALGOS: dict[str, Algo] = {
    a.name: a
    for a in (
        Algo("ppo", PPO, masks=False, off_policy=False),
        Algo("a2c", A2C, masks=False, off_policy=False),
        Algo("dqn", DQN, masks=False, off_policy=True),
        Algo("maskable-ppo", MaskablePPO, masks=True, off_policy=False),
        Algo("qrdqn", QRDQN, masks=False, off_policy=True),
    )
}


def algo(name: str) -> Algo:
    """The algorithm called `name`."""
    if name not in ALGOS:
        raise UnknownNameError("algorithm", name, list(ALGOS))
    return ALGOS[name]
