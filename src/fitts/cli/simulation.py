"""Simulation and one patient's story: simulate, plot, patient, demo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from fitts.cli.common import (
    DEFAULT_DT,
    Backend,
    Dt,
    ModelArg,
    PatientChoice,
    PatientSeed,
    Record,
    Seed,
    _add_row,
    _choose,
    _command,
    _prepare_kernel,
    _progress,
    _progress_task,
    _theory,
    app,
    err,
    load_schedule_file,
    out,
    parse_intervention,
)
from fitts.cli.options import (
    check_output_file,
    check_simulation_options,
    check_window,
)
from fitts.errors import SimulationError


def _option_left_out(ctx: typer.Context, name: str) -> bool:
    """Whether the option `name` of the running command was left at its default."""
    source = ctx.get_parameter_source(name)
    return source is None or source.name == "DEFAULT"


@app.command()
def simulate(
    ctx: typer.Context,
    model: ModelArg,
    out_path: Annotated[Path, typer.Option(
        "--out", help="Output NetCDF file (.nc) of the trajectories or summaries.",
        show_default=False)],
    patients: Annotated[int, typer.Option(
        "--patients", min=1, help="Number of virtual patients (ids 0..N-1).")] = 100,
    days: Annotated[float, typer.Option(
        "--days", help="Simulated time in days (a multiple of --dt and --record-every).")] = 365.0,
    seed: Seed = 0,
    dt: Dt = DEFAULT_DT,
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
    auxiliaries: Annotated[bool, typer.Option(
        "--auxiliaries", help="Also record the model's auxiliaries (named expressions) beside the states.")
    ] = False,
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

    spec = load_model(model)
    if spec.dt_days is not None and _option_left_out(ctx, "dt"):
        dt = spec.dt_days  # the step the model requires, unless --dt was given (then checked below)
    check_simulation_options(days=days, dt=dt, record_every=record_every, declared=spec.dt_days)
    check_output_file(out_path, "--out", (".nc",))
    if table is not None:
        check_output_file(table, "--table", (".parquet", ".csv"))
    applies = [parse_intervention(t) for t in intervention or []]
    for a, text in zip(applies, intervention or [], strict=True):
        check_window(text, a.start, a.end, days)
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
                     command=_command(), auxiliaries=auxiliaries)
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
    rule = text.strip().lower()
    if rule in ("ill", "healthy"):
        from fitts.analysis.patients import ill_at_end

        ill = ill_at_end(ds)
        chosen = ds["patient"].values[ill if rule == "ill" else ~ill]
        if len(chosen) == 0:
            raise typer.BadParameter(f"no patient is {rule} at the end of this result", param_hint="--patient")
        return [int(i) for i in chosen]
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise typer.BadParameter(f"{text!r}: give patient ids such as 3 or 3,7, or `ill` / `healthy`",
                                 param_hint="--patient") from None


@app.command("patient")
def patient_command(
    model: ModelArg,
    result: Annotated[Path | None, typer.Argument(
        help="Result file: a .nc of `fitts simulate`, or a .parquet/.csv table with a patient column "
        "(population, trial, attribution). Omit it to export a --choice patient.", show_default=False)] = None,
    patient_id: Annotated[int | None, typer.Option(
        "--id", min=0, help="Patient id in the result file.", show_default=False)] = None,
    where: Annotated[str | None, typer.Option(
        "--where", help="Instead of --id, the first patient of the result meeting a rule: `ill` or `healthy` at "
        "the end (.nc), or COLUMN=VALUE on a table, e.g. subtype=central-dominant (attribution) or arm=snri "
        "(trial).", show_default=False)] = None,
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
    from fitts.analysis.patients import patient_from_result, select_patient, write_patient_params

    if patient_id is not None and where is not None:
        raise typer.BadParameter("give --id or --where, not both", param_hint="--where")
    if result is not None and where is not None:
        patient_id = select_patient(result, where)
    if (result is None) != (patient_id is None):
        raise typer.BadParameter("give a result file together with --id or --where, or neither", param_hint="--id")
    if result is not None and patient_id is not None:
        chosen = patient_from_result(_theory(model), result, patient_id)
    else:
        chosen = _choose(model, choice, seed)[1]
    write_patient_params(chosen, out_path)
    typer.echo(f"{chosen.description}\nwrote {out_path}")


@app.command()
def demo(
    out_dir: Annotated[Path, typer.Option(
        "--out", help="Folder for the demo's files (created if missing).", show_default=False)],
    cohort: Annotated[int, typer.Option(
        "--cohort", min=10, help="Sampled patients per theory for the attribution shares.")] = 100,
    days: Annotated[int, typer.Option(
        "--days", min=1, help="Simulated days of each story (must extend past the stressor).")] = 600,
    seed: Seed = 0,
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
    with _progress("theories") as bar:
        task = bar.add_task("story, hysteresis, attribution", total=len(THEORIES))
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


