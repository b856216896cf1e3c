"""Reports regenerated from the theories: ``fitts report drivers``."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer

from fitts.cli.common import (
    DEFAULT_DT,
    Backend,
    BackendOption,
    DaskLocal,
    Dt,
    ExperimentWorkers,
    Resume,
    Scheduler,
    Seed,
    _command,
    _executor,
    _job_progress,
    app,
    err,
)
from fitts.cli.options import CheckedGroup, check_output_folder

report_app = typer.Typer(cls=CheckedGroup, no_args_is_help=True, rich_markup_mode="markdown",
                         help="Reports regenerated from the theories (README sections, tables, figures).")
app.add_typer(report_app, name="report")


@report_app.command("drivers")
def drivers_command(
    theories: Annotated[list[str] | None, typer.Argument(
        help="Theories (built-in names or model files; default: every built-in theory).", show_default=False)] = None,
    out_dir: Annotated[Path, typer.Option(
        "--out", help="Folder for drivers.md, drivers.csv, the boxes and the figures.", show_default=False)] = ...,
    trajectories: Annotated[int, typer.Option(
        "--trajectories", min=2, help="Morris trajectories per theory (runs: trajectories x (parameters + 1)).")]
    = 20,
    candidates: Annotated[int, typer.Option(
        "--candidates", min=0, help="Candidates the example trial screens for the responders' box (0: skip).")]
    = 20000,
    days: Annotated[float, typer.Option(
        "--days", min=250.0, help="Day `staying ill` is read (the stressor runs on days 60-240).")] = 730.0,
    trial_file: Annotated[Path | None, typer.Option(
        "--trial", help="Trial file for the responders (default: the packaged example trial).",
        show_default=False)] = None,
    arm: Annotated[str | None, typer.Option(
        "--arm", help="Treatment arm (default: the trial's first arm that is not the control).",
        show_default=False)] = None,
    no_calibration: Annotated[bool, typer.Option(
        "--no-calibration", help="Use each theory's priors as written. Default: the priors of its packaged "
        "calibration (its prior knobs), where it has one.")] = False,
    top: Annotated[int, typer.Option("--top", min=1, help="Parameters listed per question.")] = 5,
    seed: Seed = 0,
    dt: Dt = DEFAULT_DT,
    backend: BackendOption = Backend.numba,
    workers: ExperimentWorkers = 1,
    scheduler: Scheduler = None,
    dask_local: DaskLocal = False,
    resume: Resume = False,
) -> None:
    """Per theory: the parameters that matter most for becoming ill and for staying ill, and the
    box of patients who respond to the example trial's treatment.

    Writes `drivers.md` (the README section), `drivers.csv` (top parameters with mu* and its
    interval), `costs.csv` (simulator runs and wall time per analysis), and per theory
    `THEORY/indices-becoming.csv`, `THEORY/indices-staying.csv`, `THEORY/response-box.csv`,
    `THEORY/responses.csv` and the figures. The runs are kept in OUT/runs until they are all
    done; after an interruption, run again with --resume.
    """
    import pandas as pd

    from fitts.evaluate.calibrate import builtin_calibration
    from fitts.io.results import save_table
    from fitts.plot.sensitivity import plot_discovery, plot_sensitivity
    from fitts.run.drivers import drivers, drivers_markdown, drivers_table
    from fitts.spec.load import builtin_theories, load_model

    check_output_folder(out_dir)
    names = list(theories or builtin_theories())
    reports, figures, written = [], {}, []
    with _executor(workers, scheduler, dask_local) as ex:
        for theory in names:
            spec = load_model(theory)  # a bad theory fails here, before any work
            cal = None if no_calibration else builtin_calibration(spec.name, tuple(spec.parents))
            with _job_progress(f"drivers of {spec.name}") as advance:
                r = drivers(theory, trajectories=trajectories, candidates=candidates, days=days, trial=trial_file,
                            arm=arm, calibration=cal, seed=seed, dt=dt, backend=backend.value, executor=ex,
                            directory=out_dir / "runs" / spec.name, resume=resume,
                            progress=lambda _a, done, planned, adv=advance: adv(done, planned))
            reports.append(r)
            folder = out_dir / r.theory
            meta = {**r.settings, "command": _command()}
            figures[r.theory] = {}
            for question, res in r.sensitivity.items():
                if res is None:
                    continue
                stem = question.split()[0]
                written.append(save_table(res.indices.reset_index(), folder / f"indices-{stem}.csv", meta))
                fig = folder / f"{stem}.png"
                plot_sensitivity(res, fig, top=15)
                written.append(fig)
                figures[r.theory][question] = f"{r.theory}/{stem}.png"
            if r.response is not None:
                written.append(save_table(r.response.box, folder / "response-box.csv", meta))
                written.append(save_table(r.responses.patients, folder / "responses.csv", meta))
                fig = folder / "response.png"
                plot_discovery(r.response, fig)
                written.append(fig)
                figures[r.theory]["who responds"] = f"{r.theory}/response.png"
            for part, note in r.notes.items():
                err.print(f"{r.theory}, {part}: {note}", markup=False)
    shutil.rmtree(out_dir / "runs", ignore_errors=True)
    meta = {"command": _command()}
    written.append(save_table(drivers_table(reports, top), out_dir / "drivers.csv", meta))
    costs = pd.concat([r.cost.assign(theory=r.theory) for r in reports], ignore_index=True)
    written.append(save_table(costs[["theory", "analysis", "runs", "seconds"]], out_dir / "costs.csv", meta))
    md = out_dir / "drivers.md"
    md.write_text(drivers_markdown(reports, top, figures))
    written.append(md)
    for path in written:
        typer.echo(f"wrote {path}")
