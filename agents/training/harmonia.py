"""Harmonia's two agents: independent MaskablePPO learners on the storage family's PettingZoo ParallelEnv.

Training is alternating: in each round the placement agent learns while the migration agent is frozen, then the
migration agent learns against the new, frozen placement agent. Why alternating rather than simultaneous: an
independent learner treats its partner as part of the environment, and a partner that changes while the learner
collects its rollouts makes that environment non-stationary (PPO's advantage estimates then mix two partners);
freezing one agent per phase keeps each phase a stationary single-agent problem, at the cost of more wall time
per round. Before the migration agent has learned anything it acts as "no migration" (the first valid action).

The result is a folder with `placement/` and `migration/` (model.zip, vecnormalize.pkl each), `harmonia.json`
and tensorboard logs; `load` turns it into one harness policy for `sysgym/HybridStorage-v0`, whose joint action
is `placement * n_pairs + migration`.
"""

from __future__ import annotations

import json
import pickle
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from sb3_contrib import MaskablePPO
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

from sysgym.agents.policy import Policy, masked_argmax
from sysgym.agents.training.callbacks import BudgetCallback
from sysgym.agents.training.hyperparams import Hyperparams, constructor_kwargs
from sysgym.agents.training.logging import make_logger
from sysgym.envs.core.config import require
from sysgym.envs.core.errors import SysgymError
from sysgym.envs.registry import spec

JOINT_ID = "sysgym/HybridStorage-v0"
AGENTS = ("placement", "migration")
Partner = Callable[[np.ndarray, np.ndarray], int]


def first_valid(obs: np.ndarray, mask: np.ndarray) -> int:
    """The untrained partner: the first valid action (for migration, no migration)."""
    return int(np.argmax(mask))


class PartnerView(gym.Env[np.ndarray, Any]):
    """One agent's single-agent view of the two-agent env; the other agent acts through `partner`."""

    def __init__(self, env_kwargs: dict[str, Any], learner: str, partner: Partner) -> None:
        from sysgym.envs.storage import parallel_env

        self.penv: Any = parallel_env(**env_kwargs)
        self.learner = learner
        self.other = next(a for a in AGENTS if a != learner)
        self.partner = partner
        self.observation_space = self.penv.observation_space(learner)["observation"]
        space: gym.spaces.Discrete = self.penv.action_space(learner)
        self.action_space = space
        self._obs: dict[str, Any] = {}
        self._mask: np.ndarray = np.ones(int(space.n), dtype=np.bool_)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset the shared env; the seed (first reset) fixes its workload draws."""
        super().reset(seed=seed)
        if seed is None:
            seed = int(self.np_random.integers(2**31))
        self._obs, _ = self.penv.reset(seed=seed, options=options)
        return self._view()

    def _view(self) -> tuple[np.ndarray, dict[str, Any]]:
        self._mask = self._obs[self.learner]["action_mask"].astype(bool)
        return self._obs[self.learner]["observation"], {"action_mask": self._mask}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Both agents act; the learner gets the shared team reward."""
        theirs = self._obs[self.other]
        actions = {
            self.learner: int(action),
            self.other: self.partner(theirs["observation"], theirs["action_mask"].astype(bool)),
        }
        obs, rewards, terms, truncs, infos = self.penv.step(actions)
        reward = float(rewards[self.learner])
        done = bool(terms[self.learner])
        info = dict(infos.get(self.learner, {}))
        if done:
            return self._obs[self.learner]["observation"], reward, True, bool(truncs[self.learner]), info
        self._obs = obs
        view, extra = self._view()
        info.update(extra)
        return view, reward, False, bool(truncs[self.learner]), info

    def action_masks(self) -> np.ndarray:
        """The learner's current mask, for MaskablePPO."""
        return self._mask

    def close(self) -> None:
        """Close the shared env."""
        self.penv.close()


class Frozen:
    """A trained agent as a partner: frozen normalisation, deterministic masked action."""

    def __init__(self, model: MaskablePPO, normalizer: VecNormalize) -> None:
        self.model = model
        self.normalizer = normalizer

    def __call__(self, obs: np.ndarray, mask: np.ndarray) -> int:
        """The agent's greedy valid action."""
        norm = self.normalizer.normalize_obs(obs) if self.normalizer.norm_obs else obs
        action, _ = self.model.predict(norm, deterministic=True, action_masks=mask)
        return int(action)


@dataclass(frozen=True)
class HarmoniaConfig:
    """A two-agent run.

    Attributes:
        seed: seed of both learners and their envs.
        rounds: alternations (each trains placement, then migration).
        timesteps: total timesteps over both agents and all rounds.
        env_kwargs: storage env kwargs (the same for training and, by default, evaluation).
        hyperparams: MaskablePPO hyperparameters used by both agents.
        budget_s: wall-clock budget split evenly over the phases (None: no budget).
    """

    seed: int
    rounds: int = 2
    timesteps: int = 100_000
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    hyperparams: Hyperparams = field(default_factory=Hyperparams)
    budget_s: float | None = None

    def __post_init__(self) -> None:
        require(self.rounds >= 1, f"rounds must be >= 1, got {self.rounds}")
        require(self.timesteps >= 2 * self.rounds, "timesteps must cover at least one step per phase")


def _learner(
    config: HarmoniaConfig, agent: str, partner: list[Partner]
) -> tuple[MaskablePPO, VecNormalize, list[PartnerView]]:
    views: list[PartnerView] = []
    params = config.hyperparams

    def make() -> gym.Env[Any, Any]:
        view = PartnerView(config.env_kwargs, agent, lambda o, m: partner[0](o, m))
        views.append(view)
        return view

    gamma = float(params.model_kwargs.get("gamma", 0.99))
    norm = params.normalize
    env = VecNormalize(
        DummyVecEnv([make for _ in range(params.n_envs)]),
        norm_obs=norm.obs,
        norm_reward=norm.reward,
        clip_obs=norm.clip_obs,
        gamma=gamma,
    )
    model = MaskablePPO(
        "MlpPolicy", env, seed=config.seed, device="cpu", verbose=0, **constructor_kwargs(params.model_kwargs)
    )
    return model, env, views


def train(config: HarmoniaConfig, out: Path, command: str) -> dict[str, Any]:
    """Train both agents alternately into `out`; returns the facts written to `harmonia.json`."""
    if (out / "harmonia.json").exists():
        raise SysgymError(f"{out} already holds a Harmonia run; choose another --out")
    torch.set_num_threads(1)
    out.mkdir(parents=True, exist_ok=True)
    partners: dict[str, list[Partner]] = {"placement": [first_valid], "migration": [first_valid]}
    learners = {agent: _learner(config, agent, partners[agent]) for agent in AGENTS}
    phases = 2 * config.rounds
    per_phase = config.timesteps // phases
    started = time.monotonic()
    history = []
    for round_index in range(config.rounds):
        for agent in AGENTS:
            model, env, _ = learners[agent]
            other = next(a for a in AGENTS if a != agent)
            other_model, other_env, _ = learners[other]
            if round_index > 0 or agent == "migration":
                partners[agent][0] = Frozen(other_model, other_env)
            model.set_logger(make_logger(out / "tb" / agent, verbose=False))
            callbacks = []
            if config.budget_s is not None:
                callbacks.append(BudgetCallback(config.budget_s / phases, time.monotonic()))
            model.learn(per_phase, reset_num_timesteps=False, callback=callbacks)
            history.append({"round": round_index, "agent": agent, "timesteps": int(model.num_timesteps)})
    for agent, (model, env, _) in learners.items():
        (out / agent).mkdir(exist_ok=True)
        model.save(out / agent / "model.zip")
        env.save(str(out / agent / "vecnormalize.pkl"))
        env.close()
    facts = {
        "config": asdict(config),
        "mode": "alternating, partner frozen",
        "phases": history,
        "timesteps": sum(int(learners[a][0].num_timesteps) for a in AGENTS),
        "wall_s": time.monotonic() - started,
        "command": command,
    }
    (out / "harmonia.json").write_text(json.dumps(facts, indent=1, default=str) + "\n")
    return facts


class JointPolicy(Policy):
    """Both trained agents as one policy of `HybridStorage-v0`: placement first, then migration given it."""

    def __init__(self, placement: Frozen, migration: Frozen, name: str) -> None:
        self.placement = placement
        self.migration = migration
        self.name = name

    def act(self, obs: Any, info: dict[str, Any]) -> int:
        """The joint action `placement * n_pairs + migration`, valid under the joint mask."""
        n_devices = int(self.placement.model.action_space.n)  # type: ignore[attr-defined]
        joint = np.asarray(info["action_mask"], dtype=bool).reshape(n_devices, -1)
        place = self.placement(obs, np.asarray(joint.any(axis=1), dtype=bool))
        row = np.asarray(joint[place], dtype=bool)
        migrate = self.migration(obs, row)
        if not row[migrate]:
            migrate = masked_argmax(np.zeros(row.size), row)
        return place * row.size + migrate


def load(path: Path, env_id: str) -> JointPolicy:
    """The joint policy of a Harmonia run folder."""
    if spec(env_id).id != JOINT_ID:
        raise SysgymError(f"{path} is a two-agent Harmonia run; evaluate it on {JOINT_ID}, not {env_id}")
    agents = []
    for agent in AGENTS:
        model = MaskablePPO.load(path / agent / "model.zip", device="cpu")
        with (path / agent / "vecnormalize.pkl").open("rb") as handle:
            normalizer = pickle.load(handle)
        normalizer.training = False
        agents.append(Frozen(model, normalizer))
    return JointPolicy(agents[0], agents[1], "harmonia")
