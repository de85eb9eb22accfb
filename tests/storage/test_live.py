"""The live tiered-file backend (tmpfs + O_DIRECT disk) and `calibrate --target storage`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import pytest

from sysgym.envs.core.errors import BackendUnavailableError
from sysgym.envs.storage.baselines import BASELINES
from sysgym.envs.storage.devices import resolve
from sysgym.experiments.harness import run_episode
from sysgym.runtime.storage import calibrate
from sysgym.runtime.storage.live import PREFIX

ENV = "sysgym/HybridStorage-v0"


def leftovers(*roots: Path) -> list[Path]:
    return [p for root in roots for p in root.glob(f"{PREFIX}*")]


@pytest.fixture
def roots(tmp_path: Path) -> tuple[str, str]:
    fast = Path("/dev/shm") if Path("/dev/shm").is_dir() else tmp_path / "fast"
    fast.mkdir(exist_ok=True)
    slow = Path("/var/tmp") if Path("/var/tmp").is_dir() else tmp_path / "slow"
    return str(fast), str(slow)


def test_live_latencies_order_the_tiers_as_the_model_does(roots: tuple[str, str]) -> None:
    before = set(leftovers(*map(Path, roots)))
    kwargs = {"max_requests": 400, "live_roots": roots, "live_budget_mib": 16, "workload": "read-heavy"}
    means = {}
    for backend in ("model", "live"):
        for name in ("slow-only", "fast-only"):
            record = run_episode(ENV, BASELINES[name](), 0, {**kwargs, "backend": backend})
            means[backend, name] = record.metrics["mean_latency_us"]
            assert record.metrics["requests"] == 400
    assert means["model", "fast-only"] < means["model", "slow-only"]
    assert means["live", "fast-only"] < means["live", "slow-only"]
    assert set(leftovers(*map(Path, roots))) == before


def test_live_migrations_copy_data_and_cleanup_on_close(roots: tuple[str, str]) -> None:
    env = gym.make(ENV, backend="live", max_requests=300, live_roots=roots, live_budget_mib=8)
    policy = BASELINES["cde+promote-k1"]()
    obs, info = env.reset(seed=1)
    created = [Path(d) for d in env.unwrapped._backend.io.dirs]
    assert all(d.is_dir() and d.name.startswith(PREFIX) for d in created)
    done = False
    while not done:
        obs, _, done, _, info = env.step(policy.act(obs, info))
    assert info["metrics"]["migrated_gib"] > 0
    env.close()
    env.close()
    assert not any(d.exists() for d in created)


def test_live_cleans_up_after_an_exception_in_a_process(roots: tuple[str, str]) -> None:
    before = set(leftovers(*map(Path, roots)))
    script = (
        "import gymnasium as gym, sysgym\n"
        f"env = gym.make('{ENV}', backend='live', max_requests=200, live_roots={roots!r}, live_budget_mib=8)\n"
        "env.reset(seed=0)\n"
        "env.step(0)\n"
        "raise RuntimeError('interrupted mid-episode')\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert "interrupted mid-episode" in result.stderr
    assert set(leftovers(*map(Path, roots))) == before


def test_live_refuses_devices_and_full_roots(tmp_path: Path) -> None:
    env = gym.make(ENV, backend="live", max_requests=100, live_roots=("/dev/null", str(tmp_path)))
    with pytest.raises(BackendUnavailableError, match="device"):
        env.reset(seed=0)
    env = gym.make(ENV, backend="live", max_requests=100, live_roots=("/dev", str(tmp_path)))
    with pytest.raises(BackendUnavailableError, match="/dev"):
        env.reset(seed=0)
    env = gym.make(ENV, backend="live", max_requests=100, live_roots=(str(tmp_path / "missing"), str(tmp_path)))
    with pytest.raises(BackendUnavailableError, match="does not exist"):
        env.reset(seed=0)
    assert not leftovers(tmp_path)


def test_calibrate_writes_a_device_the_model_accepts(tmp_path: Path) -> None:
    out = tmp_path / "disk.json"
    document = calibrate.measure(Path("/var/tmp") if Path("/var/tmp").is_dir() else tmp_path, 16, 0.05, 200)
    out.write_text(__import__("json").dumps(document))
    assert {"disk", "disk_qd"} <= set(document["sections"])
    device = resolve(str(out))
    assert device.read_base_us > 0 and device.read_mbps > 0 and device.parallelism >= 1
    env = gym.make(ENV, devices=("optane", str(out)), max_requests=200)
    env.reset(seed=0)
    assert env.unwrapped._backend.specs[1].name == str(out)


def test_packaged_calibration_fits_the_measured_disk() -> None:
    device = resolve("nvme-measured")
    # The fit must reproduce the measured queue-depth-1 latencies (h100.json disk_qd, 1 thread) within 15 %.
    measured = {4096: 1e6 / 32439.7, 65536: 1e6 / 11734.4, 262144: 1e6 / 4169.2}
    for size, latency in measured.items():
        model = device.read_base_us + size / device.read_mbps
        assert abs(model - latency) / latency < 0.15, (size, model, latency)
