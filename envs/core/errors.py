"""Typed errors: every bad input names its problem, and callers can catch one family (`SysgymError`)."""

from __future__ import annotations

from pathlib import Path


class SysgymError(Exception):
    """Base of every error sysgym raises on purpose; the CLI turns these into a message and exit code 2."""


class ConfigError(SysgymError, ValueError):
    """A configuration value is unknown, of the wrong type or out of range."""


class UnknownNameError(SysgymError, ValueError):
    """A name (workload, policy, env, model, device config) is not one sysgym knows."""

    def __init__(self, kind: str, name: str, known: list[str] | tuple[str, ...]) -> None:
        self.kind = kind
        self.name = name
        self.known = tuple(known)
        super().__init__(f"unknown {kind} {name!r}; known: {', '.join(sorted(self.known)) or '(none)'}")


class TraceFormatError(SysgymError, ValueError):
    """A trace file is malformed; carries the file and the 1-based line so the user can fix it."""

    def __init__(self, path: str | Path, line: int, message: str) -> None:
        self.path = str(path)
        self.line = line
        super().__init__(f"{self.path}:{line}: {message}")


class InvalidActionError(SysgymError, ValueError):
    """An action is outside the action space or masked out at this decision."""


class BackendUnavailableError(SysgymError, RuntimeError):
    """A live backend cannot start on this machine (no GPU, no Java, ...); the message says what is missing."""


class ReplayMismatchError(SysgymError):
    """A replayed episode did not reproduce the recorded metrics."""
