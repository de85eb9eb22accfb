"""The one evaluation harness: every policy on every seed, same workload, recorded for replay."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym

import sysgym
from sysgym.agents.policy import Policy
from sysgym.envs.core.errors import SysgymError
from sysgym.envs.registry import spec
from sysgym.experiments.records import EpisodeRecord, to_json_value


def run_episode(
    env_id: str,
    policy: Policy,
    seed: int,
    env_kwargs: dict[str, Any],
    act: Callable[[Any, dict[str, Any]], Any] | None = None,
) -> EpisodeRecord:
    """Run one episode of `policy` and record it.

    Args:
        env_id: registered env id.
        policy: the decision-maker; its `env_overrides` are merged into `env_kwargs`.
        seed: reset seed (the policy is reset with it too).
        env_kwargs: `gym.make` kwargs (backend, workload, overrides).
        act: replaces `policy.act` (replay feeds recorded actions through it).
    """
    kwargs = {**env_kwargs, **policy.env_overrides}
    env = gym.make(env_id, disable_env_checker=True, **kwargs)
    choose = act or policy.act
    actions: list[Any] = []
    total = 0.0
    try:
        policy.reset(seed)
        start = time.perf_counter()
        obs, info = env.reset(seed=seed)
        while True:
            action = choose(obs, info)
            actions.append(to_json_value(action))
            obs, reward, terminated, truncated, info = env.step(action)
            total += float(reward)
            if terminated or truncated:
                break
        wall = time.perf_counter() - start
    finally:
        env.close()
    if "metrics" not in info:
        raise SysgymError(f"{env_id} ended an episode without reporting metrics in info")
    metrics = {k: float(v) for k, v in info["metrics"].items()}
    metrics["episode_return"] = total
    metrics["steps"] = float(len(actions))
    return EpisodeRecord(
        env_id=spec(env_id).id,
        version=spec(env_id).version,
        sysgym_version=sysgym.__version__,
        backend=str(kwargs.get("backend", "model")),
        env_kwargs=to_json_value(kwargs),
        seed=seed,
        policy=policy.name,
        actions=actions,
        metrics=metrics,
        samples={k: [float(x) for x in v] for k, v in info.get("samples", {}).items()},
        wall_time_s=wall,
    )


def evaluate(
    env_id: str,
    policies: Sequence[Policy],
    seeds: Sequence[int],
    env_kwargs: dict[str, Any],
    on_episode: Callable[[EpisodeRecord], None] | None = None,
) -> list[EpisodeRecord]:
    """Every policy on every seed under identical kwargs; `on_episode` sees each record as it finishes."""
    records = []
    for policy in policies:
        for seed in seeds:
            record = run_episode(env_id, policy, seed, env_kwargs)
            records.append(record)
            if on_episode is not None:
                on_episode(record)
    return records
