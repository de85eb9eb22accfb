"""Hand-made workloads and a driver that runs a policy on the simulator directly."""

from __future__ import annotations

from typing import Any

from sysgym.agents.policy import Policy
from sysgym.envs.spark.sim import SparkSim
from sysgym.envs.spark.workload import JobSpec, Stream, Workload, isolated_runtime


def workload(
    jobs: list[tuple[int, float, tuple[tuple[float, ...], ...]]],
    users: int = 2,
    cores: int = 2,
    classes: tuple[str, ...] = ("small", "large"),
    job_classes: list[int] | None = None,
    estimates: list[float] | None = None,
) -> Workload:
    """Jobs given as (user, arrival, stages); each is its own open-loop stream."""
    specs = []
    streams = []
    for i, (user, arrival, stages) in enumerate(jobs):
        work = sum(sum(s) for s in stages)
        estimate = estimates[i] if estimates else work
        cls = job_classes[i] if job_classes else 0
        specs.append(JobSpec(user, cls, stages, estimate, isolated_runtime(stages, cores)))
        streams.append(Stream((i,), arrival, False, (0.0,)))
    return Workload("hand", tuple(f"u{i}" for i in range(users)), classes, tuple(specs), tuple(streams))


def run(policy: Policy, wl: Workload, cores: int = 2, max_candidates: int = 8) -> tuple[SparkSim, list[int], float]:
    """Run `policy` to the end; returns the simulator, the jobs chosen at each decision and the job-seconds."""
    sim = SparkSim(cores, max_candidates)
    sim.load(wl)
    policy.reset(0)
    chosen = []
    more = not sim.done
    info: dict[str, Any] = {"system": sim}
    while more:
        slot = policy.act(sim.observation(), {**info, "action_mask": sim.action_mask()})
        chosen.append(sim.candidates[slot])
        sim.launch(sim.candidates[slot])
        more = sim.advance()
    job_seconds, _ = sim.take_signals()
    return sim, chosen, job_seconds


def response_times(sim: SparkSim) -> list[float]:
    """Per-job response times in workload order."""
    return [float(f - a) for f, a in zip(sim.job_finish, sim.job_arrival, strict=True)]
