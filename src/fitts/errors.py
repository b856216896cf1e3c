"""One exception family for the whole package.

Every error says what was asked for, what was found and what to do; model errors
also name the file, the line (where YAML gives one) and the entry.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path


class FittsError(Exception):
    """Base class of every error `fitts` raises on purpose."""

    #: exit code of the CLI: 2 bad input, 1 failed run
    exit_code: int = 1


@dataclass(frozen=True)
class Location:
    """Where in a model file something was written."""

    file: str | None = None
    line: int | None = None
    entry: str | None = None

    def __str__(self) -> str:
        parts = []
        if self.file:
            parts.append(str(self.file) + (f":{self.line}" if self.line else ""))
        if self.entry:
            parts.append(self.entry)
        return ", ".join(parts)


class ModelError(FittsError):
    """An invalid model, trial or target file (bad input: CLI exit code 2).

    Parameters
    ----------
    message
        What is wrong.
    location
        File, line and entry the problem was found at.
    hint
        What to write instead.
    """

    exit_code = 2

    def __init__(self, message: str, location: Location | None = None, hint: str | None = None):
        self.message = message
        self.location = location or Location()
        self.hint = hint
        text = message
        where = str(self.location)
        if where:
            text = f"{where}: {message}"
        if hint:
            text = f"{text}\n  hint: {hint}"
        super().__init__(text)

    def at(self, location: Location) -> ModelError:
        """A copy of this error with missing location fields filled from `location`."""
        merged = Location(
            file=self.location.file or location.file,
            line=self.location.line or location.line,
            entry=self.location.entry or location.entry,
        )
        return ModelError(self.message, merged, self.hint)


class DataError(FittsError):
    """Invalid data or result file given by the user (CLI exit code 2)."""

    exit_code = 2


class SimulationError(FittsError):
    """A simulation that diverged or produced NaN (CLI exit code 1).

    Attributes
    ----------
    failures
        One row per failed patient: patient id, time (days), state, reason.
    """

    exit_code = 1

    def __init__(self, message: str, failures: list[dict] | None = None):
        self.failures = failures or []
        super().__init__(message)


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A ' Did you mean ...?' suffix naming the closest choices, or ''."""
    close = difflib.get_close_matches(name, list(choices), n=3, cutoff=0.6)
    if not close:
        return ""
    return " Did you mean " + " or ".join(repr(c) for c in close) + "?"


def display_path(path: str | Path | None) -> str | None:
    """A path as the user would recognise it (relative to cwd when shorter)."""
    if path is None:
        return None
    p = Path(path)
    try:
        rel = p.resolve().relative_to(Path.cwd().resolve())
        return str(rel)
    except ValueError:
        return str(p)
