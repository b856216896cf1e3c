"""Checked command-line options and commands: every bad value is a clean error before any work.

- :func:`finite_value`: a number given on the command line must be finite (no ``nan``, no
  ``inf``) and an integer must fit in 64 bits; :class:`CheckedGroup` checks every option of
  every command this way before the command's body runs.
- :class:`CheckedGroup`: the ``fitts`` command group; any error `fitts` raises on purpose
  (:class:`~fitts.errors.FittsError`) and a missing optional package become one escaped line
  ``error: ...`` on stderr and the error's exit code (2 bad input, 1 failed run), also when
  the command runs in-process (``CliRunner``).
- :func:`check_simulation_options`, :func:`check_window`: ranges of the simulation options,
  checked before the model is even loaded.
- :func:`check_output_file`, :func:`check_output_folder`: an output path that cannot be
  written is refused before the run, naming the path and the remedy.
- :func:`exit_on_sigterm`: SIGTERM ends the command with exit code 143 through the normal
  unwinding, so atomic writes remove their temporary files and no half file is left under
  the final name.
"""

from __future__ import annotations

import functools
import math
import os
import signal
import sys
import tempfile
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

from fitts.errors import DataError, FittsError, MissingExtraError, clean_message, excerpt

#: optional packages and the extra of ``pyproject.toml`` that installs them
EXTRAS: dict[str, str] = {
    "tigramite": "diary",
    "joblib": "diary",
    "dask": "scale",
    "distributed": "scale",
    "psutil": "scale",
}
#: longest simulated time, days (about 270 years)
MAX_DAYS = 100_000.0
#: most integration steps of one simulation
MAX_STEPS = 100_000_000
#: most recorded time points of one simulation
MAX_RECORDS = 10_000_000
#: smallest integration step, days
MIN_DT = 1e-6
#: largest magnitude of an integer option (seeds, counts): what a 64-bit integer holds
INT_LIMIT = 2**63 - 1
#: exit code after SIGTERM (128 + 15, as a shell reports it)
SIGTERM_EXIT = 143


def finite_value(value: Any, option: str) -> Any:
    """`value` of a command-line option, refused unless every number in it is finite and every
    integer fits in 64 bits (tuples and lists are checked item by item).

    Raises
    ------
    typer.BadParameter
        Naming the option and the value (exit code 2).
    """
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, float) and not math.isfinite(value):
        raise typer.BadParameter(f"{value!r} is not a finite number", param_hint=option)
    if isinstance(value, int) and abs(value) > INT_LIMIT:
        raise typer.BadParameter(f"{excerpt(str(value), 30)} is too large (at most {INT_LIMIT})", param_hint=option)
    if isinstance(value, list | tuple):
        for item in value:
            finite_value(item, option)
    return value


def finite_options(command: Any) -> None:
    """Make `command` (and its subcommands) check every number it is given with :func:`finite_value`
    before its body runs, so ``nan``, ``inf`` and huge integers never reach the work."""
    for sub in getattr(command, "commands", {}).values():
        finite_options(sub)
    callback = getattr(command, "callback", None)
    if callback is None or getattr(callback, "_fitts_checked", False):
        return
    hints = {p.name: (sorted(getattr(p, "opts", None) or [p.name], key=len)[-1]) for p in command.params}

    @functools.wraps(callback)
    def checked(*args: Any, **kwargs: Any) -> Any:
        for name, value in kwargs.items():
            finite_value(value, hints.get(name) or name)
        return callback(*args, **kwargs)

    checked._fitts_checked = True  # type: ignore[attr-defined]
    command.callback = checked


def _debug(ctx: Any) -> bool:
    return bool(ctx.params.get("debug")) or "--debug" in sys.argv[1:2]


def _missing_extra(exc: ModuleNotFoundError) -> MissingExtraError | None:
    top = (exc.name or "").split(".")[0]
    if top in EXTRAS:
        what = "this command"
        return MissingExtraError(EXTRAS[top], top, what)
    return None


class CheckedGroup(TyperGroup):
    """The `fitts` group: numbers must be finite; errors become one clean line and an exit code."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        finite_options(self)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except FittsError as exc:
            self._fail(ctx, exc, exc.exit_code)
        except ModuleNotFoundError as exc:
            extra = _missing_extra(exc)
            if extra is None:
                raise
            self._fail(ctx, extra, extra.exit_code)

    @staticmethod
    def _fail(ctx: Any, exc: BaseException, code: int) -> None:
        if _debug(ctx):
            traceback.print_exception(exc)
        typer.echo(f"error: {clean_message(str(exc))}", err=True)
        raise typer.Exit(code)


def _bad(option: str, message: str) -> typer.BadParameter:
    return typer.BadParameter(message, param_hint=option)


def check_simulation_options(*, days: float, dt: float | None, record_every: float | None = None,
                             patients: int | None = None, declared: float | None = None) -> None:
    """Refuse simulation options out of range before any work.

    Parameters
    ----------
    days
        Simulated time, days: finite, > 0, at most :data:`MAX_DAYS`.
    dt
        Integration step, days (None for adaptive methods): at least :data:`MIN_DT`, at most
        `days`, and at most :data:`MAX_STEPS` steps.
    record_every
        Recording interval, days: at least `dt`, at most `days`, at most :data:`MAX_RECORDS`
        records.
    patients
        Number of patients, at least 1.
    declared
        The step the model itself requires (its `dt:`), in days: when `dt` is that step, the
        lower bound and the step count limit do not apply (the model's author chose it).

    Raises
    ------
    typer.BadParameter
        Naming the option, the allowed range and the value (exit code 2).
    """
    if not (math.isfinite(days) and 0 < days <= MAX_DAYS):
        raise _bad("--days", f"{days:g} days is out of range: give 0 < days <= {MAX_DAYS:g}")
    if declared is not None and dt is not None and abs(dt - declared) > 1e-12 * declared:
        raise _bad("--dt", f"the model requires dt = {declared:g} days (its equations are a per-step scheme), "
                           f"not {dt:g}: leave --dt out")
    if dt is not None and not (declared is not None and dt == declared and dt <= days):
        if not (math.isfinite(dt) and MIN_DT <= dt <= days):
            raise _bad("--dt", f"a step of {dt:g} days is out of range: give {MIN_DT:g} <= dt <= --days ({days:g})")
        if days / dt > MAX_STEPS:
            raise _bad("--dt", f"{days:g} days in steps of {dt:g} is {days / dt:.3g} steps, more than "
                               f"{MAX_STEPS:.0e}: give a larger --dt or fewer --days")
    if record_every is not None:
        low = dt if dt is not None else MIN_DT
        if not (math.isfinite(record_every) and low <= record_every <= days):
            raise _bad("--record-every", f"{record_every:g} days is out of range: record at least every step "
                                         f"(--dt, {low:g}) and at most every --days ({days:g})")
        if days / record_every > MAX_RECORDS:
            raise _bad("--record-every", f"{days / record_every:.3g} records is more than {MAX_RECORDS:.0e}: "
                                         "record less often")
    if patients is not None and patients < 1:
        raise _bad("--patients", "give at least 1 patient")


def check_window(text: str, start: float | None, end: float | None, days: float | None = None) -> None:
    """Refuse an intervention window ``NAME@START:END`` that is not finite, ordered and within the run."""
    shown = excerpt(text)
    for v in (start, end):
        if v is not None and not math.isfinite(v):
            raise _bad("--intervention", f"{shown}: START and END must be finite numbers of days")
    if start is not None and start < 0:
        raise _bad("--intervention", f"{shown}: START must be 0 or later")
    if start is not None and end is not None and not end > start:
        raise _bad("--intervention", f"{shown}: END must come after START")
    if days is not None and start is not None and start >= days:
        raise _bad("--intervention", f"{shown}: START ({start:g}) is not within the {days:g} simulated days")


def _existing_ancestor(path: Path) -> Path:
    p = path.parent
    while not p.exists() and not p.is_symlink() and p != p.parent:
        p = p.parent
    return p


def _check_writable_folder(folder: Path, target: Path, option: str) -> None:
    if not folder.is_dir():
        raise DataError(f"{option} {target}: {folder} is a file, not a folder; choose another path")
    try:
        fd, probe = tempfile.mkstemp(prefix=".fitts-write-check.", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise DataError(f"{option} {target}: cannot write in {folder} ({exc.strerror or exc}); "
                        "choose a folder you can write to") from None


def _check_path_text(path: Path, option: str) -> None:
    text = os.fspath(path)
    if not text or "\x00" in text or any(len(part.encode("utf-8", "surrogateescape")) > 255 for part in path.parts):
        raise DataError(f"{option} {excerpt(text)}: not a usable path (empty, a NUL byte, or a name over 255 bytes)")


def check_output_file(path: Path, option: str = "--out", suffixes: tuple[str, ...] | None = None) -> None:
    """Refuse an output file that cannot be written, before any work (exit code 2).

    The path may not be an existing folder, its suffix must be one of `suffixes` (when given),
    and the nearest existing folder above it must be a folder the user can write in (missing
    folders below it are created when the file is written).
    """
    _check_path_text(path, option)
    first = (suffixes or ("",))[0]
    if path.is_dir():
        raise DataError(f"{option} {path}: is a folder; name a file inside it, e.g. {path / ('result' + first)}")
    if suffixes is not None and path.suffix.lower() not in suffixes:
        raise DataError(f"{option} {excerpt(str(path))}: this command writes {' or '.join(suffixes)} files; "
                        f"name the file {path.stem or 'result'}{first}")
    _check_writable_folder(_existing_ancestor(path), path, option)


def check_output_folder(path: Path, option: str = "--out") -> None:
    """Refuse an output folder that cannot be created or written, before any work (exit code 2)."""
    _check_path_text(path, option)
    if path.exists() and not path.is_dir():
        raise DataError(f"{option} {path}: is a file, not a folder; choose a new or an existing folder")
    _check_writable_folder(path if path.is_dir() else _existing_ancestor(path), path, option)


def exit_on_sigterm() -> Callable[[], None]:
    """Make SIGTERM end the process with exit code 143 by raising SystemExit, so that `finally`
    blocks run (atomic writes drop their temporary file). Returns a function restoring the
    previous handler."""
    if sys.platform == "win32":
        return lambda: None
    previous = signal.getsignal(signal.SIGTERM)

    def _handler(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a second SIGTERM ends the process at once
        raise SystemExit(SIGTERM_EXIT)

    signal.signal(signal.SIGTERM, _handler)
    return lambda: signal.signal(signal.SIGTERM, previous)
