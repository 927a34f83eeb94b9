"""Todo API: a multi-user task service for Next.js + Better Auth front ends."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("todo-api")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"
