"""sysgym: Gymnasium environments for the resource decisions of modern systems papers.

Importing the package registers every env (`gym.make("sysgym/SparkJobOrder-v0")`), so the `"sysgym:<id>"` form
works in subprocess vector-env workers too.
"""

from importlib.metadata import PackageNotFoundError, version

from sysgym.envs.registry import register_all

try:
    __version__ = version("sysgym")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

register_all()

__all__ = ["__version__"]
