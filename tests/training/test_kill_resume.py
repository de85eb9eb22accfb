"""A real kill: `sysgym train` in a subprocess is SIGKILLed after its first checkpoint, then `--resume`d."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from sysgym.agents.training import run
from sysgym.agents.training.checkpoint import checkpoints
from tests.toy_env import TOY_ID
from tests.training.helpers import ROOT, sysgym, tiny_yaml
from tests.training.test_train import params_of, scalars


@pytest.mark.slow
def test_killed_run_resumes_with_the_same_curve(tmp_path: Path) -> None:
    args = [
        "train",
        "--env", TOY_ID,
        "--algo", "ppo",
        "--timesteps", "1500",
        "--seed", "7",
        "--checkpoint-every", "128",
        "--hyperparams", str(tiny_yaml(tmp_path, "ppo")),
        "--env-kwargs", "workload=random",
    ]  # fmt: skip
    killed = tmp_path / "killed"
    proc = subprocess.Popen([*sysgym(*args, "--out", str(killed))], cwd=ROOT, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not checkpoints(killed / "checkpoints") and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read() if proc.stderr else ""
    progress = json.loads((killed / "training.json").read_text())
    assert progress["status"] == "running"
    assert not (killed / "model.zip").exists()

    resumed = subprocess.run(sysgym("train", "--resume", str(killed)), cwd=ROOT, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr

    reference = tmp_path / "reference"
    config = run.TrainConfig.read(killed / "config.json")
    run.start(config, reference, {}, "sysgym train reference")

    expected, got = params_of(reference), params_of(killed)
    for key in expected:
        assert torch.equal(expected[key], got[key]), key
    curve, resumed_curve = scalars(reference), scalars(killed)
    for tag in ("charts/ep_rew_mean", "losses/value_loss", "env/served"):
        assert curve[tag] == resumed_curve[tag], tag
    assert json.loads((killed / "training.json").read_text())["status"] == "finished"
