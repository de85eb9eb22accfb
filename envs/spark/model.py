"""The calibrated model backend: the discrete-event simulator plus the UJF reference run behind DVR."""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

import gymnasium as gym
import numpy as np

from sysgym.envs.core.backend import Backend, Outcome
from sysgym.envs.core.errors import ConfigError
from sysgym.envs.spark.baselines import ujf_choice
from sysgym.envs.spark.config import SparkConfig
from sysgym.envs.spark.metrics import JobTimes, episode_metrics
from sysgym.envs.spark.sim import SparkSim
from sysgym.envs.spark.workload import Workload
from sysgym.envs.spark.workloads import build_workload, check_workload

_REFERENCES: OrderedDict[tuple[SparkConfig, str], JobTimes] = OrderedDict()
_REFERENCE_CACHE_SIZE = 64


def spaces(config: SparkConfig) -> tuple[gym.spaces.Box, gym.spaces.Discrete]:
    """Observation and action spaces, shared by the model and the live backend."""
    size = SparkSim(config.cores, config.max_candidates).obs_size
    return gym.spaces.Box(0.0, 1.0, (size,), np.float32), gym.spaces.Discrete(config.max_candidates)


def job_times(sim: SparkSim) -> JobTimes:
    """Per-job times of a simulated (or live-tracked) episode."""
    jobs = sim.workload.jobs
    small = sim.classes.index("small") if "small" in sim.classes else -1
    return JobTimes(
        np.array(sim.job_arrival),
        np.array(sim.job_finish),
        np.array([j.isolated for j in jobs]),
        np.array(sim.job_class) == small,
    )


def reference_run(workload: Workload, config: SparkConfig) -> JobTimes:
    """The same workload under UJF, the fairness reference of DVR."""
    sim = SparkSim(config.cores, config.max_candidates, config.task_overhead_s, config.task_slowdown)
    sim.load(workload)
    more = not sim.done
    while more:
        sim.launch(sim.candidates[ujf_choice(sim)])
        more = sim.advance()
    return job_times(sim)


class SparkModelBackend(Backend[np.ndarray, int]):
    """Simulated Spark application; `system()` is the simulator itself (see `SparkSim`)."""

    def __init__(self, config: SparkConfig) -> None:
        check_workload(config.workload)
        self.config = config
        self.sim = SparkSim(config.cores, config.max_candidates, config.task_overhead_s, config.task_slowdown)
        self.observation_space, self.action_space = spaces(config)
        self._key: tuple[SparkConfig, str] | None = None

    def reset(self, rng: np.random.Generator, options: dict[str, Any]) -> None:
        """Draw the episode's workload from `rng` and run to the first decision."""
        self._key = (self.config, repr(rng.bit_generator.state))
        self.sim.load(build_workload(self.config, rng))
        if self.sim.done:
            raise ConfigError(
                f"workload {self.config.workload!r} never has two runnable jobs competing for a free core on "
                f"{self.config.cores} cores, so there is no decision to make"
            )

    def observation(self) -> np.ndarray:
        """Per-slot job features and cluster load, in [0, 1]."""
        return self.sim.observation()

    def action_mask(self) -> np.ndarray:
        """The filled candidate slots."""
        return self.sim.action_mask()

    def apply(self, action: int) -> Outcome:
        """Give a free core to the job in slot `action`, then run to the next decision."""
        sim = self.sim
        sim.launch(sim.candidates[action])
        more = sim.advance()
        job_seconds, starved = sim.take_signals()
        return Outcome({"job_seconds": job_seconds, "starved_user_seconds": starved}, terminated=not more)

    def system(self) -> SparkSim:
        """The simulator, read-only by convention."""
        return self.sim

    def metrics(self) -> dict[str, float]:
        """Response-time metrics, and DVR against the cached UJF run of this workload and seed."""
        return episode_metrics(job_times(self.sim), self._reference())

    def _reference(self) -> JobTimes | None:
        if self._key is None:
            return None
        cached = _REFERENCES.get(self._key)
        if cached is None:
            cached = reference_run(self.sim.workload, self.config)
            _REFERENCES[self._key] = cached
            while len(_REFERENCES) > _REFERENCE_CACHE_SIZE:
                _REFERENCES.popitem(last=False)
        return cached

    def samples(self) -> dict[str, list[float]]:
        """Each finished job's response time, in workload order."""
        sim = self.sim
        return {
            "response_time_s": [f - a for f, a in zip(sim.job_finish, sim.job_arrival, strict=True) if f < math.inf]
        }
