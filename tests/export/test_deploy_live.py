"""Every registered live backend takes an exported policy unchanged (skipped only where the machine lacks it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest

from sysgym.agents.export.export import program_of, save
from sysgym.envs.core.errors import BackendUnavailableError
from sysgym.envs.registry import spec, specs
from sysgym.runtime.deploy import DeployConfig, run
from tests.export.helpers import model

SPARK = "sysgym/SparkJobOrder-v0"  # needs kwargs that fit this machine: covered by test_cli


def _live_ids() -> list[Any]:
    """Storage's live backend (tiered files) runs anywhere; the GPU families' live backends need CUDA to be quick
    (ExpertReroute's falls back to CPU experts, 11 minutes for its quick workload on two busy cores)."""
    return [
        s.id if s.entry_point.startswith("sysgym.envs.storage") else pytest.param(s.id, marks=pytest.mark.gpu)
        for s in specs()
        if "live" in s.backends and s.id != SPARK
    ]


@pytest.mark.slow
@pytest.mark.parametrize("env_id", _live_ids())
def test_model_trained_policy_deploys_on_the_live_backend(env_id: str, tmp_path: Path) -> None:
    kwargs = dict(spec(env_id).quick_kwargs)
    try:
        gym.make(env_id, disable_env_checker=True, backend="live", **kwargs).close()
    except BackendUnavailableError as exc:
        pytest.skip(f"live backend unavailable here: {exc}")
    agent, venv = model("maskable-ppo", env_id, kwargs, seed=0, learn=0)
    artifact = save(
        program_of(agent, venv, env_id, "maskable-ppo", "live-test", env_kwargs=kwargs), "numpy", tmp_path / "p"
    )
    summary = run(DeployConfig(artifact, env_id, backend="live", env_kwargs=kwargs), tmp_path / "out")
    assert summary["backend"] == "live"
    assert summary["deploy"]["decision_latency_us"]["count"] == summary["policies"]["p"]["steps"]["values"][0] > 0
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["deploy"]["run_id"] == "live-test"
