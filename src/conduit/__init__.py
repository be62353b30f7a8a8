"""Conduit.

``__version__`` is Conduit's own version, read from the installed package's metadata (the
one source: ``version`` in pyproject.toml); the RealWorld API spec it speaks has its own
(``API_VERSION``).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("conduit")
except PackageNotFoundError:  # pragma: no cover - the source tree without an install
    __version__ = "0+unknown"

API_VERSION = "2.0.0"
"""The version of the RealWorld "Conduit" API spec that Conduit speaks."""
