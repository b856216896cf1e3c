"""The `fitts` command: validate, show, simulate, draw and plot models; run the demo.

Every error `fitts` raises on purpose is printed as ``error: <message>`` on stderr,
without a traceback (unless ``--debug``), and the process exits with the error's code:
2 for bad input (model or data files, options), 1 for a failed run, 0 on success.
"""

from __future__ import annotations

import shlex
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
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

from fitts.cli_options import (
    CheckedGroup,
    check_output_file,
    check_output_folder,
    check_simulation_options,
    check_window,
    exit_on_sigterm,
)
from fitts.errors import FittsError, Location, ModelError, SimulationError, clean_message, did_you_mean

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


def _add_row(table: Table, *cells: str | None) -> None:
    """Add a row of plain text (no rich markup is interpreted in model content)."""
    table.add_row(*(Text(c or "") for c in cells))


def _theory(model: str) -> Any:
    """The compiled model of a model file or built-in theory name."""
    from fitts.compile.compiled import compile_model
    from fitts.spec.load import load_model

    return compile_model(load_model(model))


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


def _progress() -> Progress:
    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        MofNCompleteColumn(),
        TextColumn("patient-days"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,  # no bar in logs and pipes
    )


@contextmanager
def _progress_task(description: str, total: float) -> Iterator[Callable[[float], None]]:
    """A progress bar over `total` patient-days; yields the callback for `simulate`."""
    with _progress() as bar:
        task = bar.add_task(description, total=total)
        yield lambda done: bar.advance(task, done)


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


@app.callback()
def _main_options(
    debug: Annotated[bool, typer.Option(
        "--debug", help="Show the full traceback of errors (for reporting bugs).")] = False,
) -> None:
    """fitts: turn verbal theories of fibromyalgia into executable, testable models."""
    _STATE["debug"] = debug


ModelArg = Annotated[str, typer.Argument(
    help="Model file (.yaml) or the name of a built-in theory.", show_default=False)]


@app.command()
def validate(model: ModelArg) -> None:
    """Load and check a model file (schema, names, expressions, includes).

    Prints one line with the model's size and content hash; exits 2 on the first problem,
    naming the file, line and entry.
    """
    from fitts.spec.load import load_model

    spec = load_model(model)
    typer.echo(f"{model} is valid: {spec.name}, {len(spec.nodes)} nodes, {len(spec.edges)} "
               f"edges, {len(spec.parameters)} parameters, hash {spec.content_hash}")


@app.command()
def show(
    model: ModelArg,
    sources: Annotated[bool, typer.Option(
        "--sources", help="Add the citation (source) of every edge to the edge table.")] = False,
) -> None:
    """Show a model's nodes and signed edges as tables, and count its feedback loops."""
    from fitts.analysis.graph import loop_count
    from fitts.spec.load import load_model

    spec = load_model(model)
    out.print(f"[bold]{escape(spec.name)}[/bold]  ({escape(', '.join(spec.files))}; "
              f"hash {spec.content_hash})")
    if spec.description:
        out.print(spec.description.strip(), markup=False)
    nodes = Table(title=f"{len(spec.nodes)} nodes")
    for col in ("name", "label", "group", "tau (days)"):
        nodes.add_column(col)
    for name, node in spec.nodes.items():
        _add_row(nodes, name, node.label, node.group, describe_value(node.tau))
    out.print(nodes)
    if spec.inputs:
        inputs = Table(title=f"{len(spec.inputs)} inputs")
        for col in ("name", "label", "units"):
            inputs.add_column(col)
        for name, inp in spec.inputs.items():
            _add_row(inputs, name, inp.label, inp.units)
        out.print(inputs)
    edges = Table(title=f"{len(spec.edges)} edges")
    for col in ("from", "to", "sign", "weight", "mode", "grade"):
        edges.add_column(col)
    if sources:
        edges.add_column("source")
    for edge in spec.edges.values():
        mode = edge.mode if edge.mode == "additive" else f"gated by {edge.gate}"
        row = [edge.from_, edge.to, edge.sign, describe_value(edge.weight), mode,
               edge.grade or ""]
        if sources:
            row.append(edge.source or "")
        _add_row(edges, *row)
    out.print(edges)
    if spec.omissions:
        om = Table(title=f"{len(spec.omissions)} claimed links left out on purpose")
        for col in ("from", "to", "reason"):
            om.add_column(col)
        for o in spec.omissions.values():
            _add_row(om, o.from_, o.to, o.reason)
        out.print(om)
    from fitts.spec.claims import claim_coverage

    cov = claim_coverage(spec)
    tally = {k: sum(c.status == k for c in cov) for k in ("edge", "omitted", "missing", "sign differs")}
    typer.echo(f"published claims (models/reference/claims.yaml, {len(cov)} rows): {tally['edge']} edges, "
               f"{tally['omitted']} omitted with a reason, {tally['missing']} unaccounted for, "
               f"{tally['sign differs']} with a different sign")
    counts = loop_count(spec)
    typer.echo(f"feedback loops: {counts['total']} ({counts['reinforcing']} reinforcing, "
               f"{counts['balancing']} balancing)")


@app.command("list")
def list_models() -> None:
    """List the built-in theories and the modules they are composed of."""
    from fitts.spec.load import builtin_modules, builtin_theories, load_model
    from fitts.spec.yamlio import load_yaml_file

    table = Table(title="built-in theories")
    for col in ("name", "nodes", "edges", "omissions", "description"):
        table.add_column(col)
    for name in builtin_theories():
        spec = load_model(name)
        _add_row(table, name, str(len(spec.nodes)), str(len(spec.edges)), str(len(spec.omissions)),
                 " ".join((spec.description or "").split()))
    out.print(table)
    mods = Table(title="built-in modules (include with `module: NAME`)")
    for col in ("name", "nodes", "edges", "description"):
        mods.add_column(col)
    for name, path in builtin_modules().items():
        raw = load_yaml_file(path) or {}  # modules refer to each other's nodes: list, don't validate
        _add_row(mods, name, str(len(raw.get("nodes") or {})), str(len(raw.get("edges") or [])),
                 str(raw.get("description") or ""))
    out.print(mods)


@app.command()
def simulate(
    model: ModelArg,
    out_path: Annotated[Path, typer.Option(
        "--out", help="Output NetCDF file (.nc) of the trajectories or summaries.",
        show_default=False)],
    patients: Annotated[int, typer.Option(
        "--patients", min=1, help="Number of virtual patients (ids 0..N-1).")] = 100,
    days: Annotated[float, typer.Option(
        "--days", help="Simulated time in days (a multiple of --dt and --record-every).")] = 365.0,
    seed: Annotated[int, typer.Option(
        "--seed", help="Random seed; with the model hash it fixes every patient.")] = 0,
    dt: Annotated[float, typer.Option("--dt", help="Integration step in days.")] = 0.01,
    method: Annotated[str, typer.Option(
        "--method", help="Integrator: euler_maruyama, heun, rk4 or a scipy method "
        "(LSODA, RK45, ...).")] = "euler_maruyama",
    backend: Annotated[Backend, typer.Option(
        "--backend", help="numba (compiled, fast) or numpy (reference).")] = Backend.numba,
    record: Annotated[Record, typer.Option(
        "--record", help="grid: states every --record-every days; summary: per-patient "
        "mean, sd, min, max, final.")] = Record.grid,
    record_every: Annotated[float, typer.Option(
        "--record-every", help="Recording interval in days.")] = 1.0,
    no_noise: Annotated[bool, typer.Option(
        "--no-noise", help="Switch the state noise off (deterministic runs).")] = False,
    intervention: Annotated[list[str] | None, typer.Option(
        "--intervention", help="Apply an intervention of the model: NAME, NAME@START or "
        "NAME@START:END (days). Repeatable.")] = None,
    schedule: Annotated[Path | None, typer.Option(
        "--schedule", help="YAML file with a list of input schedule components "
        "(step, pulse, ramp, daily, events).")] = None,
    table: Annotated[Path | None, typer.Option(
        "--table", help="Also write the long table (patient, time, state, value) to this "
        ".parquet or .csv file.")] = None,
    chunk_size: Annotated[int, typer.Option(
        "--chunk-size", min=1, help="Patients simulated together per chunk.")] = 8192,
    keep_going: Annotated[bool, typer.Option(
        "--keep-going", help="When patients fail (NaN, divergence), keep the others, write "
        "the results with the failed ones flagged in `status`, and exit 1.")] = False,
    patient_params: Annotated[Path | None, typer.Option(
        "--patient-params", help="YAML or CSV of parameter values given to every patient (e.g. one patient "
        "exported by `fitts patient`); with --patients 1 and --no-noise, that patient's deterministic story.")
    ] = None,
) -> None:
    """Simulate virtual patients of a model and save the result as NetCDF.

    Shows a progress bar over patient-days. The file stores the seed, the model hash,
    the package version and this command. A run in which a patient diverges exits 1
    and names the patient, the time and the state.
    """
    from fitts.compile.compiled import compile_model
    from fitts.io.results import result_metadata, save_dataset, save_table, trajectory_table
    from fitts.sim.simulate import simulate as run
    from fitts.spec.load import load_model

    check_simulation_options(days=days, dt=dt, record_every=record_every)
    check_output_file(out_path, "--out", (".nc",))
    if table is not None:
        check_output_file(table, "--table", (".parquet", ".csv"))
    applies = [parse_intervention(t) for t in intervention or []]
    for a, text in zip(applies, intervention or [], strict=True):
        check_window(text, a.start, a.end, days)
    spec = load_model(model)
    comps = load_schedule_file(schedule, list(spec.inputs)) if schedule is not None else []
    compiled = compile_model(spec)
    fixed = None
    if patient_params is not None:
        from fitts.io.params import read_patient_params

        fixed = read_patient_params(patient_params, compiled.param_index)
    _prepare_kernel(compiled, backend.value)
    try:
        with _progress_task(f"simulating {spec.name}", patients * days) as progress:
            ds = run(compiled, patients=patients, days=days, dt=dt, seed=seed, method=method, params=fixed,
                     backend=backend.value, schedule=comps, interventions=applies,
                     record=record.value, record_every=record_every, noise=not no_noise,
                     chunk_size=chunk_size, progress=progress, throw=not keep_going,
                     command=_command())
    except SimulationError as exc:
        raise SimulationError(f"{exc}\n  hint: on the command line, --keep-going keeps the "
                              "other patients' results", exc.failures) from None
    save_dataset(ds, out_path)
    written = [str(out_path)]
    if table is not None:
        save_table(trajectory_table(ds), table, result_metadata(ds))
        written.append(str(table))
    failed = int(ds.attrs.get("n_failed", 0))
    typer.echo(f"simulated {patients} patients x {days:g} days of {spec.name} (seed {seed}, "
               f"{backend.value}, {method}): {failed} failed")
    for path in written:
        typer.echo(f"wrote {path}")
    if failed:
        err.print(f"error: {failed} of {patients} patients failed; they are NaN in the "
                  "results, flagged in `status`", markup=False)
        raise typer.Exit(1)


@app.command()
def diagram(
    model: ModelArg,
    out_path: Annotated[Path, typer.Option(
        "--out", help="Output figure: .svg, .png or .pdf.", show_default=False)],
    highlight_loop: Annotated[int | None, typer.Option(
        "--highlight-loop", min=0, help="Highlight loop K (index in the order of "
        "`fitts loops`: by length, then node order).")] = None,
) -> None:
    """Draw the causal loop diagram of a model: signed edges, inputs, groups."""
    from fitts.analysis.graph import elementary_loops
    from fitts.plot.diagram import draw_diagram
    from fitts.spec.load import load_model

    spec = load_model(model)
    highlight = None
    title = None
    if highlight_loop is not None:
        loops = elementary_loops(spec)
        if highlight_loop >= len(loops):
            raise typer.BadParameter(
                f"the model has {len(loops)} loops (0..{len(loops) - 1}), no loop "
                f"{highlight_loop}", param_hint="--highlight-loop")
        chosen = loops[highlight_loop]
        highlight = chosen.edges
        title = f"{spec.name}: loop {highlight_loop} ({chosen.polarity}) " + " -> ".join(
            (*chosen.nodes, chosen.nodes[0]))
        typer.echo(f"loop {highlight_loop}: {chosen}")
    draw_diagram(spec, out_path, highlight=highlight, title=title)
    typer.echo(f"wrote {out_path}")


@app.command()
def loops(
    model: ModelArg,
    limit: Annotated[int, typer.Option(
        "--limit", min=0, help="Show at most this many loops (0: all).")] = 50,
    theories: Annotated[bool, typer.Option(
        "--theories", help="Add a column naming the built-in theories that contain each loop "
        "(same links by source, target and sign).")] = False,
    out_path: Annotated[Path | None, typer.Option(
        "--out", help="Write the full loop table (.csv or .parquet).")] = None,
    draw: Annotated[int | None, typer.Option(
        "--draw", min=0, help="Draw loop K highlighted on the diagram (needs --figure).")] = None,
    figure: Annotated[Path | None, typer.Option(
        "--figure", help="Figure file for --draw: .svg, .png or .pdf.")] = None,
) -> None:
    """List the feedback loops of a model with their index, polarity and nodes."""
    from fitts.analysis.graph import elementary_loops
    from fitts.analysis.loops import loop_table
    from fitts.spec.load import load_model

    spec = load_model(model)
    if (draw is None) != (figure is None):
        raise typer.BadParameter("give --draw K and --figure FILE together", param_hint="--draw")
    found = elementary_loops(spec)
    df = loop_table(spec, theories=None if (theories or out_path is not None) else ())
    table = Table(title=f"{len(found)} feedback loops of {spec.name}")
    cols = ["K", "polarity", "length", "path"] + (["theories"] if theories else [])
    for col in cols:
        table.add_column(col)
    for k, lp in enumerate(found[:limit] if limit else found):
        cells = [str(k), lp.polarity, str(lp.length), " -> ".join((*lp.nodes, lp.nodes[0]))]
        if theories:
            cells.append(df["theories"].iloc[k])
        _add_row(table, *cells)
    out.print(table)
    if out_path is not None:
        from fitts.io.results import save_table

        _check_table_suffix(out_path, "--out")
        save_table(df, out_path, {"model": spec.name, "model_hash": spec.content_hash,
                                  "command": _command()})
        typer.echo(f"wrote {out_path}")
    if draw is not None and figure is not None:
        from fitts.plot.diagram import draw_diagram

        if draw >= len(found):
            raise typer.BadParameter(f"the model has {len(found)} loops (0..{len(found) - 1}), no loop "
                                     f"{draw}", param_hint="--draw")
        chosen = found[draw]
        draw_diagram(spec, figure, highlight=chosen.edges,
                     title=f"{spec.name}: loop {draw} ({chosen.polarity}) "
                     + " -> ".join((*chosen.nodes, chosen.nodes[0])))
        typer.echo(f"wrote {figure}")


class ScenarioName(StrEnum):
    default = "default"


@app.command()
def dominance(
    model: ModelArg,
    out_path: Annotated[Path, typer.Option(
        "--out", help="Output figure: .svg, .png or .pdf.", show_default=False)],
    scenario: Annotated[ScenarioName, typer.Option(
        "--scenario", help="default: psychosocial stressor (level 2, days 30-150), persistence, "
        "treatment cutting pain's feedback edges from day 300, end at day 500.")] = ScenarioName.default,
    patient: PatientChoice = "typical-ill",
    seed: PatientSeed = 0,
    patient_params: PatientParams = None,
    behaviour: Annotated[str, typer.Option(
        "--behaviour", help="State whose behaviour weights the eigenvalues.")] = "pain",
    top: Annotated[int, typer.Option("--top", min=1, help="Loops shown in the figure.")] = 6,
    table: Annotated[Path | None, typer.Option(
        "--table", help="Also write dominance per loop and day (.csv or .parquet).")] = None,
    backend: Annotated[Backend, typer.Option("--backend", help="Simulation backend.")] = Backend.numba,
) -> None:
    """Which loops dominate along onset, persistence and recovery (loop eigenvalue elasticity).

    Simulates one patient (deterministic; the theory's typical ill patient unless --patient
    says otherwise) through the scenario and scores each loop's elasticity on the eigenvalues
    that carry the behaviour of `--behaviour`.
    """
    from fitts.analysis.dominance import default_scenario, dominance_over_time, top_loops
    from fitts.plot.dominance import plot_dominance
    from fitts.plot.figures import figure_format

    figure_format(out_path)
    _check_table_suffix(table, "--table")
    m = _theory(model)
    if behaviour not in m.state_index:
        raise typer.BadParameter(f"the model has no state {behaviour!r}."
                                 + did_you_mean(behaviour, m.states), param_hint="--behaviour")
    _, params, _ = _patient(model, patient_params, None, patient, seed)
    sc = default_scenario(m)
    dom = dominance_over_time(m, sc, params=params, behaviour=behaviour, backend=backend.value)
    plot_dominance(dom, out_path, top=top, state=behaviour)
    tops = top_loops(dom, top, include_decay=False)
    t = Table(title=f"top loops of {m.spec.name} ({sc.label})")
    for col in ("K", "loop", "peak", "mean", "days dominant"):
        t.add_column(col)
    for r in tops.itertuples():
        _add_row(t, str(r.loop), r.name, f"{r.peak_dominance:.3f}", f"{r.mean_dominance:.3f}",
                 f"{r.days_dominant:g}")
    out.print(t)
    if table is not None:
        from fitts.io.results import save_table

        df = dom[["dominance", "elasticity", "gain"]].to_dataframe().reset_index()
        save_table(df, table, {"model": m.spec.name, "model_hash": m.model_hash,
                               "scenario": sc.label, "command": _command()})
        typer.echo(f"wrote {table}")
    typer.echo(f"wrote {out_path}")


@app.command()
def attribute(
    model: ModelArg,
    patients: Annotated[int, typer.Option("--patients", min=1, help="Patients sampled.")] = 200,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    out_path: Annotated[Path | None, typer.Option(
        "--out", help="Per-patient table (.csv or .parquet); loop and group tables are written "
        "beside it with suffixes _loops and _groups.")] = None,
    figure: Annotated[Path | None, typer.Option(
        "--figure", help="Bar figure of subtype shares (.svg, .png or .pdf).")] = None,
    threshold: Annotated[float, typer.Option(
        "--threshold", help="Pain (0-1) above which a patient is ill.")] = 0.5,
    max_length: Annotated[int, typer.Option(
        "--max-length", min=0, help="Analyse loops up to this length one by one (0: all).")] = 4,
    backend: Annotated[Backend, typer.Option("--backend", help="Simulation backend.")] = Backend.numba,
) -> None:
    """Which loop holds which patient: cut loops and mechanism groups from the ill state.

    Samples patients, tips them with the standard stressor (psychosocial_stress 2.0 for 120
    days), keeps those whose pain stays above the threshold, and cuts each mechanism group
    and each loop to see who recovers. Prints the subtype shares.
    """
    from fitts.analysis.attribution import attribute as run_attribution
    from fitts.analysis.attribution import attribution_work

    _check_table_suffix(out_path, "--out")
    if figure is not None:
        from fitts.plot.figures import figure_format

        figure_format(figure)
    m = _theory(model)
    ml = max_length or None
    total = attribution_work(m, patients, max_length=ml)
    with _progress_task(f"attribute {m.spec.name}", total) as advance:
        res = run_attribution(m, patients, seed=seed, threshold=threshold, max_length=ml,
                              backend=backend.value, progress=advance)
    typer.echo(f"{m.spec.name}: {res.n_ill} of {res.n_sampled} patients ill after the stressor "
               f"(pain > {threshold:g})")
    if res.n_ill == 0:
        typer.echo("no patient reached the ill state: nothing to attribute")
    else:
        t = Table(title="subtype shares of the ill patients")
        t.add_column("subtype")
        t.add_column("share")
        for name, v in res.shares.items():
            _add_row(t, str(name), f"{v:.3f}")
        out.print(t)
        g = Table(title="mechanism cuts: share of ill patients cured")
        g.add_column("group")
        g.add_column("cured")
        for r in res.groups.itertuples():
            _add_row(g, r.group, f"{r.cured_share:.3f}")
        out.print(g)
    meta = {"command": _command(), **res.settings}
    if out_path is not None:
        from fitts.io.results import save_table

        save_table(res.patients, out_path, meta)
        for part, df in (("loops", res.loops), ("groups", res.groups)):
            path = out_path.with_name(f"{out_path.stem}_{part}{out_path.suffix}")
            save_table(df, path, meta)
            typer.echo(f"wrote {path}")
        typer.echo(f"wrote {out_path}")
    if figure is not None:
        from fitts.plot.dominance import plot_subtypes

        plot_subtypes(res.shares, figure, title=f"{m.spec.name}: {res.n_ill} of {res.n_sampled} "
                      "patients ill")
        typer.echo(f"wrote {figure}")


@app.command()
def plot(
    result: Annotated[Path, typer.Argument(
        help="NetCDF result written by `fitts simulate`.", show_default=False)],
    out_path: Annotated[Path, typer.Option(
        "--out", help="Output figure: .png, .svg or .pdf.", show_default=False)],
    states: Annotated[str | None, typer.Option(
        "--states", help="Comma-separated states to plot (default: all).")] = None,
    max_lines: Annotated[int, typer.Option(
        "--max-lines", min=0, help="Individual patient lines per panel.")] = 20,
    patient: Annotated[str | None, typer.Option(
        "--patient", help="Patients to show: ids (e.g. 3 or 3,7,12), `ill` (pain NRS >= 4 at the end, "
        "noise-free) or `healthy` (below 4). One id shows that patient's own story.")] = None,
) -> None:
    """Plot simulated trajectories: per state, median, 10-90 % band and a few patients."""
    from fitts.io.results import load_dataset
    from fitts.plot.figures import figure_format
    from fitts.plot.trajectories import plot_trajectories

    figure_format(out_path)
    ds = load_dataset(result)
    names = [s.strip() for s in states.split(",") if s.strip()] if states else None
    ids = _select_patients(ds, patient) if patient is not None else None
    plot_trajectories(ds, out_path, states=names, max_lines=max_lines, patients=ids)
    typer.echo(f"wrote {out_path}" + (f" ({len(ids)} patient(s))" if ids is not None else ""))


def _select_patients(ds: Any, text: str) -> list[int]:
    """Patient ids named by `--patient`: a comma list of ids, `ill` or `healthy` at the end."""
    import numpy as np

    rule = text.strip().lower()
    if rule in ("ill", "healthy"):
        from fitts.observe.instruments import expressible, measure

        ok, reason = expressible([str(s) for s in ds["state"].values], "pain_nrs")
        if not ok or "trajectory" not in ds:
            raise typer.BadParameter(f"cannot tell who is {rule}: {reason if not ok else 'no trajectories'}",
                                     param_hint="--patient")
        nrs = np.asarray(measure(ds, "pain_nrs", noise=False, time=float(ds["time"].values[-1])).values)
        chosen = ds["patient"].values[(nrs >= 4) if rule == "ill" else (nrs < 4)]
        if len(chosen) == 0:
            raise typer.BadParameter(f"no patient is {rule} at the end of this result", param_hint="--patient")
        return [int(i) for i in chosen]
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise typer.BadParameter(f"{text!r}: give patient ids such as 3 or 3,7, or `ill` / `healthy`",
                                 param_hint="--patient") from None


@app.command()
def compare(
    models: Annotated[list[str], typer.Argument(
        help="Two or more built-in theory names or model files (variants included).", show_default=False)],
    out_dir: Annotated[Path | None, typer.Option(
        "--out", help="Folder for index.html (self-contained), comparison.csv and edges.csv.")] = None,
    patient: PatientChoice = "predisposed",
    seed: PatientSeed = 0,
) -> None:
    """Theories or variants side by side: edges that differ, feedback loops, steady states and
    thresholds of one patient, and the stored scorecards.

    The patient defaults to each model's predisposed patient (prior medians, every
    predisposition present), so the comparison is quick; `--patient typical-ill` compares
    each model's typical ill patient instead.
    """
    from fitts.run.compare import compare as run_compare
    from fitts.run.compare import write_comparison

    with _progress() as bar:
        task = bar.add_task("models (loops, steady states, thresholds)", total=len(models))
        c = run_compare(models, patient=patient, seed=seed, progress=lambda name: bar.advance(task, 1))
    differ = c.edges[c.edges["differs"]]
    t = Table(title=f"edges that differ: {len(differ)} of {len(c.edges)}")
    for col in ("edge", *c.names):
        t.add_column(col)
    for r in differ.itertuples(index=False):
        _add_row(t, *(str(v) or "-" for v in list(r)[:-1]))
    out.print(t)
    t = Table(title="feedback loops")
    for col in ("model", "total", "reinforcing", "balancing", "only in this model"):
        t.add_column(col)
    for r in c.loops.to_dict("records"):
        only = int((c.loop_differences[r["model"]] & ~c.loop_differences[[n for n in c.names if n != r["model"]]]
                    .any(axis=1)).sum()) if len(c.loop_differences) else 0
        _add_row(t, r["model"], str(r["total"]), str(r["reinforcing"]), str(r["balancing"]), str(only))
    out.print(t)
    show = lambda v: "none in range" if v is None or v != v else f"{v:.3g}"  # noqa: E731
    t = Table(title="steady states and thresholds in sustained psychosocial stress")
    for col in ("model", "steady states", "onset threshold", "recovery threshold"):
        t.add_column(col)
    for r in c.thresholds.to_dict("records"):
        _add_row(t, r["model"], r["steady states"], show(r["onset threshold"]), show(r["recovery threshold"]))
    out.print(t)
    if len(c.scorecards):
        t = Table(title="stored scorecards")
        for col in ("target", *c.names):
            t.add_column(col)
        for target, r in c.scorecards.iterrows():
            _add_row(t, str(target), *(str(r[n]) for n in c.names))
        out.print(t)
    for name, note in c.notes.items():
        err.print(f"scorecard of {name}: {note}", markup=False)
    if out_dir is not None:
        for path in write_comparison(c, out_dir):
            typer.echo(f"wrote {path}")


@app.command("patient")
def patient_command(
    model: ModelArg,
    result: Annotated[Path | None, typer.Argument(
        help="Result file: a .nc of `fitts simulate`, or a .parquet/.csv table with a patient column "
        "(population, trial, attribution). Omit it to export a --choice patient.", show_default=False)] = None,
    patient_id: Annotated[int | None, typer.Option(
        "--id", min=0, help="Patient id in the result file.", show_default=False)] = None,
    choice: PatientChoice = "typical-ill",
    seed: PatientSeed = 0,
    out_path: Annotated[Path, typer.Option(
        "--out", help="YAML file of the patient's parameters, for --patient-params.", show_default=False)] = ...,
) -> None:
    """Export one virtual patient's parameters to a file that --patient-params reads.

    With a result file and --id, the patient of that file; without one, the patient that
    --patient names (the theory's typical ill patient by default). Follow the patient with
    `fitts simulate MODEL --patient-params FILE`, `steady`, `bifurcate`, `mobile` or `dominance`.
    """
    from fitts.analysis.patients import patient_from_result, write_patient_params

    if (result is None) != (patient_id is None):
        raise typer.BadParameter("give a result file together with --id, or neither", param_hint="--id")
    if result is not None and patient_id is not None:
        chosen = patient_from_result(_theory(model), result, patient_id)
    else:
        chosen = _choose(model, choice, seed)[1]
    write_patient_params(chosen, out_path)
    typer.echo(f"{chosen.description}\nwrote {out_path}")


_STATUS_STYLE = {"pass": "green", "fail": "red", "inconclusive": "yellow", "not expressible": "dim"}


@app.command()
def evaluate(
    model: ModelArg,
    targets: Annotated[Path | None, typer.Option(
        "--targets", help="Target file (format fitts-targets/1, see docs/targets.md). "
        "Default: the packaged calibration targets.", show_default=False)] = None,
    patients: Annotated[int | None, typer.Option(
        "--patients", min=10, help="Size of the general cohort (default: the protocol's, 8000).",
        show_default=False)] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the cohort and the bootstrap.")] = 0,
    protocol: Annotated[Path | None, typer.Option(
        "--protocol", help="Protocol file (format fitts-protocol/1): cohort size and length, everyday "
        "stressors, exposure kinds. Default: the built-in protocol.", show_default=False)] = None,
    calibration: Annotated[Path | None, typer.Option(
        "--calibration", help="Calibration file from `fitts calibrate`. Default: the packaged calibration "
        "of a built-in theory.", show_default=False)] = None,
    no_calibration: Annotated[bool, typer.Option(
        "--no-calibration", help="Use the theory's priors and the protocol as written.")] = False,
    out_dir: Annotated[Path | None, typer.Option(
        "--out", help="Directory for scorecard.csv, scorecard.md, scorecard.html and forest.png "
        "(default: scorecard-THEORY).", show_default=False)] = None,
) -> None:
    """Score a theory against published findings (a target file) on a virtual cohort.

    Simulates the protocol's general cohort (cases: ACR 2016 positive at the cross-section;
    controls: never met the criteria), runs every target's study design on it and prints
    the scorecard: published value, accept band, simulated statistic with its Monte-Carlo
    interval (bootstrap over virtual patients), and pass, fail or `not expressible` with the
    reason. Failing targets are reported, never hidden; the exit code is 0 either way.
    """
    from fitts.evaluate.calibrate import builtin_calibration, calibrated, for_variant, load_calibration, stale_note
    from fitts.evaluate.protocol import load_protocol
    from fitts.evaluate.scorecard import evaluate as run
    from fitts.evaluate.targets import load_targets
    from fitts.plot.forest import forest_plot

    if calibration is not None and no_calibration:
        raise ModelError("--calibration and --no-calibration exclude each other")
    ts = load_targets(targets)
    proto = load_protocol(protocol)
    compiled = _theory(model)
    n = patients or proto.cohort.patients
    cal_path = None if no_calibration else (calibration or builtin_calibration(compiled.spec.name,
                                                                              compiled.spec.parents))
    if cal_path is not None and cal_path.is_dir():  # the folder `fitts calibrate` writes
        cal_path = cal_path / "calibration.yaml"
    cal = None if cal_path is None else load_calibration(cal_path)
    if cal is not None and cal.theory != compiled.spec.name and cal.theory in compiled.spec.parents:
        cal, dropped = for_variant(cal, compiled, proto)
        err.print(f"note: {compiled.spec.name} starts from the calibration of {cal.extra['parent']} "
                  f"({len(cal.knobs)} knobs apply" + (f"; left out, no longer in the model: {', '.join(dropped)}"
                                                      if dropped else "") + ")", markup=False)
    elif cal is not None and (note := stale_note(cal, compiled)):
        err.print(f"[yellow]note:[/] {note}")
    params, proto = calibrated(compiled, cal, proto, n, seed)
    days = n * proto.cohort.years * 365.25
    _prepare_kernel(compiled)
    with _progress_task(f"cohort of {compiled.spec.name}", days) as progress:
        sc = run(compiled, ts, protocol=proto, patients=n, seed=seed, params=params, progress=progress)
    sc.meta["calibration"] = str(cal_path) if cal_path else "none"
    sc.meta["command"] = _command()
    if cal is not None and cal.extra.get("tensions"):
        sc.tensions = [t["statement"] for t in cal.extra["tensions"]]
    table = Table(title=sc.summary(), title_justify="left")
    for col in ("target", "published", "accept", "simulated [MC 95%]", "result"):
        table.add_column(col)
    for r in sc.table.itertuples():
        sim = "" if r.simulated != r.simulated else f"{r.simulated:.3g} [{r.mc_low:.3g}, {r.mc_high:.3g}]"
        pub = "" if r.published != r.published else f"{r.published:g}"
        result = Text(r.status if r.status != "not expressible" else f"not expressible: {r.note}",
                      style=_STATUS_STYLE[r.status])
        table.add_row(Text(f"{r.id} {r.title}"), pub, Text(r.accept), sim, result)
    out.print(table)
    folder = out_dir or Path(f"scorecard-{compiled.spec.name}")
    folder.mkdir(parents=True, exist_ok=True)
    forest_plot(sc.table, folder / "forest.png", title=sc.summary())
    paths = sc.save(folder, figure="forest.png")
    typer.echo(f"cohort of {sc.meta['patients']} ({sc.meta['cases_at_t0']} cases at t0) in {sc.meta['seconds']} s")
    for t in sc.tensions:
        typer.echo(f"tension (from the calibration): {t}")
    for p in (*paths.values(), folder / "forest.png"):
        typer.echo(f"wrote {p}")


@app.command()
def calibrate(
    model: ModelArg,
    targets: Annotated[Path | None, typer.Option(
        "--targets", help="Target file to calibrate against (default: the packaged calibration targets).",
        show_default=False)] = None,
    knobs: Annotated[Path | None, typer.Option(
        "--knobs", help="Calibration file listing the knobs (prior:PARAM.FIELD or protocol:PATH) and their "
        "ranges. Default: the packaged knobs of a built-in theory.", show_default=False)] = None,
    patients: Annotated[int, typer.Option(
        "--patients", min=50, help="General-cohort size of each history-matching run (the same patients "
        "every time: common random numbers; their Monte-Carlo noise enters the emulators).")] = 1000,
    refine_patients: Annotated[int | None, typer.Option(
        "--refine-patients", min=50, help="Cohort size of the refinement and of the shipped scorecard "
        "(default: the protocol's, the size `fitts evaluate` uses).", show_default=False)] = None,
    wave_size: Annotated[int | None, typer.Option(
        "--wave-size", min=4, help="Runs per wave (default: 10 per knob, at least 20, at most 120).",
        show_default=False)] = None,
    waves: Annotated[int, typer.Option("--waves", min=1, help="Waves at most.")] = 5,
    cutoff: Annotated[float, typer.Option(
        "--cutoff", min=0.5, max=20, help="Implausibility cut-off.")] = 3.0,
    measure: Annotated[str, typer.Option(
        "--measure", help="Implausibility over targets: max (every target must be met) or second "
        "(the second-largest: tolerates one target in the early waves).")] = "max",
    discrepancy: Annotated[float, typer.Option(
        "--discrepancy", min=0.0, max=10.0, help="Model-discrepancy sd, as a fraction of each accept band's "
        "half width.")] = 0.1,
    refine: Annotated[int, typer.Option(
        "--refine", min=0, help="CMA-ES evaluations at --refine-patients after the waves (0: re-run only "
        "the least implausible run).")] = 12,
    budget: Annotated[str | None, typer.Option(
        "--budget", help="Limit for the whole calibration: evaluations (e.g. 300) or time (e.g. 2h, 90m).",
        show_default=False)] = None,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed of the cohort, the designs and CMA-ES.")] = 0,
    protocol: Annotated[Path | None, typer.Option(
        "--protocol", help="Protocol file (default: the built-in protocol).", show_default=False)] = None,
    out_dir: Annotated[Path | None, typer.Option(
        "--out", help="Output folder (default: calibration-THEORY/). Its calibration.yaml goes to "
        "`fitts evaluate --calibration`.", show_default=False)] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue an interrupted calibration in --out (finished evaluations are kept).")] = False,
    workers: Workers = None,
    scheduler: Scheduler = None,
    dask_local: DaskLocal = False,
) -> None:
    """Calibrate a theory by history matching in waves, then refine at full cohort size.

    Each wave simulates a space-filling design of knob settings (whole scorecards on the
    same virtual patients), fits a Gaussian-process emulator per target, and rules out the
    settings whose implausibility (distance to the published value over emulator,
    Monte-Carlo, tolerance and discrepancy sd) exceeds --cutoff. Waves stop when the space
    is empty, stops shrinking, or the emulators are precise. Pairs of targets that no
    setting meets together are reported as tensions. CMA-ES then refines the least
    implausible run at --refine-patients. Writes calibration.yaml, waves.csv,
    tensions.csv, emulators.csv, runs.csv, nroy.png and tensions.png to --out.
    """
    from fitts.evaluate.calibrate import load_calibration
    from fitts.evaluate.history_matching import Settings
    from fitts.evaluate.protocol import load_protocol
    from fitts.run.calibration import Budget, run_calibration, save_calibration
    from fitts.spec.load import models_dir

    if measure not in ("max", "second"):
        raise typer.BadParameter("write max or second", param_hint="--measure")
    plan = Budget.parse(budget)
    compiled = _theory(model)
    name = compiled.spec.name
    knob_file = knobs or models_dir() / "calibration" / "knobs" / f"{name}.yaml"
    if not knob_file.exists():
        raise ModelError(f"no knobs for theory {name!r}", hint="pass --knobs FILE (see docs/targets.md, "
                         "section Calibration)")
    cal = load_calibration(knob_file)
    n_knobs = len(cal.knobs)
    settings = Settings(wave_size=wave_size or min(max(20, 10 * n_knobs), 120), max_waves=waves, cutoff=cutoff,
                        measure=measure, discrepancy=discrepancy)
    n_refine = refine_patients or load_protocol(protocol).cohort.patients
    dest = out_dir or Path(f"calibration-{name}")
    model_ref = name if not Path(model).exists() else str(Path(model).resolve())
    bar = Progress(TextColumn("[progress.description]{task.description}"), BarColumn(), TaskProgressColumn(),
                   MofNCompleteColumn(), TextColumn("evaluations"), TimeElapsedColumn(), TimeRemainingColumn(),
                   console=err, disable=not err.is_terminal)
    tasks: dict[str, Any] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            label = f"{name}: {stage}" if stage != "refinement" else f"{name}: refinement at {n_refine} patients"
            tasks[stage] = bar.add_task(label, total=total)
        bar.update(tasks[stage], completed=done, total=total)

    def log(text: str) -> None:
        bar.console.print(text) if bar.console.is_terminal else typer.echo(text, err=True)

    _prepare_kernel(compiled)  # once here: worker processes then load it from the disk cache
    with _executor(workers, scheduler, dask_local) as ex, bar:
        res = run_calibration(compiled, cal, model_ref=model_ref, directory=dest, targets=targets, protocol=protocol,
                              patients=patients, refine_patients=n_refine, settings=settings,
                              refine_evaluations=refine, budget=plan, executor=ex, resume=resume, seed=seed,
                              progress=progress, log=log)
    paths = save_calibration(res, compiled, targets_name=str(targets) if targets else "calibration.yaml",
                             knob_names=[k.name for k in cal.knobs], patients=patients, refine_patients=n_refine,
                             settings=settings)
    waves_table = Table(title=f"{name}: history matching ({res.stop_reason})", title_justify="left")
    for col in ("wave", "runs", "space left", "rules out most", "unreachable", "empty pairs", "LOO |z|>3"):
        waves_table.add_column(col)
    for w in res.hm.wave_table().itertuples():
        waves_table.add_row(str(w.wave), str(w.runs), f"{w.fraction:.3g}",
                            f"{w.rules_out_most} ({w.ruled_out_share:.0%})" if w.rules_out_most else "",
                            str(w.unreachable), str(w.empty_pairs), f"{w.loo_outside_3:.0%}")
    out.print(waves_table)
    from fitts.run.calibration import tension_statements

    for s in tension_statements(res.hm.waves[-1].tensions if res.hm.waves else None, name):
        typer.echo(f"tension: {s['statement']}")
    table = Table(title=f"{name}: knobs after refinement (loss {res.best['loss']:.3g} at {n_refine} patients)",
                  title_justify="left")
    table.add_column("knob")
    table.add_column("range")
    table.add_column("value")
    for k in res.knobs:
        table.add_row(Text(k.name), f"[{k.range[0]:g}, {k.range[1]:g}]", f"{k.value:.4g}")
    out.print(table)
    counts = {s: sum(v == s for v in res.best["status"].values())
              for s in ("pass", "fail", "inconclusive", "not expressible")}
    typer.echo(f"{name}: {counts['pass']} of {len(res.best['status'])} targets pass ({counts['fail']} fail, "
               f"{counts['inconclusive']} inconclusive, {counts['not expressible']} not expressible) at "
               f"{n_refine} patients; {res.evaluations} evaluations in {res.seconds / 3600:.2f} h "
               f"({res.per_hour:.0f} per hour)")
    for p in paths.values():
        typer.echo(f"wrote {p}")


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option(
        "--out", help="Folder for the demo's files (created if missing).", show_default=False)],
    cohort: Annotated[int, typer.Option(
        "--cohort", min=10, help="Sampled patients per theory for the attribution shares.")] = 100,
    days: Annotated[int, typer.Option(
        "--days", min=1, help="Simulated days of each story (must extend past the stressor).")] = 600,
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the cohorts.")] = 0,
) -> None:
    """The debate in under a minute: the three built-in theories side by side.

    Each theory's typical predisposed patient meets one psychosocial stressor (level 2,
    days 60-240): onset, persistence after it ends, and the onset and recovery thresholds
    read from the hysteresis curve; a sampled cohort's attribution shares (which mechanisms
    hold the ill state); and the scorecards stored with the packaged calibrations. Writes
    index.html (self-contained: open it in a browser), the figures, summary.csv,
    scorecards.csv and stories.nc to the folder, and prints the summary.
    """
    from fitts.plot.debate import write_debate
    from fitts.run.debate import THEORIES, Stressor, debate, summary_table

    stressor = Stressor()
    if days <= stressor.end:
        raise typer.BadParameter(f"the stressor lasts until day {stressor.end:g}; give more days so that "
                                 "there is an 'after' phase", param_hint="--days")
    with _progress() as bar:
        task = bar.add_task("theories (story, hysteresis, attribution)", total=len(THEORIES))
        cases = debate(THEORIES, stressor=stressor, days=days, cohort=cohort, seed=seed,
                       progress=lambda name: bar.advance(task, 1))
    paths = write_debate(cases, stressor, out_dir)
    summary = summary_table(cases, stressor)
    table = Table(title=f"psychosocial stressor level {stressor.level:g}, days {stressor.start:g}-{stressor.end:g}; "
                        "pain as activation 0-1 (noise-free)")
    for col in ("theory", "pain before", "during", "long after", "onset threshold", "recovery threshold",
                "leading subtype (share)"):
        table.add_column(col)
    show = lambda v: "none in range" if v is None or v != v else f"{v:.2f}"  # noqa: E731
    for r in summary.itertuples(index=False):
        d = r._asdict()
        _add_row(table, d["theory"], f"{d['_2']:.2f}", f"{d['_3']:.2f}", f"{d['_4']:.2f}",
                 show(d["_5"]), show(d["_6"]), f"{d['_9']} ({d['_10']:.0%})" if d["_10"] == d["_10"] else d["_9"])
    out.print(table)
    for c in cases:
        th = c.thresholds
        if th.recovery is not None and th.recovery < 0:
            out.print(f"{c.name}: the ill state persists at any non-negative stress (recovery threshold "
                      f"{th.recovery:.2f}); removing the stressor alone does not heal this patient", markup=False)
    for path in paths:
        typer.echo(f"wrote {path}")


# --------------------------------------------------------------------------- steady states


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
PatientSeed = Annotated[int, typer.Option("--seed", help="Population seed that patient ids refer to.")]


@app.command()
def steady(
    model: ModelArg,
    patient_params: PatientParams = None,
    input_level: InputLevels = None,
    out_path: Annotated[Path | None, typer.Option(
        "--out", help="Also write the table of steady states to this .csv or .parquet file.")] = None,
    starts: Annotated[int, typer.Option("--starts", min=2, help="Multi-start points (Sobol).")] = 128,
    patient: PatientChoice = "typical-ill",
    seed: PatientSeed = 0,
) -> None:
    """All steady states of one patient under constant inputs: stability and healthy/ill label.

    An attractor is ill when its noise-free pain NRS is at least 4 (moderate pain). The
    patient is the theory's typical ill patient unless --patient says otherwise.
    """
    from fitts.analysis.steady import steady_states
    from fitts.io.results import save_table

    compiled, params, inputs = _patient(model, patient_params, input_level, patient, seed)
    with _spinner("finding steady states"):
        df = steady_states(compiled, params, inputs, starts=starts)
    summary = Table(title=f"{len(df)} steady states of {compiled.spec.name}")
    for col in ("#", "label", "stability", "unstable dims", "leading eigenvalue (1/day)", "pain NRS"):
        summary.add_column(col)
    for _, r in df.iterrows():
        lead = f"{r['leading_re']:.3g}" + (f" ± {r['leading_im']:.3g}i" if r["leading_im"] else "")
        _add_row(summary, str(r["steady"]), r["label"], r["stability"], str(r["n_unstable"]), lead,
                 "" if r["pain_nrs"] != r["pain_nrs"] else f"{r['pain_nrs']:g}")
    out.print(summary)
    states = Table(title="states (activation)")
    states.add_column("state")
    for _, r in df.iterrows():
        states.add_column(f"#{r['steady']} {r['label'] or r['stability']}")
    for s in compiled.states:
        _add_row(states, s, *(f"{v:.3f}" for v in df[s]))
    out.print(states)
    _no_ill_state_note(list(df["label"]), patient)
    if out_path is not None:
        save_table(df, out_path, {**df.attrs, "command": _command()})
        typer.echo(f"wrote {out_path}")


@app.command()
def bifurcate(
    model: ModelArg,
    param: Annotated[str, typer.Option(
        "--param", help="Input (sustained level) or parameter row to vary, e.g. psychosocial_stress.",
        show_default=False)],
    span: Annotated[tuple[float, float], typer.Option(
        "--range", help="Range A B of the varied quantity.", show_default=False)],
    patient_params: PatientParams = None,
    input_level: InputLevels = None,
    out_path: Annotated[Path | None, typer.Option(
        "--out", help="Bifurcation diagram (.png, .svg or .pdf): stable solid, unstable dashed, "
        "folds marked.")] = None,
    table: Annotated[Path | None, typer.Option(
        "--table", help="Write the branch points to this .csv or .parquet file.")] = None,
    state: Annotated[str | None, typer.Option(
        "--state", help="State on the vertical axis of the diagram (default pain).")] = None,
    patient: PatientChoice = "typical-ill",
    seed: PatientSeed = 0,
) -> None:
    """Continue the steady states of one patient across a range, locate the folds, and read off
    the onset and recovery thresholds (pseudo-arclength continuation). The patient is the
    theory's typical ill patient unless --patient says otherwise."""
    from fitts.analysis.continuation import continuation
    from fitts.io.results import save_table

    compiled, params, inputs = _patient(model, patient_params, input_level, patient, seed)
    if out_path is not None:
        from fitts.plot.figures import figure_format

        figure_format(out_path)  # a bad suffix is an error before the work
    with _spinner(f"continuing steady states in {param}"):
        cont = continuation(compiled, param, span, params=params, inputs=inputs)
    folds = Table(title=f"{len(cont.folds)} folds of {compiled.spec.name} in {param}")
    for col in ("branch", param, "the branches exist for", "attractor lost"):
        folds.add_column(col)
    for f in cont.folds:
        _add_row(folds, str(f.branch), f"{f.value:.6g}",
                 f"{param} {'below' if f.lost_when == 'increasing' else 'above'} it", f.lost)
    out.print(folds)
    th = cont.thresholds()
    show = lambda v: "none in range" if v is None else f"{v:.6g}"  # noqa: E731
    typer.echo(f"onset threshold: {show(th.onset)}; recovery threshold: {show(th.recovery)}; "
               f"ratio onset/recovery: {th.ratio:.4g}; hysteresis width: {th.width:.4g}")
    for note in cont.notes:
        err.print(f"warning: {note}", markup=False)
    if out_path is not None:
        from fitts.plot.steady import plot_bifurcation

        plot_bifurcation(cont, out_path, state=state)
        typer.echo(f"wrote {out_path}")
    if table is not None:
        branches = cont.table()
        save_table(branches, table, {**branches.attrs, "command": _command()})
        typer.echo(f"wrote {table}")


@app.command()
def mobile(
    model: ModelArg,
    patient_params: PatientParams = None,
    input_level: InputLevels = None,
    out_path: Annotated[Path | None, typer.Option(
        "--out", help="Heatmap figure (.png, .svg or .pdf), one panel per attractor.")] = None,
    table: Annotated[Path | None, typer.Option(
        "--table", help="Write the sensitivity matrices as a long .csv or .parquet table.")] = None,
    top: Annotated[int, typer.Option("--top", min=1, help="Strongest responses listed per attractor.")] = 8,
    patient: PatientChoice = "typical-ill",
    seed: PatientSeed = 0,
) -> None:
    """The "hanging mobile": steady-state response of every state to a sustained small push on
    each node's drive, S = -J⁻¹B, at the healthy and at the ill attractor of one patient (the
    theory's typical ill patient unless --patient says otherwise)."""
    from fitts.analysis.mobile import mobile as run_mobile
    from fitts.io.results import save_table

    compiled, params, inputs = _patient(model, patient_params, input_level, patient, seed)
    if out_path is not None:
        from fitts.plot.figures import figure_format

        figure_format(out_path)
    with _spinner("finding attractors"):
        ds = run_mobile(compiled, params, inputs)
    long = ds["sensitivity"].to_dataframe().reset_index()[["attractor", "response", "push", "sensitivity"]]
    for att in ds.attractor.values:
        sub = long[(long["attractor"] == att) & (long["response"] != long["push"])]
        sub = sub.reindex(sub["sensitivity"].abs().sort_values(ascending=False).index).head(top)
        t = Table(title=f"{att} attractor: strongest responses to a push (activation per unit drive)")
        for col in ("push on", "response of", "S"):
            t.add_column(col)
        for _, r in sub.iterrows():
            _add_row(t, r["push"], r["response"], f"{r['sensitivity']:+.4f}")
        out.print(t)
    _no_ill_state_note([str(a) for a in ds.attractor.values], patient)
    if out_path is not None:
        from fitts.plot.steady import plot_mobile

        plot_mobile(ds, out_path)
        typer.echo(f"wrote {out_path}")
    if table is not None:
        save_table(long, table, {"model_hash": compiled.model_hash, "command": _command()})
        typer.echo(f"wrote {table}")


# --------------------------------------------------------------------------- diary studies


def _csv_list(text: str | None, option: str, cast: Callable[[str], Any] = str) -> list[Any] | None:
    """``a,b,c`` -> [a, b, c] (None stays None); bad items are a BadParameter of `option`."""
    if text is None:
        return None
    try:
        items = [cast(x.strip()) for x in text.split(",") if x.strip()]
    except ValueError:
        raise typer.BadParameter(f"{text!r}: give a comma-separated list", param_hint=option) from None
    if not items:
        raise typer.BadParameter("give at least one value", param_hint=option)
    return items


@contextmanager
def _steps_progress(description: str, total: int) -> Iterator[Callable[[int, int], None]]:
    """A progress bar over `total` steps; yields ``callback(done, total)``."""
    bar = Progress(TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), TimeRemainingColumn(), console=err, transient=True,
                   disable=not err.is_terminal)
    with bar:
        task = bar.add_task(description, total=total)
        yield lambda done, tot: bar.update(task, completed=done, total=tot)


def _diary_design(days: int, prompts: int, jitter: float, measures: str | None, nightly: str | None,
                  missing: float, missing_slope: float, noise: bool, burn_in: float | None, tip: bool) -> Any:
    from fitts.observe.diary import TIP_BURN_IN, TIP_PRELUDE, DiaryDesign

    night = None if nightly is None else (() if nightly.strip().lower() == "none" else
                                          tuple(_csv_list(nightly, "--nightly") or ()))
    burn = burn_in if burn_in is not None else (TIP_BURN_IN if tip else 30.0)
    return DiaryDesign(days=days, prompts=prompts, jitter=jitter,
                       measures=tuple(_csv_list(measures, "--measures")) if measures else None,
                       nightly=night, missing=missing, missing_slope=missing_slope, noise=noise, burn_in=burn,
                       prelude=TIP_PRELUDE if tip else ())


DiaryDays = Annotated[int, typer.Option("--days", min=2, help="Diary days.")]
DiaryPrompts = Annotated[int, typer.Option("--prompts", min=1, max=48, help="Momentary prompts a day.")]
DiaryJitter = Annotated[float, typer.Option("--jitter", min=0, help="Random shift of prompts, +-jitter/2 hours.")]
DiaryMeasures = Annotated[str | None, typer.Option(
    "--measures", help="Momentary measures, comma-separated (default: pain_nrs, distress_scale, fatigue_scale).")]
DiaryNightly = Annotated[str | None, typer.Option(
    "--nightly", help="Nightly measures, comma-separated, or 'none' (default: sleep quality and HRV).")]
DiaryMissing = Annotated[float, typer.Option("--missing", min=0, max=0.99, help="Probability of a missed prompt.")]
DiaryMissingSlope = Annotated[float, typer.Option(
    "--missing-slope", help="Log-odds of missing per pain point above 5 (more missing on bad days).")]
DiaryNoise = Annotated[bool, typer.Option("--noise/--no-noise", help="Instrument measurement noise.")]
DiaryBurnIn = Annotated[float | None, typer.Option(
    "--burn-in", min=0, help="Days simulated before the diary (default 30; 180 with --tip).")]
DiaryTip = Annotated[bool, typer.Option(
    "--tip", help="Tip predisposed patients first: psychosocial stress 2.0 for 120 days of the burn-in.")]


@app.command()
def diary(
    model: ModelArg,
    out_path: Annotated[Path, typer.Option("--out", help="Diary table (.csv or .parquet).", show_default=False)],
    patients: Annotated[int, typer.Option("--patients", min=1, help="Patients.")] = 50,
    days: DiaryDays = 28,
    prompts: DiaryPrompts = 5,
    jitter: DiaryJitter = 0.0,
    measures: DiaryMeasures = None,
    nightly: DiaryNightly = None,
    missing: DiaryMissing = 0.1,
    missing_slope: DiaryMissingSlope = 0.0,
    noise: DiaryNoise = True,
    burn_in: DiaryBurnIn = None,
    tip: DiaryTip = False,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    backend: Annotated[Backend, typer.Option("--backend", help="Simulation backend.")] = Backend.numba,
) -> None:
    """Simulate a diary (EMA) study: a long table `patient, day, prompt, time, measure, value`.

    Prompt 0 holds the nightly measures of the night before each day; a missed prompt has
    an empty value. See docs/diary.md.
    """
    from fitts.io.results import save_table
    from fitts.observe.diary import simulate_diary

    _check_table_suffix(out_path, "--out")
    design = _diary_design(days, prompts, jitter, measures, nightly, missing, missing_slope, noise, burn_in, tip)
    m = _theory(model)
    total = patients * (design.burn_in + days + 1.0)
    with _progress_task(f"diary {m.spec.name}", total) as advance:
        df = simulate_diary(m, design, patients=patients, seed=seed, backend=backend.value, progress=advance)
    meta = {**df.attrs["fitts"], "command": _command()}
    save_table(df.assign(measure=df["measure"].astype(str)), out_path, meta)
    answered = df.loc[df["prompt"] > 0, "value"].notna().mean()
    typer.echo(f"{m.spec.name}: {patients} patients x {days} days x {prompts} prompts; "
               f"{answered:.0%} of prompts answered; {len(df)} rows")
    typer.echo(f"wrote {out_path}")


class Level(StrEnum):
    prompt = "prompt"
    day = "day"
    both = "both"


@app.command()
def within(
    model: ModelArg,
    data: Annotated[Path | None, typer.Option(
        "--data", help="A diary table (.csv or .parquet) to analyse; default: simulate one.")] = None,
    level: Annotated[Level, typer.Option("--level", help="prompt, day or both.")] = Level.both,
    patients: Annotated[int, typer.Option("--patients", min=2, help="Patients (simulated diary).")] = 50,
    days: DiaryDays = 28,
    prompts: DiaryPrompts = 5,
    missing: DiaryMissing = 0.1,
    tip: DiaryTip = False,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (simulated diary).")] = 0,
    alpha: Annotated[float, typer.Option("--alpha", min=1e-6, max=0.5, help="Significance level.")] = 0.05,
    no_pcmci: Annotated[bool, typer.Option("--no-pcmci", help="Skip PCMCI.")] = False,
    out_path: Annotated[Path | None, typer.Option(
        "--out", help="Comparison table (.csv or .parquet): per method and link, truth and status.")] = None,
    backend: Annotated[Backend, typer.Option("--backend", help="Simulation backend.")] = Backend.numba,
) -> None:
    """Within-person analyses of a diary against the theory's true graph.

    Lagged multilevel models (person-mean centred, random intercept and slope) and PCMCI
    (tigramite), at the prompt and/or day level; each directed link between measures is
    recovered, missed, wrong in sign, spurious, indirect (through unmeasured states) or absent.
    """
    import pandas as pd

    from fitts.analysis.within_person import compare_with_truth, lagged_mlm, pcmci_links, summarise
    from fitts.errors import DataError
    from fitts.io.results import save_table

    _check_table_suffix(out_path, "--out")
    _check_table_suffix(data, "--data")
    m = _theory(model)
    if data is not None:
        if not data.exists():
            raise DataError(f"{data}: no such file")
        diary_df = pd.read_csv(data) if data.suffix == ".csv" else pd.read_parquet(data)
    else:
        from fitts.observe.diary import simulate_diary

        design = _diary_design(days, prompts, 0.0, None, None, missing, 0.0, True, None, tip)
        with _progress_task(f"diary {m.spec.name}", patients * (design.burn_in + days + 1.0)) as advance:
            diary_df = simulate_diary(m, design, patients=patients, seed=seed, backend=backend.value,
                                      progress=advance)
    levels = ["prompt", "day"] if level == Level.both else [level.value]
    if diary_df["prompt"].max() < 2 and "prompt" in levels:
        levels.remove("prompt")
        typer.echo("one prompt a day: the prompt level is skipped")
    parts = []
    for lv in levels:
        with _spinner(f"multilevel models ({lv} level)"):
            parts.append(compare_with_truth(m, lagged_mlm(diary_df, level=lv, alpha=alpha), method="mlm")
                         .assign(level=lv))
        if not no_pcmci:
            with _spinner(f"PCMCI ({lv} level)"):
                parts.append(compare_with_truth(m, pcmci_links(diary_df, level=lv, alpha=alpha), method="pcmci")
                             .assign(level=lv))
    table = pd.concat(parts, ignore_index=True)
    for (lv, method), sub in table.groupby(["level", "method"], sort=False):
        t = Table(title=f"{m.spec.name}: {method} at the {lv} level — " + ", ".join(
            f"{k} {v}" for k, v in summarise(sub).items() if v))
        for col in ("cause", "effect", "true", "found", "strength", "p", "status"):
            t.add_column(col)
        for r in sub.itertuples():
            true = {"direct": "+" if r.sign > 0 else "-" if r.sign < 0 else "±"}.get(r.kind, r.kind)
            _add_row(t, r.cause, r.effect, true, "yes" if r.found else "no", f"{r.strength:+.3f}",
                     f"{r.p:.2g}", r.status)
        out.print(t)
    if out_path is not None:
        save_table(table, out_path, {"model_hash": m.model_hash, "command": _command()})
        typer.echo(f"wrote {out_path}")


@app.command()
def power(
    model: ModelArg,
    patients: Annotated[str, typer.Option("--patients", help="Patients grid, comma-separated.")] = "20,50",
    days: Annotated[str, typer.Option("--days", help="Diary days grid.")] = "14,28",
    prompts: Annotated[str, typer.Option("--prompts", help="Prompts-a-day grid.")] = "3,5",
    replicates: Annotated[int, typer.Option("--replicates", min=1, help="Studies per design.")] = 5,
    levels: Annotated[str, typer.Option("--levels", help="prompt and/or day.")] = "prompt,day",
    methods: Annotated[str, typer.Option("--methods", help="mlm and/or pcmci.")] = "mlm,pcmci",
    missing: DiaryMissing = 0.1,
    tip: DiaryTip = False,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    out_path: Annotated[Path | None, typer.Option("--out", help="Recovery table (.csv or .parquet).")] = None,
    figure: Annotated[Path | None, typer.Option("--figure", help="Recovery curves (.png, .svg or .pdf).")] = None,
    backend: Annotated[Backend, typer.Option("--backend", help="Simulation backend.")] = Backend.numba,
) -> None:
    """Power of diary studies: how often each true link is recovered, over patients x days x prompts."""
    from fitts.analysis.power import recovery_curves
    from fitts.io.results import save_table

    _check_table_suffix(out_path, "--out")
    if figure is not None:
        from fitts.plot.figures import figure_format

        figure_format(figure)
    m = _theory(model)
    n_grid = _csv_list(patients, "--patients", int)
    d_grid = _csv_list(days, "--days", int)
    p_grid = _csv_list(prompts, "--prompts", int)
    lv = _csv_list(levels, "--levels")
    total = replicates * len(n_grid) * len(d_grid) * len(p_grid) * len(lv)
    with _steps_progress(f"power {m.spec.name}", total) as advance:
        res = recovery_curves(m, patients=n_grid, days=d_grid, prompts=p_grid, replicates=replicates,
                              levels=lv, methods=_csv_list(methods, "--methods"), seed=seed,
                              diary=_diary_design(2, 1, 0.0, None, None, missing, 0.0, True, None, tip),
                              backend=backend.value, progress=advance)
    t = Table(title=f"{m.spec.name}: recovery of true links ({replicates} studies per design)")
    for col in ("level", "method", "link", "sign", "patients", "days", "prompts", "recovery"):
        t.add_column(col)
    for r in res.table.itertuples():
        _add_row(t, r.level, r.method, f"{r.cause} -> {r.effect}", f"{r.sign:+d}", str(r.patients), str(r.days),
                 str(r.prompts), f"{r.recovery:.2f}")
    out.print(t)
    if out_path is not None:
        save_table(res.table, out_path, {**res.settings, "command": _command()})
        typer.echo(f"wrote {out_path}")
    if figure is not None:
        from fitts.plot.diary import plot_recovery

        plot_recovery(res.table, figure, title=f"{m.spec.name}: recovery of true links")
        typer.echo(f"wrote {figure}")


@app.command()
def design(
    model_a: Annotated[str, typer.Argument(help="First theory (built-in name or model file).", show_default=False)],
    model_b: Annotated[str, typer.Argument(help="Second theory.", show_default=False)],
    out_dir: Annotated[Path, typer.Option(
        "--out", help="Directory for designs.csv and designs.png.", show_default=False)],
    budget: Annotated[float | None, typer.Option(
        "--budget", min=1, help="Maximum cost, participants x days (default: no limit).")] = None,
    patients: Annotated[str, typer.Option("--patients", help="Participants grid, comma-separated.")] = "10,20,50",
    days: Annotated[str, typer.Option("--days", help="Diary days grid.")] = "14,28",
    prompts: Annotated[str, typer.Option("--prompts", help="Prompts-a-day grid.")] = "1,3",
    challenges: Annotated[str | None, typer.Option(
        "--challenge-inputs", help="Inputs to pulse as challenges (default: every input both theories have).")] = None,
    challenge_level: Annotated[float, typer.Option("--challenge-level", help="Pulse size (input units).")] = 1.0,
    challenge_days: Annotated[float, typer.Option("--challenge-days", min=0.5, help="Pulse length, days.")] = 3.0,
    replicates: Annotated[int, typer.Option("--replicates", min=3, help="Replicate studies per design.")] = 20,
    missing: DiaryMissing = 0.1,
    tip: DiaryTip = False,
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    top: Annotated[int, typer.Option("--top", min=1, help="Designs listed.")] = 10,
    backend: Annotated[Backend, typer.Option("--backend", help="Simulation backend.")] = Backend.numba,
) -> None:
    """Rank diary studies (challenge, measures, N, days, prompts) by their power to tell two theories apart."""
    from fitts.analysis.study_design import DesignSpace, candidate_challenges, discriminating_designs
    from fitts.io.results import save_table
    from fitts.plot.diary import plot_designs

    if out_dir.exists() and not out_dir.is_dir():
        raise typer.BadParameter(f"{out_dir} is a file; give a directory", param_hint="--out")
    ma, mb = _theory(model_a), _theory(model_b)
    chs = candidate_challenges(ma, mb, level=challenge_level, duration=challenge_days,
                               inputs=_csv_list(challenges, "--challenge-inputs"))
    space = DesignSpace(patients=tuple(_csv_list(patients, "--patients", int)),
                        days=tuple(_csv_list(days, "--days", int)),
                        prompts=tuple(_csv_list(prompts, "--prompts", int)), challenges=tuple(chs), budget=budget)
    n_days = sum(any(space.affordable(n, d) for n in space.patients) for d in set(space.days))
    with _steps_progress(f"design {ma.spec.name} vs {mb.spec.name}", 2 * len(chs) * n_days) as advance:
        res = discriminating_designs(ma, mb, space, replicates=replicates, seed=seed,
                                     diary=_diary_design(2, 1, 0.0, None, None, missing, 0.0, True, None, tip),
                                     challenge_level=challenge_level, challenge_duration=challenge_days,
                                     backend=backend.value, progress=advance)
    t = Table(title=f"{ma.spec.name} vs {mb.spec.name}: designs by power to tell them apart")
    for col in ("rank", "challenge", "measures", "patients", "days", "prompts", "cost", "power"):
        t.add_column(col)
    for r in res.table.head(top).itertuples():
        _add_row(t, str(r.rank), r.challenge, r.measures, str(r.patients), str(r.days), str(r.prompts),
                 f"{r.cost:g}", f"{r.power:.2f}")
    out.print(t)
    out_dir.mkdir(parents=True, exist_ok=True)
    table_path = out_dir / "designs.csv"
    save_table(res.table, table_path, {**res.settings, "command": _command()})
    fig_path = out_dir / "designs.png"
    plot_designs(res.table, fig_path, title=f"{ma.spec.name} vs {mb.spec.name}")
    typer.echo(f"wrote {table_path}")
    typer.echo(f"wrote {fig_path}")


# --------------------------------------------------------------------------- populations and trials


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
Resume = Annotated[bool, typer.Option(
    "--resume", help="Continue an interrupted run from its checkpoint (finished chunks are not redone).")]


@contextmanager
def _job_progress(description: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar over candidates (its total grows as screening waves are planned)."""
    bar = Progress(TextColumn("[progress.description]{task.description}"), BarColumn(), TaskProgressColumn(),
                   MofNCompleteColumn(), TextColumn("candidates"), TimeElapsedColumn(), TimeRemainingColumn(),
                   console=err, transient=True, disable=not err.is_terminal)
    with bar:
        task = bar.add_task(description, total=None)
        yield lambda done, planned: bar.update(task, completed=done, total=planned)


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


@app.command()
def trial(
    trial_file: Annotated[Path, typer.Argument(help="Trial file (.yaml, format fitts-trial/1).", show_default=False)],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the tables and the figure.")],
    theory: Annotated[str | None, typer.Option(
        "--theory", help="Run the trial on this theory instead of the file's.")] = None,
    patients: Annotated[int | None, typer.Option("--patients", min=2, help="Patients randomised.")] = None,
    seed: Annotated[int | None, typer.Option("--seed", min=0, help="Seed of the virtual patients.")] = None,
    workers: Workers = None,
    chunk_size: ChunkSize = 1024,
    scheduler: Scheduler = None,
    dask_local: DaskLocal = False,
    resume: Resume = False,
    backend: Annotated[Backend, typer.Option("--backend", help="Simulation backend.")] = Backend.numba,
    figure: Annotated[str, typer.Option("--figure-format", help="png, svg or pdf.")] = "png",
) -> None:
    """Run an in silico trial: recruit, randomise, treat, follow up; effect sizes by arm and subtype.

    Writes `patients.parquet`, `effects.parquet` (Hedges g, risk difference, NNT with 95 %
    intervals, overall and per subtype), `arms.parquet`, `timecourse.parquet` and
    `outcomes.png` to --out. Finished chunks are checkpointed in OUT/checkpoint until the
    run completes; after an interruption, run again with --resume.
    """
    import shutil

    from fitts.run.trial import run_trial, write_trial

    if figure not in ("png", "svg", "pdf"):
        raise typer.BadParameter("choose png, svg or pdf", param_hint="--figure-format")
    from fitts.trials.spec import load_trial

    check_output_folder(out_dir)
    load_trial(trial_file, theory)  # a bad trial file fails here, before any worker starts
    checkpoint = out_dir / "checkpoint"
    with _executor(workers, scheduler, dask_local) as ex, _job_progress(f"trial {trial_file.name}") as advance:
        res = run_trial(trial_file, theory=theory, patients=patients, seed=seed, executor=ex, chunk_size=chunk_size,
                        checkpoint=checkpoint, resume=resume, backend=backend.value, progress=advance)
        where = ex.describe()
    paths = write_trial(res, out_dir, figure_format=figure, metadata={"command": _command()})
    shutil.rmtree(checkpoint, ignore_errors=True)
    run = res.run
    typer.echo(f"{res.trial.spec.name} on {res.trial.model.spec.name} ({where}): randomised {run.patients} of "
               f"{run.screened} candidates screened ({res.trial.spec.population.recruit}; acceptance rate "
               f"{run.acceptance_rate:.2%}); {len(run.computed)} chunk(s) computed, {len(run.reused)} resumed")
    t = Table(title="effects against control at the end of treatment (all patients)")
    for col in ("arm", "outcome", "effect", "value [95% CI]", "NNT"):
        t.add_column(col)
    eff = res.effects
    for r in eff[(eff["subgroup"] == "all") & (eff["timepoint"] == "end")].itertuples():
        nnt = f"{r.nnt:.1f}" if r.effect == "risk_difference" and abs(r.nnt) < 1e6 else ""
        _add_row(t, r.arm, r.outcome, r.effect, f"{r.value:+.3f} [{r.low:+.3f}, {r.high:+.3f}]", nnt)
    out.print(t)
    for p in paths:
        typer.echo(f"wrote {p}")


@app.command()
def population(
    model: ModelArg,
    out_path: Annotated[Path, typer.Option("--out", help="Per-patient table (.parquet or .csv).")],
    patients: Annotated[int, typer.Option("--patients", min=1, help="Patients to recruit.")] = 1000,
    recruit: Annotated[Recruit, typer.Option(
        "--recruit", help="all, ACR 2016 cases at the end of the run-in, or never-ill controls.")] = Recruit.all,
    run_in_days: Annotated[float, typer.Option(
        "--run-in-days", help="Days of everyday life before screening.")] = 364.0,
    dt: Annotated[float, typer.Option("--dt", help="Integration step, days.")] = 0.05,
    prevalence: Annotated[list[str] | None, typer.Option(
        "--prevalence", help="Prevalence of a predisposition, NAME=P (repeatable).")] = None,
    correlation: Annotated[list[str] | None, typer.Option(
        "--correlation", help="Copula correlation of two sampled parameters, A,B=RHO (repeatable).")] = None,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Random seed.")] = 0,
    workers: Workers = None,
    chunk_size: ChunkSize = 4096,
    scheduler: Scheduler = None,
    dask_local: DaskLocal = False,
    checkpoint: Annotated[Path | None, typer.Option(
        "--checkpoint", help="Folder for finished chunks (default: beside --out, removed on success).")] = None,
    resume: Resume = False,
    max_screened: Annotated[int | None, typer.Option(
        "--max-screened", min=1, help="Give up after screening this many candidates.")] = None,
    backend: Annotated[Backend, typer.Option("--backend", help="Simulation backend.")] = Backend.numba,
) -> None:
    """Sample a virtual population and recruit from it like a study: run-in, screen, keep.

    Parameters follow the theory's priors, joined by a Gaussian copula (--correlation) and
    with predisposition prevalences (--prevalence). Prints the acceptance rate.
    """
    import shutil

    from fitts.io.results import save_table
    from fitts.population.recruit import Recruitment, describe, everyday_schedule
    from fitts.population.sample import PopulationSpec
    from fitts.run.population import run_population

    _check_table_suffix(out_path, "--out")
    check_output_file(out_path, "--out", (".parquet", ".csv"))
    if checkpoint is not None:
        check_output_folder(checkpoint, "--checkpoint")
    check_simulation_options(days=run_in_days, dt=dt)
    m = _theory(model)
    pop = PopulationSpec(_parse_prevalence(prevalence), tuple(_parse_correlation(correlation)))
    pop.matrix(m)
    rec = Recruitment(recruit.value, run_in_days, dt, 7.0, tuple(everyday_schedule()))
    rec.check(m)
    own = checkpoint is None
    ckpt = checkpoint or out_path.with_name(f".{out_path.name}.checkpoint")
    with _executor(workers, scheduler, dask_local) as ex, _job_progress(f"population {m.spec.name}") as advance:
        res = run_population(model, patients, seed=seed, population=pop, recruitment=rec, executor=ex,
                             chunk_size=chunk_size, checkpoint=ckpt, resume=resume, max_screened=max_screened,
                             backend=backend.value, progress=advance)
    save_table(res.table, out_path, {**res.metadata, "command": _command()})
    if own:
        shutil.rmtree(ckpt, ignore_errors=True)
    typer.echo(f"{m.spec.name}: " + describe(recruit.value, res.run.screened, res.run.patients))
    typer.echo(f"wrote {out_path}")


# --------------------------------------------------------------------------- workbench


@app.command()
def serve(
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port to listen on (0: any free port).")] = 8765,
    host: Annotated[str, typer.Option(
        "--host", help="Address to bind; the default serves this computer only.")] = "127.0.0.1",
    workspace: Annotated[Path, typer.Option(
        "--workspace", help="Folder for uploaded theories, saved variants and job results (created if missing); "
        "the workbench writes nowhere else.")] = Path("fitts-workspace"),
    max_jobs: Annotated[int, typer.Option("--max-jobs", min=1, max=8, help="Background jobs running at once.")] = 1,
) -> None:
    """Start the workbench in the browser: theories, patient stories, thresholds, scorecards, variants.

    Prints the address to open; stop it with Ctrl-C. Needs the `serve` extra
    (`pip install "fitts[serve]"`).
    """
    try:
        import uvicorn

        from fitts.serve import create_app
    except ModuleNotFoundError as exc:
        raise ModelError(f"the workbench needs the `serve` extra ({exc.name} is missing)",
                         hint='pip install "fitts[serve]"') from None
    import socket

    from fitts.serve.app import LOCAL_HOSTS

    local = host in ("127.0.0.1", "localhost", "::1")
    application = create_app(workspace, max_jobs=max_jobs, allowed_hosts=LOCAL_HOSTS if local else None)
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)  # connections wait in the backlog from now on: the address printed works at once
    except OSError as exc:
        raise ModelError(f"cannot listen on {host}:{port}: {exc.strerror}",
                         hint="choose another --port (or 0 for any free one)") from None
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"fitts workbench on http://{shown}:{bound}/  (workspace {workspace.resolve()}; Ctrl-C stops it)")
    sys.stdout.flush()
    config = uvicorn.Config(application, log_level="warning", lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])


# --------------------------------------------------------------------------- entry point


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


if __name__ == "__main__":
    main()
