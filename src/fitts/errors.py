"""One exception family for the whole package.

Every error says what was asked for, what was found and what to do; model errors
also name the file, the line (where YAML gives one) and the entry.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: longest quote of a user's value in a message, characters
EXCERPT_CHARS = 80
#: longest message printed by the command line, characters
MESSAGE_CHARS = 2_000
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape_char(m: re.Match[str]) -> str:
    c = m.group(0)
    return f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}"


def excerpt(value: Any, limit: int = EXCERPT_CHARS) -> str:
    """A short, escaped quote of a user's value for an error message.

    Strings are quoted with ``repr`` (control characters escaped); other values are
    summarised by type and, for containers, size, so an alias-expanded tree is never
    printed whole. At most `limit` characters plus an ellipsis and the full length.

    Parameters
    ----------
    value
        Anything read from a file or the command line.
    limit
        Longest quote, characters.

    Returns
    -------
    str
        For example ``'abc'``, ``'aaaa…' (5000 characters)`` or ``a mapping of 3 entries``.
    """
    if isinstance(value, dict):
        return f"a mapping of {len(value)} entr{'y' if len(value) == 1 else 'ies'}"
    if isinstance(value, list | tuple):
        return f"a list of {len(value)} item{'' if len(value) == 1 else 's'}"
    if isinstance(value, str):
        if len(value) <= limit:
            return _CONTROL.sub(_escape_char, repr(value))
        return _CONTROL.sub(_escape_char, repr(value[:limit])) + f"… ({len(value)} characters)"
    text = repr(value)
    if len(text) > limit:
        text = text[:limit] + f"… ({len(text)} characters)"
    return _CONTROL.sub(_escape_char, text)


def clean_message(text: str, limit: int = MESSAGE_CHARS) -> str:
    """A message safe to print on a terminal: control characters escaped (newlines and tabs
    kept), at most `limit` characters."""
    text = _CONTROL.sub(_escape_char, str(text))
    if len(text) > limit:
        text = text[:limit] + f"… (message cut at {limit} of {len(text)} characters)"
    return text


class FittsError(Exception):
    """Base class of every error `fitts` raises on purpose.

    Its text is always safe to print: control characters escaped and at most
    :data:`MESSAGE_CHARS` characters (:func:`clean_message`), however long or hostile the
    values a message quotes.
    """

    #: exit code of the CLI: 2 bad input, 1 failed run
    exit_code: int = 1

    def __str__(self) -> str:
        return clean_message(super().__str__())


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
        location = location or Location()
        if location.entry is not None and len(location.entry) > 120:
            location = Location(location.file, location.line, location.entry[:100] + "…")
        self.location = location
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


class MissingExtraError(FittsError):
    """A command needs an optional part of `fitts` that is not installed (CLI exit code 2).

    Parameters
    ----------
    extra
        Name of the extra in ``pyproject.toml`` (``pip install 'fitts[EXTRA]'``).
    module
        The module that could not be imported.
    what
        What needs it (a command or a feature).
    """

    exit_code = 2

    def __init__(self, extra: str, module: str, what: str):
        self.extra, self.module = extra, module
        super().__init__(f"{what} needs the optional package {module!r}, which is not installed\n"
                         f"  hint: pip install 'fitts[{extra}]'")


def require(module: str, extra: str, what: str) -> Any:
    """Import `module`, or raise :class:`MissingExtraError` naming the extra to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module.split(".")[0] != exc.name.split(".")[0]:
            raise
        raise MissingExtraError(extra, module, what) from None


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A ' Did you mean ...?' suffix naming the closest choices, or ''."""
    if not isinstance(name, str) or len(name) > 200:
        return ""
    close = difflib.get_close_matches(name, [c for c in choices if isinstance(c, str) and len(c) <= 200][:10_000],
                                      n=3, cutoff=0.6)
    if not close:
        return ""
    return " Did you mean " + " or ".join(excerpt(c) for c in close) + "?"


def display_path(path: str | Path | None) -> str | None:
    """A path as the user would recognise it (relative to cwd when shorter)."""
    if path is None:
        return None
    p = Path(path)
    try:
        rel = p.resolve().relative_to(Path.cwd().resolve())
        return str(rel)
    except (ValueError, OSError, RuntimeError):  # elsewhere, a symlink loop, a name the OS refuses
        return str(p)
