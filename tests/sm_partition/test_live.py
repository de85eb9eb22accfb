from pathlib import Path

import gymnasium as gym
import pytest

import sysgym  # noqa: F401
from sysgym.envs.core.errors import BackendUnavailableError


def test_live_backend_without_gpu_says_so() -> None:
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(BackendUnavailableError, match=r"CUDA|GPU"):
        gym.make("sysgym/SMPartition-v0", backend="live", requests=10)


@pytest.mark.gpu
def test_live_episode_matches_model_within_25_percent() -> None:
    env = gym.make("sysgym/SMPartition-v0", backend="live", requests=40, rate=10.0, window_iters=20)
    _, info = env.reset(seed=0)
    while True:
        _, _, term, trunc, info = env.step(len(info["action_mask"]) - 1)
        if term or trunc:
            break
    assert info["metrics"]["finished"] == 40
    assert info["metrics"]["live_model_error"] < 0.25
    env.close()


@pytest.mark.gpu
def test_calibrate_writes_the_packaged_shape(tmp_path: Path) -> None:
    import json

    from sysgym.envs.calibration import load
    from sysgym.envs.serving.models import MODELS
    from sysgym.envs.serving.perf import PerfModel
    from sysgym.runtime.gpu.calibrate import run

    out = tmp_path / "gpu.json"
    run(out)
    data = json.loads(out.read_text())
    assert set(load()["sections"]) - {
        "disk",
        "disk_qd",
        "threaded_small_copies",
        "per_gemm_overhead",
        "cpu_side",
        "swap_compute_contention",
    } <= set(data["sections"])
    PerfModel(data, MODELS["llama3-8b"])
