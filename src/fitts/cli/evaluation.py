"""Theories against published findings: evaluate and calibrate."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from fitts.cli.common import (
    DaskLocal,
    ModelArg,
    Scheduler,
    Seed,
    Workers,
    _calibrated,
    _command,
    _executor,
    _prepare_kernel,
    _progress,
    _progress_task,
    _theory,
    app,
    out,
)
from fitts.errors import ModelError

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
    seed: Seed = 0,
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
    from fitts.evaluate.protocol import load_protocol
    from fitts.evaluate.scorecard import evaluate as run
    from fitts.evaluate.scorecard import simulated_text
    from fitts.evaluate.targets import load_targets
    from fitts.plot.forest import forest_plot

    ts = load_targets(targets)
    compiled, proto, cal, cal_path = _calibrated(_theory(model), calibration, no_calibration,
                                                 load_protocol(protocol))
    n = patients or proto.cohort.patients
    days = n * proto.cohort.years * 365.25
    _prepare_kernel(compiled)
    with _progress_task(f"cohort of {compiled.spec.name}", days) as progress:
        sc = run(compiled, ts, protocol=proto, patients=n, seed=seed, progress=progress)
    sc.meta["calibration"] = str(cal_path) if cal_path else "none"
    sc.meta["command"] = _command()
    if cal is not None and cal.extra.get("tensions"):
        sc.tensions = [t["statement"] for t in cal.extra["tensions"]]
    table = Table(title=sc.summary(), title_justify="left")
    for col in ("target", "published", "accept", "simulated [MC 95%]", "result"):
        table.add_column(col)
    for r in sc.table.itertuples():
        sim = "" if r.simulated != r.simulated else simulated_text(r)
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
    seed: Seed = 0,
    protocol: Annotated[Path | None, typer.Option(
        "--protocol", help="Protocol file (default: the built-in protocol).", show_default=False)] = None,
    out_dir: Annotated[Path | None, typer.Option(
        "--out", help="Output folder (default: calibration-THEORY/). Its calibration.yaml goes to "
        "`fitts evaluate --calibration`.", show_default=False)] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue an interrupted calibration in --out (finished evaluations are kept). "
        "Only --waves and --refine may differ from the first run: more waves go on from the last one.")] = False,
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
    implausible run at --refine-patients; the three evaluations there that pass the most
    targets run again on other patients (seed + 1000), and the one passing the most on
    both cohorts is shipped. Writes calibration.yaml, waves.csv,
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
    bar = _progress("evaluations", transient=False)
    tasks: dict[str, Any] = {}

    def progress(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            label = {"refinement": f"{name}: refinement at {n_refine} patients",
                     "confirmation": f"{name}: confirmation on other patients"}.get(stage, f"{name}: {stage}")
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
    for col in ("wave", "runs", "space left", "rules out most", "unreachable", "empty pairs", "set aside",
                "LOO |z|>3"):
        waves_table.add_column(col)
    for w in res.hm.wave_table().itertuples():
        waves_table.add_row(str(w.wave), str(w.runs), f"{w.fraction:.3g}",
                            f"{w.rules_out_most} ({w.ruled_out_share:.0%})" if w.rules_out_most else "",
                            str(w.unreachable), str(w.empty_pairs), w.set_aside, f"{w.loo_outside_3:.0%}")
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
    for c in res.confirmation:
        typer.echo(f"{'shipped' if c['shipped'] else 'candidate'}: {c['stage']} #{c['index']}: {c['passes']} passing "
                   f"(loss {c['loss']:.2f}); on other patients (seed {c['other_patients_seed']}) "
                   f"{c['passes_other_patients']} (loss {c['loss_other_patients']:.2f})")
    counts = {s: sum(v == s for v in res.best["status"].values())
              for s in ("pass", "fail", "inconclusive", "not expressible")}
    typer.echo(f"{name}: {counts['pass']} of {len(res.best['status'])} targets pass ({counts['fail']} fail, "
               f"{counts['inconclusive']} inconclusive, {counts['not expressible']} not expressible) at "
               f"{n_refine} patients; {res.evaluations} evaluations in {res.seconds / 3600:.2f} h"
               + ("" if math.isnan(res.per_hour) else f" ({res.per_hour:.0f} simulated per wall hour)"))
    for p in paths.values():
        typer.echo(f"wrote {p}")


