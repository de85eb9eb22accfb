"""The artifact formats: metadata, ONNX opset and checker, numpy-only loading, refusals that name the problem."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import onnx
import pytest

from sysgym.agents.export.export import program_of, save
from sysgym.agents.resolve import resolve
from sysgym.runtime.policy import ArtifactError, NumpyPolicy, PolicyMetadata, load, load_npz, save_npz
from sysgym.runtime.policy.adapter import ArtifactPolicy, check_env
from sysgym.runtime.policy.onnx_runner import METADATA_KEY
from tests.export.helpers import model
from tests.toy_env import TOY_ID

STORAGE = "sysgym/HybridStorage-Placement-v0"


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("artifacts")
    agent, venv = model("maskable-ppo", TOY_ID, {"workload": "random"}, seed=0, learn=0)
    program = program_of(agent, venv, TOY_ID, "maskable-ppo", "toy-run", {"seed": "0"}, {"workload": "random"})
    return {fmt: save(program, fmt, folder / "toy") for fmt in ("numpy", "onnx")}


def test_metadata_is_complete_and_identical_in_both_formats(exported: dict[str, Path]) -> None:
    npz, onnx_file = load(exported["numpy"]), load(exported["onnx"])
    assert npz.metadata == onnx_file.metadata
    meta = npz.metadata
    assert (meta.env_id, meta.env_version, meta.run_id, meta.algorithm) == (TOY_ID, 0, "toy-run", "maskable-ppo")
    assert meta.observation_space.kind == "Box" and meta.observation_space.shape == (2,)
    assert meta.action_space.kind == "Discrete" and meta.action_space.n == 2
    assert meta.sysgym_version and meta.masked and meta.extra == {"seed": "0"}
    assert PolicyMetadata.from_json(meta.to_json()) == meta


def test_onnx_is_opset_17_checked_and_self_contained(exported: dict[str, Path]) -> None:
    proto = onnx.load(str(exported["onnx"]))
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= 17
    onnx.checker.check_model(proto, full_check=True)
    assert {i.name for i in proto.graph.input} == {"obs", "action_mask"}
    ops = {node.op_type for node in proto.graph.node}
    assert {"Sub", "Div", "Clip", "Gemm", "Tanh", "Where", "ArgMax"} <= ops  # normaliser, network, mask, argmax
    assert json.loads({p.key: p.value for p in proto.metadata_props}[METADATA_KEY])["env_id"] == TOY_ID


def test_artifacts_are_small(exported: dict[str, Path]) -> None:
    # a 64x64 MLP: ~4.5k float32 parameters (~18 KiB); the value head and optimiser state are not exported
    for path in exported.values():
        assert path.stat().st_size < 40 * 1024
    runtime = load(exported["numpy"])
    assert isinstance(runtime, NumpyPolicy)
    assert (
        runtime.program.parameter_bytes
        == sum(layer.weight.nbytes + layer.bias.nbytes for layer in runtime.program.layers)
        + runtime.program.normaliser.mean.nbytes * 2
    )  # type: ignore[union-attr]


def test_numpy_runtime_needs_neither_torch_nor_sb3_nor_onnxruntime(exported: dict[str, Path]) -> None:
    code = (
        "import sys; from pathlib import Path; import numpy as np;"
        "from sysgym.runtime.policy import load;"
        f"p = load(Path({str(exported['numpy'])!r}));"
        "print(p.act(np.array([0.75, 0.25], np.float32), np.array([True, True])));"
        "bad = [m for m in ('torch', 'stable_baselines3', 'sb3_contrib', 'onnxruntime') if m in sys.modules];"
        "assert not bad, bad"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() in ("0", "1")


def test_npz_is_read_without_pickles_and_round_trips(exported: dict[str, Path], tmp_path: Path) -> None:
    program = load_npz(exported["numpy"])
    copy = tmp_path / "copy.npz"
    save_npz(program, copy)
    again = load_npz(copy)
    assert again.metadata == program.metadata and again.head == program.head
    for a, b in zip(program.layers, again.layers, strict=True):
        assert np.array_equal(a.weight, b.weight) and a.activation == b.activation


@pytest.mark.parametrize("content", [b"", b"not a zip", b"PK\x03\x04garbage"])
def test_broken_files_raise_artifact_errors_naming_the_file(tmp_path: Path, content: bytes) -> None:
    for suffix in (".npz", ".onnx"):
        path = tmp_path / f"broken{suffix}"
        path.write_bytes(content)
        with pytest.raises(ArtifactError, match="broken"):
            load(path)
    with pytest.raises(ArtifactError, match="does not exist"):
        load(tmp_path / "missing.npz")
    with pytest.raises(ArtifactError, match="unknown artifact kind"):
        (tmp_path / "x.pt").write_bytes(b"")
        load(tmp_path / "x.pt")


def test_npz_from_another_format_version_is_refused(exported: dict[str, Path], tmp_path: Path) -> None:
    program = load_npz(exported["numpy"])
    newer = dataclasses.replace(program.metadata, format_version=99)
    save_npz(dataclasses.replace(program, metadata=newer), tmp_path / "new.npz")
    with pytest.raises(ArtifactError, match="format version 99"):
        load(tmp_path / "new.npz")


def test_mismatched_env_is_refused_with_what_differs(exported: dict[str, Path], tmp_path: Path) -> None:
    runtime = load(exported["numpy"])
    with pytest.raises(ArtifactError) as error:
        check_env(runtime, STORAGE)
    text = str(error.value)
    assert "env: artifact 'sysgym-test/Toy-v0'" in text
    assert "observation space shape: (2,) != (48,)" in text and "action space n: 2 != 2" not in text
    program = load_npz(exported["numpy"])
    other = dataclasses.replace(program.metadata, env_version=1)
    save_npz(dataclasses.replace(program, metadata=other), tmp_path / "v1.npz")
    with pytest.raises(ArtifactError, match="env version: artifact v1, deployment v0"):
        check_env(load(tmp_path / "v1.npz"), TOY_ID)
    check_env(runtime, TOY_ID, {"workload": "fixed"})  # same spaces, another workload: fine


def test_space_differences_are_named_field_by_field() -> None:
    from sysgym.runtime.policy.spaces import describe

    a = describe(gym.spaces.Box(0.0, 1.0, (3,), np.float32))
    b = describe(gym.spaces.Box(0.0, 2.0, (3,), np.float32))
    assert a.differences(b) == ["high: (1.0,) != (2.0,)"]
    assert describe(gym.spaces.Discrete(4)).differences(describe(gym.spaces.Discrete(5))) == ["n: 4 != 5"]
    with pytest.raises(ArtifactError, match="Dict"):
        describe(gym.spaces.Dict({"a": gym.spaces.Discrete(2)}))


def test_artifacts_resolve_as_harness_policies(exported: dict[str, Path]) -> None:
    for path in exported.values():
        policy = resolve(TOY_ID, str(path))
        assert isinstance(policy, ArtifactPolicy)
        assert policy.act(np.array([0.25, 0.75], np.float32), {"action_mask": np.array([True, False])}) == 0
    with pytest.raises(ArtifactError, match="env: artifact 'sysgym-test/Toy-v0', deployment 'sysgym/Hybrid"):
        resolve(STORAGE, str(exported["numpy"]))
    policy = resolve(TOY_ID, str(exported["numpy"]))
    with pytest.raises(ArtifactError, match=r"observation shape: artifact \(2,\), env \(3,\)"):
        policy.act(np.zeros(3, np.float32), {"action_mask": np.array([True, True])})
    with pytest.raises(ArtifactError, match="action mask length: artifact 2, env 4"):
        policy.act(np.zeros(2, np.float32), {"action_mask": np.ones(4, bool)})
    assert policy.act(np.zeros(2, np.float32), {"action_mask": np.array([False, True])}) == 1


def test_deploy_runs_episodes_by_count_or_duration(exported: dict[str, Path], tmp_path: Path) -> None:
    from sysgym.envs.core.errors import ConfigError
    from sysgym.runtime.deploy import DeployConfig, run

    counted = run(DeployConfig(exported["onnx"], TOY_ID, workload="random", episodes=3, seed=5), tmp_path / "a")
    assert counted["seeds"] == [5, 6, 7] and counted["deploy"]["episodes"] == 3
    timed = run(DeployConfig(exported["numpy"], TOY_ID, workload="random", duration_s=0.3), tmp_path / "b")
    assert timed["deploy"]["episodes"] >= 2 and timed["deploy"]["wall_s"] >= 0.3
    latency = timed["deploy"]["decision_latency_us"]
    assert latency["count"] == sum(timed["policies"]["toy"]["steps"]["values"])
    with pytest.raises(ConfigError, match="duration"):
        DeployConfig(exported["numpy"], TOY_ID, duration_s=0)
