"""End to end through the CLI: train a run, export it both ways, evaluate the artifacts, deploy them, bench them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest
import yaml
from typer.testing import CliRunner

from sysgym.envs.core.errors import BackendUnavailableError
from sysgym.envs.registry import spec
from sysgym.experiments.cli import app

runner = CliRunner()
STORAGE = "sysgym/HybridStorage-Placement-v0"
SPARK = "sysgym/SparkJobOrder-v0"
TINY = {"n_envs": 1, "n_steps": 64, "batch_size": 64, "n_epochs": 1, "normalize": {"obs": True, "reward": True}}


def invoke(*args: str) -> Any:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, f"{args}: {result.output}\n{result.exception!r}"
    return result


SPARK_KWARGS = {  # local[2] fits this machine; the same config trains on the model and deploys on live Spark
    "workload": "poisson",
    "poisson_users": 2,
    "poisson_rate_per_min": 30.0,
    "poisson_duration_s": 10.0,
    "cores": 2,
    "default_tasks": 2,
    "time_scale": 0.05,
    "live_timeout_s": 240.0,
}


def env_kwargs(env_id: str) -> dict[str, Any]:
    return SPARK_KWARGS if env_id == SPARK else dict(spec(env_id).quick_kwargs)


def kwargs_args(env_id: str) -> list[str]:
    return [x for k, v in env_kwargs(env_id).items() for x in ("--env-kwargs", f"{k}={json.dumps(v)}")]


def train_and_export(root: Path, env_id: str) -> Path:
    """A short maskable-ppo run with `sysgym train`, exported with `sysgym export` in both formats beside it."""
    name = env_id.split("/")[1]
    hyperparams = root / f"{name}.yml"
    hyperparams.write_text(yaml.safe_dump({"default": {"policy": "MlpPolicy", **TINY}}))
    run = root / name
    invoke("train", "--env", env_id, "--algo", "maskable-ppo", "--timesteps", 64, "--seed", 3,
           "--hyperparams", hyperparams, "--out", run, *kwargs_args(env_id))  # fmt: skip
    for fmt, suffix in (("onnx", ".onnx"), ("numpy", ".npz")):
        out = root / f"{name}{suffix}"
        output = invoke("export", run, "--format", fmt, "--out", out).output
        assert "wrote" in output and "maskable-ppo" in output and out.exists()
    return run


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    return {STORAGE: train_and_export(root, STORAGE)}


@pytest.fixture(scope="module")
def spark_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_and_export(tmp_path_factory.mktemp("spark"), SPARK)


def eval_three_ways(env_id: str, run: Path, out: Path) -> dict[str, Any]:
    """`sysgym eval` of the run folder and both artifacts on seeds 0-1; checks they acted identically."""
    policies = ",".join(str(p) for p in [run, run.with_suffix(".onnx"), run.with_suffix(".npz")])
    invoke("eval", "--env", env_id, "--policy", policies, "--seeds", "0-1", "--out", out, *kwargs_args(env_id))
    summary: dict[str, Any] = json.loads((out / "summary.json").read_text())
    assert len(summary["policies"]) == 3
    values = [stats[spec(env_id).headline_metric]["values"] for stats in summary["policies"].values()]
    assert values[0] == values[1] == values[2], values  # same decisions -> same metrics, bit for bit
    actions: dict[int, list[Any]] = {}
    for line in (out / "episodes.jsonl").read_text().splitlines():
        record = json.loads(line)
        actions.setdefault(record["seed"], []).append(record["actions"])
    assert all(a[0] == a[1] == a[2] for a in actions.values())
    return summary


@pytest.fixture(scope="module")
def evaluated(trained: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return eval_three_ways(STORAGE, trained[STORAGE], tmp_path_factory.mktemp("eval"))


def test_eval_by_artifact_equals_eval_by_run(evaluated: dict[str, Any]) -> None:
    assert evaluated["env"] == STORAGE and evaluated["seeds"] == [0, 1]


@pytest.mark.slow
def test_spark_policy_exports_and_evaluates_identically(spark_run: Path, tmp_path: Path) -> None:
    eval_three_ways(SPARK, spark_run, tmp_path / "eval")


def test_deploy_on_the_model_backend_writes_the_harness_summary_and_latency(
    trained: dict[str, Path], evaluated: dict[str, Any], tmp_path: Path
) -> None:
    run = trained[STORAGE]
    out = tmp_path / "deploy"
    invoke("deploy", run.with_suffix(".npz"), "--env", STORAGE, "--backend", "model", "--episodes", 2, "--out", out,
           *kwargs_args(STORAGE))  # fmt: skip
    summary = json.loads((out / "summary.json").read_text())
    assert summary["env"] == STORAGE and summary["backend"] == "model" and summary["seeds"] == [0, 1]
    deploy = summary["deploy"]
    latency = deploy["decision_latency_us"]
    steps = sum(summary["policies"][run.name]["steps"]["values"])
    assert latency["count"] == steps > 0
    assert 0 < latency["p50"] <= latency["p99"] <= latency["max"]
    assert deploy["algorithm"] == "maskable-ppo" and deploy["run_id"].startswith(run.name)
    lines = (out / "decisions.csv").read_text().splitlines()
    assert lines[0] == "episode,step,action,latency_us" and len(lines) == steps + 1
    assert "decision latency" in (out / "summary.md").read_text()
    # the deployment's episodes are the harness's episodes: same metrics as `sysgym eval` of the run folder
    metric = summary["headline_metric"]
    assert summary["policies"][run.name][metric]["values"] == evaluated["policies"][str(run)][metric]["values"]


def test_deploy_refuses_a_policy_for_other_spaces(trained: dict[str, Path], tmp_path: Path) -> None:
    result = runner.invoke(app, ["deploy", str(trained[STORAGE].with_suffix(".onnx")), "--env", SPARK,
                                 "--out", str(tmp_path / "x")])  # fmt: skip
    assert result.exit_code == 2
    assert "does not fit sysgym/SparkJobOrder-v0" in result.output and "observation space shape" in result.output
    assert not (tmp_path / "x").exists()


def _live(env_id: str) -> None:
    if "live" not in spec(env_id).backends:
        pytest.skip(f"{env_id} has no live backend in this tree yet")
    try:
        gym.make(env_id, disable_env_checker=True, backend="live", **env_kwargs(env_id)).close()
    except BackendUnavailableError as exc:
        pytest.skip(f"live backend unavailable here: {exc}")


def deploy_live(env_id: str, run: Path, out: Path) -> None:
    _live(env_id)
    invoke("deploy", run.with_suffix(".npz"), "--env", env_id, "--backend", "live", "--out", out,
           *kwargs_args(env_id))  # fmt: skip
    summary = json.loads((out / "summary.json").read_text())
    assert summary["backend"] == "live" and summary["deploy"]["decision_latency_us"]["count"] > 0
    assert summary["headline_metric"] in summary["policies"][run.name]


def test_storage_policy_deploys_on_the_live_tiered_files_unchanged(trained: dict[str, Path], tmp_path: Path) -> None:
    deploy_live(STORAGE, trained[STORAGE], tmp_path / "live")


@pytest.mark.slow
@pytest.mark.spark
def test_spark_policy_deploys_on_live_pyspark_unchanged(spark_run: Path, tmp_path: Path) -> None:
    deploy_live(SPARK, spark_run, tmp_path / "live")


def test_bench_policies_reports_every_artifact(
    trained: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "results" / "policies"
    folder.mkdir(parents=True)
    for suffix in (".onnx", ".npz"):
        (folder / f"storage{suffix}").write_bytes(trained[STORAGE].with_suffix(suffix).read_bytes())
    monkeypatch.chdir(tmp_path)
    invoke("bench", "--policies")
    text = (tmp_path / "results" / "policy-latency.md").read_text()
    assert "| storage.npz | sysgym/HybridStorage-Placement-v0 | maskable-ppo | numpy |" in text
    assert "| storage.onnx | sysgym/HybridStorage-Placement-v0 | maskable-ppo | onnxruntime |" in text
    assert "206" in text and "np.add" in text
