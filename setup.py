"""Maps the top-level folders onto one distribution, and compiles the simulators' hottest modules with mypyc.

pyproject.toml holds the metadata; this file computes what pyproject cannot: the package list (`import
sysgym.envs` works and no top-level `envs` exists) and the compiled extensions. mypyc names a module after its
folders, so it reads the sources through `build/mypyc-src/sysgym`, a tree of links that mirrors the installed
layout. A compiled module is the same typed Python file, so every test and result holds for it unchanged; after
editing one, rebuild (`make` does it) or the stale extension keeps running (tests/test_native.py catches that).

Every compiled class carries `@mypyc_attr(serializable=True, allow_interpreted_subclasses=True)`: with both,
calling the class runs `__init__` and pickle rebuilds an instance from its attributes, as for a Python class. A
class mypyc cannot open to subclasses (a frozen dataclass, one with `__getattr__`) is compiled as a Python class
instead, with `@mypyc_attr(native_class=False)`.
"""

from pathlib import Path

from mypyc.build import mypycify
from setuptools import find_packages, setup

SUBPACKAGES = ("envs", "agents", "runtime", "experiments")
COMPILED = (
    "envs/storage/core.py",
    "envs/storage/queues.py",
    "envs/serving/engine.py",
    "envs/serving/request.py",
    "envs/serving/schedulers.py",
    "envs/serving/kv.py",
    "envs/preemption/scheduler.py",
    "envs/moe/backend.py",
    "envs/moe/llep.py",
    "envs/moe/sparse.py",
)
MYPYC_OPTIONS = ("--follow-imports=silent", "--no-site-packages")  # type only our own code: fast, no torch


def remove_stale_loaders() -> None:
    """Delete the loader extensions of modules no longer in COMPILED (they would import missing code)."""
    compiled = {Path(path).with_suffix("") for path in COMPILED}
    for loader in Path("envs").rglob("*.so"):
        if loader.with_name(loader.name.split(".")[0]) not in compiled:
            loader.unlink()


def staged_sources() -> list[str]:
    """Link the folders under build/mypyc-src/sysgym, so mypyc names the modules `sysgym.envs...`."""
    root = Path("build/mypyc-src/sysgym")
    root.mkdir(parents=True, exist_ok=True)
    links = {"__init__.py": Path("package/__init__.py"), **{top: Path(top) for top in SUBPACKAGES}}
    for name, target in links.items():
        link = root / name
        link.unlink(missing_ok=True)
        link.symlink_to(target.resolve())
    remove_stale_loaders()
    return [str(root / path) for path in COMPILED]


setup(
    packages=["sysgym"]
    + [f"sysgym.{top}.{sub}" for top in SUBPACKAGES for sub in find_packages(top)]
    + [f"sysgym.{top}" for top in SUBPACKAGES],
    package_dir={"sysgym": "package", **{f"sysgym.{top}": top for top in SUBPACKAGES}},
    ext_modules=mypycify([*MYPYC_OPTIONS, *staged_sources()], group_name="sysgym.native"),
)
