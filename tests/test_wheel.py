"""The distribution installs as one `sysgym` package (no top-level `envs`) and every id makes in a fresh venv."""

from __future__ import annotations

import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COPIED = ("package", "envs", "agents", "runtime", "experiments", "pyproject.toml", "setup.py", "README.md")

CHECK = """
import importlib.util, sys
import gymnasium as gym
import sysgym
from sysgym.envs.registry import specs
assert importlib.util.find_spec("envs") is None, "a top-level 'envs' package was installed"
assert importlib.util.find_spec("runtime") is None, "a top-level 'runtime' package was installed"
assert "site-packages" in sysgym.__file__, sysgym.__file__
import sysgym.envs.storage.core as compiled
assert compiled.__file__.endswith(".so"), "the wheel did not compile the storage simulator: " + compiled.__file__
for s in specs():
    gym.make(s.id, **dict(s.quick_kwargs)).close()
print("made", len(specs()))
"""


@pytest.mark.slow
def test_wheel_installs_into_a_fresh_venv(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    for name in COPIED:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.so"))
        else:
            shutil.copy(path, source / name)
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            wheels,
            source,
        ],
        check=True,
    )
    (wheel,) = wheels.glob("sysgym-*.whl")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    # The dependencies come from this venv's site-packages (a plain path, so its editable sysgym hook stays off).
    site = next((env_dir / "lib").glob("python*/site-packages"))
    (site / "dependencies.pth").write_text(next(p for p in sys.path if p.endswith("site-packages")) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "-q", wheel], check=True)
    result = subprocess.run([python, "-c", CHECK], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("made")
