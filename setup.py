"""Maps the top-level folders onto one distribution, so `import sysgym.envs` works and no top-level `envs` exists.

pyproject.toml holds the metadata; this file only computes the package list, which pyproject cannot.
"""

from setuptools import find_packages, setup

SUBPACKAGES = ("envs", "agents", "runtime", "experiments")

setup(
    packages=["sysgym"]
    + [f"sysgym.{top}.{sub}" for top in SUBPACKAGES for sub in find_packages(top)]
    + [f"sysgym.{top}" for top in SUBPACKAGES],
    package_dir={"sysgym": "package", **{f"sysgym.{top}": top for top in SUBPACKAGES}},
)
