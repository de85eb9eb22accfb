"""A killed executor (the local[N] JVM, SIGKILLed mid-episode) truncates the live episode instead of hanging."""

import os
import signal
import threading
import time
from typing import Any, cast

import gymnasium as gym
import pytest

import sysgym  # noqa: F401
from sysgym.envs.spark.baselines import FifoPolicy

from .test_live import LIVE, alive

ENV = "sysgym/SparkJobOrder-v0"


@pytest.mark.spark
def test_killed_executor_truncates_with_error_and_leaves_no_jvm() -> None:
    kwargs: dict[str, Any] = {**LIVE, "live_timeout_s": 60.0}
    env = gym.make(ENV, **kwargs)
    backend: Any = cast(Any, env.unwrapped)._backend
    try:
        obs, info = env.reset(seed=1)
        pid = backend.runtime.jvm_pid
        assert pid is not None and alive(pid)
        killer = threading.Timer(1.0, os.kill, (pid, signal.SIGKILL))
        killer.start()
        policy = FifoPolicy()
        start = time.perf_counter()
        done = False
        while not done:
            obs, _, terminated, truncated, info = env.step(policy.act(obs, info))
            done = terminated or truncated
        elapsed = time.perf_counter() - start
        killer.join()
        assert truncated and not terminated
        assert "JVM" in info["error"] and str(pid) in info["error"] and "killed by signal 9" in info["error"]
        assert elapsed < 30.0
        assert backend.runtime is None
        assert not alive(pid)
    finally:
        env.close()
    env.close()
    assert backend.runtime is None
