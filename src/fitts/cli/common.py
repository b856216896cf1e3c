"""Shared parts of the `fitts` command: the Typer app, consoles, shared options, progress bars,
helpers every command module uses, and :func:`main`."""

from __future__ import annotations

import shlex
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import TypeAdapter, ValidationError
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from fitts.cli.options import (
    CheckedGroup,
    check_window,
    exit_on_sigterm,
)
from fitts.errors import FittsError, Location, ModelError, clean_message, did_you_mean, display_path

app = typer.Typer(
    cls=CheckedGroup,  # float options refuse nan/inf; fitts errors end as one clean line and exit code
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
    help="Executable, testable and comparable theories of fibromyalgia.",
)
_STATE: dict[str, bool] = {"debug": False}
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


class Backend(StrEnum):
    numba = "numba"
    numpy = "numpy"


class Record(StrEnum):
    grid = "grid"
    summary = "summary"


# --------------------------------------------------------------------------- helpers


def _command() -> str:
    return shlex.join(sys.argv)


def _fmt_number(v: float) -> str:
    return f"{v:g}"


def describe_value(value: Any) -> str:
    """A short text for a number, an expression or a prior (``lognormal(median=2, sigma=0.2)``)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        return _fmt_number(value)
    if isinstance(value, str):
        return value
    fields = value.model_dump(exclude_none=True)
    dist = fields.pop("dist", "?")
    parts = []
    for k, v in fields.items():
        if isinstance(v, list | tuple):
            v = "[" + ", ".join(_fmt_number(x) for x in v) + "]"
        elif isinstance(v, int | float):
            v = _fmt_number(v)
        parts.append(f"{k}={v}")
    return f"{dist}({', '.join(parts)})"


def describe_thresholds(onset: float | None, recovery: float | None, ratio: float, width: float) -> str:
    """The hysteresis in words: ratio and width when both thresholds are positive, else what it means."""
    if recovery is not None and recovery <= 0:
        return ("the ill state persists at any non-negative stress (recovery needs the stress to fall below "
                f"{recovery:.4g})" + (f"; hysteresis width: {width:.4g}" if width == width else ""))
    if onset is None or recovery is None:
        return "no hysteresis in this range (" + ("no onset" if onset is None else "no recovery") + " threshold)"
    return f"ratio onset/recovery: {ratio:.4g}; hysteresis width: {width:.4g}"


def _add_row(table: Table, *cells: str | None) -> None:
    """Add a row of plain text (no rich markup is interpreted in model content)."""
    table.add_row(*(Text(c or "") for c in cells))


def _print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[str | None]]) -> None:
    """Print a table of plain-text cells (see :func:`_add_row`) titled `title`, one column per
    name in `columns`."""
    table = Table(title=title)
    for col in columns:
        table.add_column(col)
    for row in rows:
        _add_row(table, *row)
    out.print(table)


def _theory(model: str) -> Any:
    """The compiled model of a model file or built-in theory name."""
    from fitts.compile.compiled import compile_model
    from fitts.spec.load import load_model

    return compile_model(load_model(model))


CalibrationPath = Annotated[Path | None, typer.Option(
    "--calibration", help="Calibration file, or the folder `fitts calibrate` wrote. Default: the packaged "
    "calibration of a built-in theory (a variant of one starts from its parent's).", show_default=False)]
NoCalibration = Annotated[bool, typer.Option(
    "--no-calibration", help="Use the theory's priors and the protocol as written.")]


def _calibrated(compiled: Any, calibration: Path | None, no_calibration: bool, protocol: Any = None,
                ) -> tuple[Any, Any, Any, Path | None]:
    """The theory with its calibration (the packaged one unless told otherwise), saying which.

    Returns the calibrated model, the calibrated protocol, the :class:`Calibration` (None
    without one) and the file it came from.
    """
    from fitts.evaluate.calibrate import builtin_calibration, calibrated_theory, load_calibration

    if calibration is not None and no_calibration:
        raise ModelError("--calibration and --no-calibration exclude each other")
    path = None if no_calibration else (calibration or builtin_calibration(compiled.spec.name,
                                                                          compiled.spec.parents))
    if path is not None and path.is_dir():  # the folder `fitts calibrate` writes
        path = path / "calibration.yaml"
    cal = None if path is None else load_calibration(path)
    model, protocol, notes = calibrated_theory(compiled, cal, protocol)
    if cal is not None:
        err.print(f"calibrated with {display_path(path)} (--no-calibration: the priors as written)", markup=False)
    for note in notes:
        err.print(f"[yellow]note:[/] {escape(note)}")
    return model, protocol, cal, path


def _check_table_suffix(path: Path | None, option: str) -> None:
    """A table option must name a .csv or .parquet file (checked before any work)."""
    if path is not None and path.suffix not in (".csv", ".parquet"):
        raise typer.BadParameter(f"{path}: name the table .csv or .parquet", param_hint=option)


def _prepare_kernel(compiled: Any, backend: str = "numba") -> None:
    """Load or compile the model's numba kernel before any progress bar, saying when it compiles."""
    if backend != "numba":
        return
    from fitts.sim.backends.numba_backend import NumbaBackend

    be = NumbaBackend(compiled)
    notice = be.compile_notice()
    if notice:
        err.print(notice + " ...")
    be.warm()


def _progress(unit: str = "patient-days", *, transient: bool = True) -> Progress:
    """The progress bar of every command: on stderr (none in logs and pipes), counting `unit`;
    a transient bar disappears when done."""
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=transient,
        disable=not err.is_terminal,  # no bar in logs and pipes
    )


@contextmanager
def _progress_task(description: str, total: float) -> Iterator[Callable[[float], None]]:
    """A progress bar over `total` patient-days; yields the callback for `simulate`.

    `total` may be an upper bound (attribution cannot know in advance how many patients fall
    ill); a finished task is shown complete."""
    with _progress() as bar:
        task = bar.add_task(description, total=total)
        yield lambda done: bar.advance(task, done)
        bar.update(task, completed=bar.tasks[task].total)


def parse_intervention(text: str) -> Any:
    """``NAME[@START[:END]]`` -> :class:`fitts.Apply` (days; END omitted: to the end)."""
    from fitts.sim.simulate import Apply

    name, _, window = text.partition("@")
    name = name.strip()
    if not name:
        raise typer.BadParameter(f"{text!r}: give NAME, NAME@START or NAME@START:END")
    if not window:
        return Apply(name)
    start_text, _, end_text = window.partition(":")
    try:
        start = float(start_text)
        end = float(end_text) if end_text.strip() else None
    except ValueError:
        raise typer.BadParameter(
            f"{text!r}: START and END must be numbers of days, as in {name}@30:90"
        ) from None
    check_window(text, start, end)
    return Apply(name, start, end)


def load_schedule_file(path: Path, inputs: Sequence[str]) -> list[Any]:
    """Read a YAML list of schedule components, naming the file, line and item in errors."""
    from fitts.errors import display_path
    from fitts.spec.schema import ScheduleComponent
    from fitts.spec.yamlio import load_yaml_file

    shown = display_path(path)
    data = load_yaml_file(path)
    if isinstance(data, dict) and "schedule" in data:
        data = data["schedule"]
    if not isinstance(data, list):
        raise ModelError("a schedule file must be a YAML list of components", Location(shown, 1),
                         "write items like `- {input: psychosocial_stress, kind: pulse, "
                         "start: 30, duration: 60, level: 1.5}`")
    adapter: TypeAdapter[Any] = TypeAdapter(ScheduleComponent)
    lines = getattr(data, "item_lines", [])
    comps = []
    for i, item in enumerate(data):
        loc = Location(shown, lines[i] if i < len(lines) else None, f"schedule #{i + 1}")
        try:
            comp = adapter.validate_python(item)
        except ValidationError as exc:
            e = exc.errors(include_url=False)[0]
            where = ".".join(str(x) for x in e["loc"] if not str(x)[:1].isupper())
            raise ModelError(f"{where + ': ' if where else ''}{e['msg']}", loc,
                             "kinds: step, pulse, ramp, daily, events") from None
        if comp.input not in inputs:
            raise ModelError(f"unknown input {comp.input!r}." + did_you_mean(comp.input, inputs),
                             loc, "inputs of the model: " + (", ".join(inputs) or "(none)"))
        comps.append(comp)
    return comps


# --------------------------------------------------------------------------- commands


#: shared options: the same name, default, range and meaning in every command
Seed = Annotated[int, typer.Option(
    "--seed", min=0, help="Random seed: with the model it fixes every virtual patient (the same seed gives "
    "the same patients in every command).")]
Dt = Annotated[float, typer.Option(
    "--dt", min=1e-6, max=1.0, help="Integration step, days.")]
DEFAULT_DT = 0.05
BackendOption = Annotated[Backend, typer.Option("--backend", help="Simulation backend.")]


@app.callback()
def _main_options(
    debug: Annotated[bool, typer.Option(
        "--debug", help="Show the full traceback of errors (for reporting bugs).")] = False,
) -> None:
    """fitts: turn verbal theories of fibromyalgia into executable, testable models."""
    _STATE["debug"] = debug


ModelArg = Annotated[str, typer.Argument(
    help="Model file (.yaml) or the name of a built-in theory.", show_default=False)]


@contextmanager
def _spinner(text: str) -> Iterator[None]:
    """A transient spinner on stderr while something slow runs (nothing in logs and pipes)."""
    if err.is_terminal:
        with err.status(text):
            yield
    else:
        yield


def _parse_levels(items: Sequence[str] | None) -> dict[str, float]:
    """``NAME=LEVEL`` items -> {name: level}."""
    out: dict[str, float] = {}
    for text in items or []:
        name, eq, level = text.partition("=")
        try:
            if not eq or not name.strip():
                raise ValueError
            out[name.strip()] = float(level)
        except ValueError:
            raise typer.BadParameter(f"{text!r}: write NAME=LEVEL, as in psychosocial_stress=1.5",
                                     param_hint="--input") from None
    return out


def _patient(model: str, patient_params: Path | None, input_items: Sequence[str] | None,
             choice: str = "typical-ill", seed: int = 0) -> tuple[Any, dict[str, float], dict[str, float]]:
    """Compiled model, the chosen patient's parameters (overridden by the file) and input levels."""
    from fitts.io.params import read_patient_params

    compiled, patient = _choose(model, choice, seed)
    params = dict(patient.params)
    if patient_params is not None:
        params.update(read_patient_params(patient_params, compiled.param_index))
    err.print(f"patient: {patient.description}"
              + (f"; parameters from {patient_params} override it" if patient_params is not None else ""),
              markup=False)
    return compiled, params, _parse_levels(input_items)


def _choose(model: str, choice: str, seed: int) -> tuple[Any, Any]:
    """Compiled model and the patient `choice` names (see `fitts.analysis.patients`)."""
    from fitts.analysis.patients import choose_patient

    compiled = _theory(model)
    if choice == "typical-ill":
        with _progress_task("finding the typical ill patient (first time only, then cached)", 1.0) as step:
            patient = choose_patient(compiled, choice, seed=seed)
            step(1.0)
    else:
        patient = choose_patient(compiled, choice, seed=seed)
    return compiled, patient


def _no_ill_state_note(labels: Sequence[str], choice: str) -> None:
    """Tell the user when the studied patient has no ill state, and what to try."""
    if "ill" not in labels:
        hint = ("choose `--patient typical-ill` (the default) or `--patient predisposed`" if choice != "typical-ill"
                else "raise a sustained input, e.g. `--input psychosocial_stress=1`")
        err.print(f"note: this patient has no ill state at these inputs, so the analysis shows health only; "
                  f"{hint}", markup=False)


PatientParams = Annotated[Path | None, typer.Option(
    "--patient-params", help="YAML mapping or CSV (parameter,value) of parameter values that override the "
    "chosen patient's (`fitts patient` writes one from any result file).")]
InputLevels = Annotated[list[str] | None, typer.Option(
    "--input", help="Sustained input level NAME=LEVEL (repeatable; others at their default).")]
PatientChoice = Annotated[str, typer.Option(
    "--patient", help="Which patient: `typical-ill` (the case closest to the medians of the theory's cases "
    "after a year of everyday life; found once per model and cached), `median` (every parameter at its prior "
    "median: usually healthy), `predisposed` (median with every predisposition present), or a patient id "
    "of the population at --seed.")]
PatientSeed = Seed


class Recruit(StrEnum):
    all = "all"
    cases = "cases"
    controls = "controls"


Workers = Annotated[int | None, typer.Option(
    "--workers", min=1, help="Local worker processes (default: all cores; 1 runs in this process).")]
ChunkSize = Annotated[int, typer.Option(
    "--chunk-size", min=1, help="Candidates per chunk (results do not depend on it).")]
Scheduler = Annotated[str | None, typer.Option(
    "--scheduler", help="Run on an existing Dask cluster at this address (tcp://HOST:PORT).")]
DaskLocal = Annotated[bool, typer.Option(
    "--dask-local", help="Start a Dask LocalCluster (--workers processes) and run on it.")]
ExperimentWorkers = Annotated[int, typer.Option(
    "--workers", min=1, help="Local worker processes for the runs (1: in this process).")]
Resume = Annotated[bool, typer.Option(
    "--resume", help="Continue an interrupted run from its checkpoint (finished chunks are not redone).")]


@contextmanager
def _job_progress(description: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar over candidates (its total grows as screening waves are planned)."""
    bar = _progress("candidates")
    with bar:
        task = bar.add_task(description, total=None)
        yield lambda done, planned: bar.update(task, completed=done, total=planned)
        final = bar.tasks[task].completed
        bar.update(task, completed=final, total=final or None)


def _executor(workers: int | None, scheduler: str | None, dask_local: bool) -> Any:
    from fitts.run.executors import make_executor

    if scheduler and dask_local:
        raise typer.BadParameter("give either --scheduler or --dask-local, not both", param_hint="--scheduler")
    return make_executor(workers=workers, scheduler=scheduler, dask_local=dask_local)


def _parse_prevalence(items: Sequence[str] | None) -> dict[str, float]:
    out = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        try:
            if not sep:
                raise ValueError
            out[name.strip()] = float(value)
        except ValueError:
            raise typer.BadParameter(f"{item!r}: write NAME=P, as in early_adversity=0.3",
                                     param_hint="--prevalence") from None
    return out


def _parse_correlation(items: Sequence[str] | None) -> list[tuple[str, str, float]]:
    out = []
    for item in items or ():
        pair, sep, value = item.partition("=")
        a, comma, b = pair.partition(",")
        try:
            if not (sep and comma and a.strip() and b.strip()):
                raise ValueError
            out.append((a.strip(), b.strip(), float(value)))
        except ValueError:
            raise typer.BadParameter(f"{item!r}: write A,B=RHO, as in threat_bias,pain_sensitivity=0.3",
                                     param_hint="--correlation") from None
    return out


def main(argv: Sequence[str] | None = None) -> None:
    """Run the `fitts` command (the console script's entry point).

    Errors `fitts` raises on purpose print ``error: <message>`` and exit with their code
    (2 bad input, 1 failed run); anything else exits 1 with a one-line message. With
    ``--debug`` the traceback is printed too.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    restore = exit_on_sigterm()  # SIGTERM: exit 143 after the atomic writes dropped their temporary files
    try:
        app(args=args, prog_name="fitts")
    except FittsError as exc:
        if _STATE["debug"]:
            traceback.print_exc()
        typer.echo(f"error: {clean_message(str(exc))}", err=True)
        sys.exit(exc.exit_code)
    except Exception as exc:  # noqa: BLE001 - the last line of defence of the command
        if _STATE["debug"]:
            traceback.print_exc()
        hint = "" if _STATE["debug"] else " (run with --debug for the traceback)"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        typer.echo(f"error: unexpected {type(exc).__name__}: {clean_message(first, 300)}{hint}", err=True)
        sys.exit(1)
    finally:
        restore()


