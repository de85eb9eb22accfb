"""Every baseline runs on every id through the harness; the single-decision envs use their named heuristics."""

from __future__ import annotations

import pytest

from sysgym.envs.storage import SPECS
from sysgym.envs.storage.baselines import BASELINES
from sysgym.envs.storage.config import MIGRATION_RULES, PLACEMENT_RULES
from sysgym.experiments.harness import run_episode


@pytest.mark.parametrize("env_id", [s.id for s in SPECS])
@pytest.mark.parametrize("name", sorted(BASELINES))
def test_baseline_runs_and_reports_metrics(env_id: str, name: str) -> None:
    if name == "rnn-hss" and not env_id.endswith("HybridStorage-v0"):
        pytest.skip("RNN-HSS trains an LSTM; the joint id covers it")
    record = run_episode(env_id, BASELINES[name](), 0, {"max_requests": 1_100, "config": "tri"})
    assert record.metrics["requests"] == 1_100
    assert record.metrics["mean_latency_us"] > 0


def test_slow_only_never_touches_the_fast_device() -> None:
    m = run_episode("sysgym/HybridStorage-v0", BASELINES["slow-only"](), 0, {"max_requests": 2000}).metrics
    assert m["fast_hit_ratio"] == 0 and m["migrated_gib"] == 0


@pytest.mark.parametrize("rule", PLACEMENT_RULES)
def test_migration_env_accepts_every_placement_rule(rule: str) -> None:
    policy = BASELINES["cde+heat-hysteresis"]()
    if rule == "rnn-hss":
        pytest.skip("covered by the joint id")
    run_episode("sysgym/HybridStorage-Migration-v0", policy, 0, {"max_requests": 300, "placement_policy": rule})


@pytest.mark.parametrize("rule", MIGRATION_RULES)
def test_placement_env_accepts_every_migration_rule(rule: str) -> None:
    policy = BASELINES["cde"]()
    if rule == "rnn-hss":
        pytest.skip("covered by the joint id")
    run_episode("sysgym/HybridStorage-Placement-v0", policy, 0, {"max_requests": 300, "migration_policy": rule})
