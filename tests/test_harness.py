from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import pytest
from typer.testing import CliRunner

from sysgym.agents.resolve import resolve
from sysgym.envs.core.errors import ConfigError, InvalidActionError, ReplayMismatchError, UnknownNameError
from sysgym.envs.registry import spec
from sysgym.experiments.cli import app
from sysgym.experiments.harness import evaluate, run_episode
from sysgym.experiments.records import read_records
from sysgym.experiments.replay import replay
from sysgym.experiments.reports import write_report
from tests.toy_env import TOY_ID

runner = CliRunner()


def test_episode_return_and_metrics_are_hand_computed() -> None:
    # queues (3, 1); serving the longest: waits after each step 3, 2, 1, 0 -> return -6
    record = run_episode(TOY_ID, resolve(TOY_ID, "longest"), seed=0, env_kwargs={})
    assert record.metrics == {"served": 4.0, "left": 0.0, "episode_return": -6.0, "steps": 4.0}
    assert record.actions == [0, 0, 0, 1]
    assert run_episode(TOY_ID, resolve(TOY_ID, "shortest"), 0, {}).metrics["episode_return"] == -6.0


def test_frontend_refuses_bad_actions_and_configs() -> None:
    env = gym.make(TOY_ID, disable_env_checker=True)
    env.reset(seed=0)
    for action in (2, -1, "x"):
        with pytest.raises(InvalidActionError):
            env.step(action)
    for _ in range(3):
        env.step(0)
    with pytest.raises(InvalidActionError, match="masked out"):
        env.step(0)
    with pytest.raises(ConfigError, match="unknown workload"):
        gym.make(TOY_ID, workload="nope")
    with pytest.raises(ConfigError, match="no backend 'live'"):
        gym.make(TOY_ID, backend="live")


def test_unknown_policy_lists_the_known_ones() -> None:
    with pytest.raises(UnknownNameError, match="known: longest, random, shortest"):
        resolve(TOY_ID, "smartest")


def test_report_files_and_replay(tmp_path: Path) -> None:
    policies = [resolve(TOY_ID, n) for n in ("longest", "random")]
    records = evaluate(TOY_ID, policies, [0, 1, 2], {"workload": "random"})
    summary = write_report(spec(TOY_ID), records, {"workload": "random"}, tmp_path)
    assert {p.name for p in tmp_path.iterdir()} >= {
        "summary.json",
        "summary.md",
        "episodes.jsonl",
        "command.txt",
    }
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["policies"]["longest"]["episode_return"]["values"] == [
        r.metrics["episode_return"] for r in records if r.policy == "longest"
    ]
    assert set(saved) >= {"env", "version", "backend", "workload", "env_kwargs", "seeds", "policies"}
    assert summary["seeds"] == [0, 1, 2]
    for record in read_records(tmp_path / "episodes.jsonl"):
        assert replay(record).matches


def test_replay_detects_a_tampered_record(tmp_path: Path) -> None:
    record = run_episode(TOY_ID, resolve(TOY_ID, "longest"), 0, {})
    record.metrics["served"] = 5.0
    assert replay(record).mismatches == {"served": (5.0, 4.0)}
    record.actions = record.actions[:2]
    with pytest.raises(ReplayMismatchError, match="more decisions"):
        replay(record)


def test_cli_eval_then_replay(tmp_path: Path) -> None:
    out = tmp_path / "eval"
    result = runner.invoke(app, ["eval", "--env", TOY_ID, "--policy", "all", "--seeds", "0-1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "longest" in (out / "summary.md").read_text()
    result = runner.invoke(app, ["replay", str(out / "episodes.jsonl")])
    assert result.exit_code == 0, result.output
    lines = (out / "episodes.jsonl").read_text().splitlines()
    tampered = json.loads(lines[0])
    tampered["metrics"]["served"] = 99.0
    (out / "bad.jsonl").write_text(json.dumps(tampered) + "\n")
    assert runner.invoke(app, ["replay", str(out / "bad.jsonl")]).exit_code == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["eval", "--env", "sysgym/Nope-v0", "--out", "x"], "unknown env id"),
        (["eval", "--env", TOY_ID, "--policy", "nope", "--out", "x"], "unknown policy"),
        (["eval", "--env", TOY_ID, "--workload", "nope", "--out", "x"], "unknown workload"),
        (["eval", "--env", TOY_ID, "--seeds", "z", "--out", "x"], "cannot read seeds"),
        (["calibrate", "--target", "tpu", "--out", "x"], "unknown calibration target"),
    ],
)
def test_cli_bad_input_exits_2_naming_the_problem(args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert message in result.output


def test_table(tmp_path: Path) -> None:
    runner.invoke(app, ["eval", "--env", TOY_ID, "--seeds", "0", "--out", str(tmp_path / "a")])
    result = runner.invoke(app, ["table", str(tmp_path / "a" / "summary.json"), "--out", str(tmp_path / "t.md")])
    assert result.exit_code == 0, result.output
    assert f"| {TOY_ID} | default | 1 (0-0) | episode_return |" in (tmp_path / "t.md").read_text()


def test_bench_writes_a_ratio_table(tmp_path: Path) -> None:
    out = tmp_path / "bench.md"
    result = runner.invoke(app, ["bench", "--env", TOY_ID, "--seconds", "0.05", "--rounds", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    row = next(line for line in out.read_text().splitlines() if line.startswith(f"| {TOY_ID}"))
    steps, reference, ratio = (float(c.replace(",", "")) for c in row.split("|")[2:5])
    assert steps > 0 and reference > 0
    assert ratio == pytest.approx(steps / reference, abs=0.006)
