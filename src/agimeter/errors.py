"""One exception hierarchy. Every user-facing error carries a one-line message."""

from __future__ import annotations

from pydantic import ValidationError


class AgimeterError(Exception):
    """Base class: ``str(err)`` is a complete one-line message for the user."""

    exit_code = 2


class ConfigError(AgimeterError):
    """Bad settings, hardware profile or command-line option."""


class TaskSpecError(AgimeterError):
    """A task YAML file is invalid (the message names file and field)."""


class UnknownTaskError(AgimeterError):
    """A task name that is neither built in nor a YAML path."""


class DataError(AgimeterError):
    """Missing data file or malformed row (the message names file and line)."""


class ModelError(AgimeterError):
    """Unknown model, unloadable weights or a backend failure."""


class StoreError(AgimeterError):
    """The result store cannot be opened or a run id is unknown."""


class RunInProgressError(AgimeterError):
    """Another live process runs this run (or took it over from this one)."""


class PushError(AgimeterError):
    """A leaderboard server refused an upload or could not be reached."""


def first_problem(err: ValidationError) -> tuple[str, str]:
    """(dotted field path, message) of a pydantic error's first problem: enough for one line."""
    problem = err.errors()[0]
    return ".".join(str(part) for part in problem["loc"]), str(problem["msg"])
