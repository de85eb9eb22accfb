"""Simulated seconds per CPU second and per wall second of `sysgym/SMPartition-v0` at a given load.

    python -m sysgym.runtime.sm_partition.speed [--rate 55] [--policy semipd-dynamic] [--requests 4000]

CPU time (`time.process_time`) is the fair measure on a shared machine; wall time is printed too.
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym

import sysgym  # noqa: F401 - registers the envs
from sysgym.envs.sm_partition.baselines import BASELINES


def measure(rate: float, policy_name: str, requests: int, seed: int = 0) -> dict[str, float]:
    """Run one episode (after a warm-up episode) and time it."""
    policy = BASELINES[policy_name]()
    env = gym.make(
        "sysgym/SMPartition-v0", disable_env_checker=True, rate=rate, requests=requests, **policy.env_overrides
    )

    def episode() -> dict[str, float]:
        obs, info = env.reset(seed=seed)
        policy.reset(seed)
        while True:
            obs, _, term, trunc, info = env.step(policy.act(obs, info))
            if term or trunc:
                return dict(info["metrics"])

    episode()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    metrics = episode()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    sim = metrics["simulated_s"]
    return {"simulated_s": sim, "cpu_s": cpu, "wall_s": wall, "sim_per_cpu": sim / cpu, "sim_per_wall": sim / wall}


def main() -> None:
    """CLI entry."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=55.0)
    parser.add_argument("--policy", default="semipd-dynamic")
    parser.add_argument("--requests", type=int, default=4000)
    args = parser.parse_args()
    r = measure(args.rate, args.policy, args.requests)
    print(
        f"{args.policy} at {args.rate:g} req/s: {r['simulated_s']:.1f} simulated s in {r['cpu_s']:.3f} CPU s "
        f"({r['sim_per_cpu']:.0f}x) / {r['wall_s']:.3f} wall s ({r['sim_per_wall']:.0f}x)"
    )


if __name__ == "__main__":
    main()
