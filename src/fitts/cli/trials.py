"""Virtual populations and in silico trials: trial, population."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from fitts.cli.common import (
    DEFAULT_DT,
    Backend,
    CalibrationPath,
    ChunkSize,
    DaskLocal,
    Dt,
    ModelArg,
    NoCalibration,
    Recruit,
    Resume,
    Scheduler,
    Seed,
    Workers,
    _add_row,
    _calibrated,
    _check_table_suffix,
    _command,
    _executor,
    _job_progress,
    _parse_correlation,
    _parse_prevalence,
    _theory,
    app,
    out,
)
from fitts.cli.options import (
    check_output_file,
    check_output_folder,
    check_simulation_options,
)


@app.command()
def trial(
    trial_file: Annotated[Path, typer.Argument(help="Trial file (.yaml, format fitts-trial/1).", show_default=False)],
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the tables and the figure.")],
    theory: Annotated[str | None, typer.Option(
        "--theory", help="Run the trial on this theory instead of the file's.")] = None,
    patients: Annotated[int | None, typer.Option("--patients", min=2, help="Patients randomised.")] = None,
    seed: Annotated[int | None, typer.Option(
        "--seed", min=0, help="Random seed: with the model it fixes every virtual patient "
        "(default: the trial file's seed).")] = None,
    workers: Workers = None,
    chunk_size: ChunkSize = 1024,
    scheduler: Scheduler = None,
    dask_local: DaskLocal = False,
    resume: Resume = False,
    backend: Annotated[Backend, typer.Option("--backend", help="Simulation backend.")] = Backend.numba,
    figure: Annotated[str, typer.Option("--figure-format", help="png, svg or pdf.")] = "png",
    calibration: CalibrationPath = None,
    no_calibration: NoCalibration = False,
) -> None:
    """Run an in silico trial: recruit, randomise, treat, follow up; effect sizes by arm and subtype.

    Writes `patients.parquet`, `effects.parquet` (Hedges g, risk difference, NNT with 95 %
    intervals, overall and per subtype), `arms.parquet`, `timecourse.parquet` and
    `outcomes.png` to --out. Finished chunks are checkpointed in OUT/checkpoint until the
    run completes; after an interruption, run again with --resume.
    """
    import shutil

    from fitts.evaluate.calibrate import trial_calibration
    from fitts.run.trial import run_trial, write_trial

    if figure not in ("png", "svg", "pdf"):
        raise typer.BadParameter("choose png, svg or pdf", param_hint="--figure-format")
    from fitts.trials.spec import load_trial

    check_output_folder(out_dir)
    loaded = load_trial(trial_file, theory)  # a bad trial file fails here, before any worker starts
    calibrated, proto, cal, _ = _calibrated(loaded.model, calibration, no_calibration)
    checkpoint = out_dir / "checkpoint"
    with _executor(workers, scheduler, dask_local) as ex, _job_progress(f"trial {trial_file.name}") as advance:
        res = run_trial(trial_file, theory=theory, patients=patients, seed=seed, executor=ex, chunk_size=chunk_size,
                        checkpoint=checkpoint, resume=resume, backend=backend.value, progress=advance,
                        calibration=trial_calibration(loaded.model, cal, (calibrated, proto)))
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
    dt: Dt = DEFAULT_DT,
    prevalence: Annotated[list[str] | None, typer.Option(
        "--prevalence", help="Prevalence of a predisposition, NAME=P (repeatable).")] = None,
    correlation: Annotated[list[str] | None, typer.Option(
        "--correlation", help="Copula correlation of two sampled parameters, A,B=RHO (repeatable).")] = None,
    seed: Seed = 0,
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
    if len(res.failures):
        from fitts.population.recruit import describe_failures

        f = res.failures
        typer.echo(f"note: {len(f)} candidate(s) failed during the run-in and were replaced by the next ids: "
                   + describe_failures(f["patient"].to_numpy(), f["day"].to_numpy(), f["state"].to_numpy()),
                   err=True)
    typer.echo(f"wrote {out_path}")


# --------------------------------------------------------------------------- workbench


