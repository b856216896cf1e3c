"""Diary (EMA) studies: diary, within, power, design."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from fitts.cli.common import (
    Backend,
    BackendOption,
    CalibrationPath,
    DaskLocal,
    ExperimentWorkers,
    ModelArg,
    NoCalibration,
    Scheduler,
    Seed,
    _add_row,
    _calibrated,
    _check_table_suffix,
    _command,
    _executor,
    _progress,
    _progress_task,
    _spinner,
    _theory,
    app,
    out,
)


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
    bar = _progress("steps")
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
    seed: Seed = 0,
    backend: BackendOption = Backend.numba,
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
    seed: Seed = 0,
    alpha: Annotated[float, typer.Option("--alpha", min=1e-6, max=0.5, help="Significance level.")] = 0.05,
    no_pcmci: Annotated[bool, typer.Option("--no-pcmci", help="Skip PCMCI.")] = False,
    out_path: Annotated[Path | None, typer.Option(
        "--out", help="Comparison table (.csv or .parquet): per method and link, truth and status.")] = None,
    backend: BackendOption = Backend.numba,
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
    seed: Seed = 0,
    out_path: Annotated[Path | None, typer.Option("--out", help="Recovery table (.csv or .parquet).")] = None,
    figure: Annotated[Path | None, typer.Option("--figure", help="Recovery curves (.png, .svg or .pdf).")] = None,
    backend: BackendOption = Backend.numba,
    workers: ExperimentWorkers = 1,
    scheduler: Scheduler = None,
    dask_local: DaskLocal = False,
    calibration: CalibrationPath = None,
    no_calibration: NoCalibration = False,
) -> None:
    """Power of diary studies: how often each true link is recovered, over patients x days x prompts.

    Each replicate (its patients simulated once, every design analysed) is one experiment;
    --workers, --scheduler or --dask-local run the replicates in parallel.
    """
    from fitts.analysis.power import recovery_curves
    from fitts.io.results import save_table

    _check_table_suffix(out_path, "--out")
    if figure is not None:
        from fitts.plot.figures import figure_format

        figure_format(figure)
    m = _calibrated(_theory(model), calibration, no_calibration)[0]
    n_grid = _csv_list(patients, "--patients", int)
    d_grid = _csv_list(days, "--days", int)
    p_grid = _csv_list(prompts, "--prompts", int)
    lv = _csv_list(levels, "--levels")
    total = replicates * len(n_grid) * len(d_grid) * len(p_grid) * len(lv)
    with _executor(workers, scheduler, dask_local) as ex, _steps_progress(f"power {m.spec.name}", total) as advance:
        res = recovery_curves(m, patients=n_grid, days=d_grid, prompts=p_grid, replicates=replicates,
                              levels=lv, methods=_csv_list(methods, "--methods"), seed=seed,
                              diary=_diary_design(2, 1, 0.0, None, None, missing, 0.0, True, None, tip),
                              backend=backend.value, progress=advance, executor=ex)
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
    seed: Seed = 0,
    top: Annotated[int, typer.Option("--top", min=1, help="Designs listed.")] = 10,
    backend: BackendOption = Backend.numba,
    workers: ExperimentWorkers = 1,
    scheduler: Scheduler = None,
    dask_local: DaskLocal = False,
    no_calibration: Annotated[bool, typer.Option(
        "--no-calibration", help="Use both theories' priors as written (default: each built-in theory with "
        "its packaged calibration).")] = False,
) -> None:
    """Rank diary studies (challenge, measures, N, days, prompts) by their power to tell two theories apart.

    Each simulation (a challenge, a diary length, a theory) is one experiment; --workers,
    --scheduler or --dask-local run them in parallel.
    """
    from fitts.analysis.study_design import DesignSpace, candidate_challenges, discriminating_designs
    from fitts.io.results import save_table
    from fitts.plot.diary import plot_designs

    if out_dir.exists() and not out_dir.is_dir():
        raise typer.BadParameter(f"{out_dir} is a file; give a directory", param_hint="--out")
    ma, mb = (_calibrated(_theory(m), None, no_calibration)[0] for m in (model_a, model_b))
    chs = candidate_challenges(ma, mb, level=challenge_level, duration=challenge_days,
                               inputs=_csv_list(challenges, "--challenge-inputs"))
    space = DesignSpace(patients=tuple(_csv_list(patients, "--patients", int)),
                        days=tuple(_csv_list(days, "--days", int)),
                        prompts=tuple(_csv_list(prompts, "--prompts", int)), challenges=tuple(chs), budget=budget)
    n_days = sum(any(space.affordable(n, d) for n in space.patients) for d in set(space.days))
    with _executor(workers, scheduler, dask_local) as ex, \
            _steps_progress(f"design {ma.spec.name} vs {mb.spec.name}", 2 * len(chs) * n_days) as advance:
        res = discriminating_designs(ma, mb, space, replicates=replicates, seed=seed,
                                     diary=_diary_design(2, 1, 0.0, None, None, missing, 0.0, True, None, tip),
                                     challenge_level=challenge_level, challenge_duration=challenge_days,
                                     backend=backend.value, progress=advance, executor=ex)
    t = Table(title=f"{ma.spec.name} vs {mb.spec.name}: designs by power to tell them apart")
    for col in ("rank", "challenge", "measures", "patients", "days", "prompts", "cost", "power",
                "top feature", "separates by"):
        t.add_column(col)
    for r in res.table.head(top).itertuples():
        _add_row(t, str(r.rank), r.challenge, r.measures, str(r.patients), str(r.days), str(r.prompts),
                 f"{r.cost:g}", f"{r.power:.2f}", r.top_feature,
                 f"{r.separates_by} ({r.power_beyond_levels:.2f} without levels)")
    out.print(t)
    best = res.table.iloc[0]
    if best.separates_by == "baseline level":
        typer.echo(f"note: the top design tells {ma.spec.name} and {mb.spec.name} apart mainly by a baseline level "
                   f"({best.top_feature}); without the levels its power is {best.power_beyond_levels:.2f}")
    out_dir.mkdir(parents=True, exist_ok=True)
    table_path = out_dir / "designs.csv"
    save_table(res.table, table_path, {**res.settings, "command": _command()})
    fig_path = out_dir / "designs.png"
    plot_designs(res.table, fig_path, title=f"{ma.spec.name} vs {mb.spec.name}")
    typer.echo(f"wrote {table_path}")
    typer.echo(f"wrote {fig_path}")


# --------------------------------------------------------------------------- populations and trials


