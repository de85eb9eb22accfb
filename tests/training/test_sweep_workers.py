"""Sweeps with worker processes: a worker killed mid-trial, and two workers sharing one PostgreSQL study."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from sysgym.agents.sweep.study import SweepConfig, database_url, open_storage, run_sweep
from tests.toy_env import TOY_ID
from tests.training.helpers import ROOT, sysgym, tiny_yaml

POSTGRES_ENV = "SYSGYM_TEST_POSTGRES_URL"


def worker_args(
    hyperparams: Path, study: str, trials: int, timesteps: int, storage: str | None, out: Path
) -> list[str]:
    args = [
        "sweep", "--env", TOY_ID, "--algo", "ppo", "--trials", str(trials), "--study", study,
        "--timesteps", str(timesteps), "--evaluations", "2", "--eval-seeds", "900",
        "--env-kwargs", "workload=random", "--hyperparams", str(hyperparams), "--out", str(out),
    ]  # fmt: skip
    return args + (["--storage", storage] if storage else [])


@pytest.mark.slow
def test_a_killed_worker_loses_no_finished_trial_and_the_study_resumes(tmp_path: Path) -> None:
    out = tmp_path / "sweep"
    cfg = SweepConfig(
        env_id=TOY_ID,
        algo="ppo",
        trials=2,
        study="killed",
        timesteps=512,
        evaluations=2,
        eval_seeds=(900,),
        env_kwargs={"workload": "random"},
        hyperparams=tiny_yaml(tmp_path, "ppo"),
        grace_s=1.0,
        out=out,
    )
    args = worker_args(cfg.hyperparams or Path(), cfg.study, cfg.trials, cfg.timesteps, None, out)
    proc = subprocess.Popen(sysgym(*args), cwd=ROOT, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    study: optuna.Study | None = None
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
        if not (out / "journal.log").exists():
            continue
        try:
            study = optuna.load_study(study_name=cfg.study, storage=open_storage(cfg))
        except KeyError:
            continue
        states = [t.state for t in study.get_trials(deepcopy=False)]
        if TrialState.COMPLETE in states and states[-1] == TrialState.RUNNING:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read() if proc.stderr else ""
    assert study is not None
    before = {t.number: t.value for t in study.get_trials(states=(TrialState.COMPLETE,))}
    killed = [t.number for t in study.get_trials(states=(TrialState.RUNNING,))]
    assert before and killed

    time.sleep(cfg.grace_s * 1.5)
    summary = run_sweep(cfg, "sysgym sweep resume")
    after = optuna.load_study(study_name=cfg.study, storage=open_storage(cfg))
    assert {t.number: t.value for t in after.get_trials(states=(TrialState.COMPLETE,)) if t.number in before} == before
    assert [t.state for t in after.trials if t.number in killed] == [TrialState.FAIL] * len(killed)
    retried = [t for t in after.trials if t.user_attrs.get("retry_of") in killed]
    assert retried and all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in retried)
    assert len(after.get_trials(states=(TrialState.COMPLETE, TrialState.PRUNED))) >= cfg.trials
    assert str(killed) in summary


def _postgres_url() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"set {POSTGRES_ENV} (CI: .ci/postgres.sh starts a server; see its header) to run this test")
    import sqlalchemy

    try:
        with sqlalchemy.create_engine(database_url(url)).connect():
            pass
    except Exception as exc:
        pytest.skip(f"no PostgreSQL server reachable at {POSTGRES_ENV}={url}: {exc}")
    return url


@pytest.mark.slow
def test_two_workers_share_one_postgresql_study(tmp_path: Path) -> None:
    url = _postgres_url()
    study_name = f"two-workers-{uuid.uuid4().hex[:8]}"
    hyperparams = tiny_yaml(tmp_path, "ppo")
    trials = 4
    procs = [
        subprocess.Popen(
            sysgym(*worker_args(hyperparams, study_name, trials, 128, url, tmp_path / f"w{i}"), "--worker", str(i)),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
    study = optuna.load_study(study_name=study_name, storage=database_url(url))
    records = study.get_trials(deepcopy=False)
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in records)
    assert len(records) >= trials
    assert sorted(t.number for t in records) == list(range(len(records)))
    assert len({t._trial_id for t in records}) == len(records)
    workers = {t.user_attrs["worker"].rsplit(":", 1)[1] for t in records}
    assert workers == {"0", "1"}, "both workers should have run trials"
    pids = {proc.pid for proc in procs}
    assert {int(t.user_attrs["worker"].split(":")[1]) for t in records} <= pids
