"""The live backend: real SwiGLU GEMMs per simulated device (CPU here, the model's shapes on a GPU)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from sysgym.envs.moe.actions import LLEP_DEFAULT
from sysgym.envs.moe.baselines import OraclePolicy
from tests.moe.helpers import ENV_ID, run

SMALL = {"tokens_per_device": 64, "batches": 2, "live_scale": 32}


def test_live_backend_runs_real_experts_and_reports_measured_compute() -> None:
    env = gym.make(ENV_ID, backend="live", workload="hot4-80", **SMALL)
    model = gym.make(ENV_ID, workload="hot4-80", **SMALL)
    obs, info = env.reset(seed=0)
    model_obs, _ = model.reset(seed=0)
    assert np.array_equal(obs, model_obs)
    assert env.observation_space == model.observation_space and env.action_space == model.action_space
    backend = env.unwrapped._backend  # type: ignore[attr-defined]
    assert backend.hidden == 2880 // 32 and backend.device.type in ("cpu", "cuda")
    _, reward, _, _, info = env.step(LLEP_DEFAULT)
    assert np.all(backend.last_live_ms > 0)
    assert info["compute_ms"].tolist() == backend.last_live_ms.tolist()
    assert reward < 0
    _, _, done, _, info = env.step(LLEP_DEFAULT)
    assert done and set(info["metrics"]) >= {"mean_step_time_ms", "oom_count"}
    env.close()
    env.close()


def test_live_backend_works_with_every_action_form() -> None:
    metrics, rewards = run(OraclePolicy(), backend="live", workload="hot1-95", **SMALL)
    assert len(rewards) == 2 and metrics["mean_step_time_ms"] > 0


@pytest.mark.gpu
def test_gpu_measured_device_times_are_within_25_percent_of_the_model() -> None:
    assert torch.cuda.is_available()
    env = gym.make(ENV_ID, backend="live", workload="hot4-50", batches=4, tokens_per_device=32768)
    env.reset(seed=0)
    backend = env.unwrapped._backend  # type: ignore[attr-defined]
    errors = []
    for _ in range(4):
        env.step(LLEP_DEFAULT)
        errors.append(np.abs(backend.last_live_ms / backend.last_model_ms - 1))
    error = np.median(np.array(errors), axis=0)
    print("per-device |live/model - 1| (median of 4 batches):", np.round(error, 3).tolist())
    assert np.all(error <= 0.25)
    env.close()
