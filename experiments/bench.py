"""Steps per second of every env's model backend, against CartPole-v1 measured in the same run.

The machines are shared and noisy, so absolute rates mean little: the ratio to CartPole, measured in
interleaved rounds within one process, is the number that is compared with goals. Envs whose metrics report
`simulated_s` also get simulated seconds per wall-clock second, from episodes of the paper's own policy at the
default (paper) load.
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from sysgym.agents.random_policy import sample_action
from sysgym.envs.core.spec import SysEnvSpec
from sysgym.experiments.harness import run_episode

REFERENCE_ID = "CartPole-v1"


@dataclass
class _Runner:
    """Keeps one env stepping with random valid actions across rounds."""

    env: gym.Env[Any, Any]
    rng: np.random.Generator
    info: dict[str, Any] = field(default_factory=dict)
    episode_seed: int = 0

    def start(self) -> None:
        _, self.info = self.env.reset(seed=self.episode_seed)

    def steps(self, budget_s: float) -> tuple[int, float]:
        """Step for about `budget_s` seconds; returns (steps, seconds)."""
        space = self.env.action_space
        count = 0
        start = time.perf_counter()
        deadline = start + budget_s
        while True:
            for _ in range(64):
                action = sample_action(space, self.info.get("action_mask"), self.rng)
                _, _, terminated, truncated, self.info = self.env.step(action)
                count += 1
                if terminated or truncated:
                    self.episode_seed += 1
                    self.start()
            if time.perf_counter() >= deadline:
                return count, time.perf_counter() - start


@dataclass
class BenchRow:
    """One env's measurement."""

    env_id: str
    steps_per_s: float
    reference_steps_per_s: float
    simulated_per_wall_s: float | None

    @property
    def ratio(self) -> float:
        """Steps per second relative to CartPole-v1 measured in the same rounds."""
        return self.steps_per_s / self.reference_steps_per_s


def simulated_speed(spec: SysEnvSpec, episodes: int = 3) -> float | None:
    """Simulated seconds per wall second of the paper's policy at the default load, best of `episodes` seeds.

    One episode can last a tenth of a second, so a single one mostly measures what else the machine is doing;
    the best of a few is the simulator's own speed.
    """
    if spec.paper_policy is None:
        return None
    speeds = []
    for seed in range(episodes):
        record = run_episode(spec.id, spec.baselines[spec.paper_policy](), seed=seed, env_kwargs={})
        if "simulated_s" not in record.metrics:
            return None
        speeds.append(record.metrics["simulated_s"] / record.wall_time_s)
    return max(speeds)


def bench(
    specs: list[SysEnvSpec],
    seconds: float,
    rounds: int,
    progress: Callable[[str], None] | None = None,
) -> list[BenchRow]:
    """Measure every spec for `rounds` interleaved rounds of `seconds` each, CartPole alongside."""
    rows = []
    for spec in specs:
        runner = _Runner(gym.make(spec.id, disable_env_checker=True), np.random.default_rng(0))
        reference = _Runner(gym.make(REFERENCE_ID, disable_env_checker=True), np.random.default_rng(0))
        runner.start()
        reference.start()
        totals = np.zeros(4)
        for _ in range(rounds):
            steps, wall = runner.steps(seconds)
            ref_steps, ref_wall = reference.steps(seconds)
            totals += (steps, wall, ref_steps, ref_wall)
        rows.append(BenchRow(spec.id, totals[0] / totals[1], totals[2] / totals[3], simulated_speed(spec)))
        runner.env.close()
        reference.env.close()
        if progress is not None:
            progress(spec.id)
    return rows


def compiled_modules() -> list[str]:
    """The loaded sysgym modules that run as mypyc extensions rather than interpreted Python."""
    return sorted(
        name
        for name, module in list(sys.modules.items())
        if name.startswith("sysgym.")
        and not name.endswith("__mypyc")  # the library holding their code, not a module of ours
        and (getattr(module, "__file__", None) or "").endswith(".so")
    )


def markdown(rows: list[BenchRow], command: str, seconds: float, rounds: int) -> str:
    """results/bench.md."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        "# sysgym bench",
        "",
        f"Model backends, random valid actions, default kwargs; {rounds} interleaved rounds of {seconds:g} s per env",
        f"with {REFERENCE_ID} in the same process. Machine: {os.cpu_count()} CPUs, {platform.python_implementation()}",
        f"{platform.python_version()}, 1-min load average {load:.1f} at the end (other work on the machine slows",
        "both sides of each ratio alike, the absolute rates less so).",
        f"Modules compiled with mypyc (setup.py): {', '.join(compiled_modules()) or 'none'}.",
        "",
        "| env | steps/s | CartPole-v1 steps/s | ratio | simulated s per wall s (paper policy and load, best of 3) |",
        "|---|---:|---:|---:|---:|",
    ]
    for row in rows:
        sim = f"{row.simulated_per_wall_s:,.0f}" if row.simulated_per_wall_s is not None else "-"
        lines.append(
            f"| {row.env_id} | {row.steps_per_s:,.0f} | {row.reference_steps_per_s:,.0f} | {row.ratio:.2f} | {sim} |"
        )
    lines += ["", "Command:", "", f"    {command}", ""]
    return "\n".join(lines)
