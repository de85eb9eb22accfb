from __future__ import annotations

import math
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from sysgym.agents.sweep.study import Objective, SweepConfig, open_storage, run_sweep
from sysgym.agents.training.hyperparams import lookup
from sysgym.envs.core.errors import ConfigError
from tests.toy_env import TOY_ID
from tests.training.helpers import tiny_yaml


def config(tmp_path: Path, algo: str = "ppo", **kwargs: object) -> SweepConfig:
    values: dict[str, object] = {
        "env_id": TOY_ID,
        "algo": algo,
        "trials": 3,
        "study": "toy",
        "timesteps": 128,
        "evaluations": 2,
        "eval_seeds": (900,),
        "env_kwargs": {"workload": "random"},
        "hyperparams": tiny_yaml(tmp_path, algo),
        "out": tmp_path / "sweep",
    }
    values.update(kwargs)
    return SweepConfig(**values)  # type: ignore[arg-type]


def load(cfg: SweepConfig) -> optuna.Study:
    return optuna.load_study(study_name=cfg.study, storage=open_storage(cfg))


def test_embedded_sweep_records_trials_and_exports_the_best(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    summary = run_sweep(cfg, "sysgym sweep test")
    study = load(cfg)
    done = study.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))
    assert len(done) == 3
    assert study.user_attrs["command"] == "sysgym sweep test"
    assert study.direction == optuna.study.StudyDirection.MAXIMIZE
    assert (cfg.out / "journal.log").is_file()
    best = lookup("ppo", TOY_ID, cfg.out / "toy.best.yml")
    assert best.model_kwargs["learning_rate"] == study.best_trial.params["learning_rate"]
    assert "optuna-dashboard" in summary
    again = run_sweep(cfg, "sysgym sweep test")
    assert len(load(cfg).trials) == 3, again


def test_failing_trials_are_pruned_not_fatal(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(tiny_yaml(tmp_path, "a2c").read_text() + "\ndefault:\n  no_such_argument: 1\n")
    cfg = config(tmp_path, algo="a2c", trials=2, hyperparams=bad)
    summary = run_sweep(cfg, "sysgym sweep test")
    trials = load(cfg).trials
    assert [t.state for t in trials] == [TrialState.PRUNED, TrialState.PRUNED]
    assert all("no_such_argument" in t.user_attrs["failure"] for t in trials)
    assert "nothing exported" in summary


def test_nan_objective_is_pruned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Objective, "_evaluate", lambda self, model, env: math.nan)
    cfg = config(tmp_path, trials=2)
    run_sweep(cfg, "sysgym sweep test")
    trials = load(cfg).trials
    assert all(t.state == TrialState.PRUNED for t in trials)
    assert all(
        "non-finite" in t.user_attrs["failure"] or "pruned" in t.user_attrs.get("failure", "pruned") for t in trials
    )


def test_a_study_refuses_another_env_or_algorithm(tmp_path: Path) -> None:
    cfg = config(tmp_path, trials=1)
    run_sweep(cfg, "sysgym sweep test")
    with pytest.raises(ConfigError, match="tunes ppo"):
        run_sweep(config(tmp_path, algo="a2c", trials=1), "sysgym sweep test")


def test_bad_settings_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="pruner"):
        config(tmp_path, pruner="hyperband")
    with pytest.raises(ConfigError, match="URL"):
        open_storage(config(tmp_path, storage="not-a-url"))
