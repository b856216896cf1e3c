"""Single-patient and loop analyses: dominance, attribute, steady, bifurcate, mobile, compare."""

from __future__ import annotations

import shutil
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from fitts.cli.common import (
    DEFAULT_DT,
    Backend,
    BackendOption,
    CalibrationPath,
    DaskLocal,
    Dt,
    ExperimentWorkers,
    InputLevels,
    ModelArg,
    NoCalibration,
    PatientChoice,
    PatientParams,
    PatientSeed,
    Resume,
    Scheduler,
    Seed,
    _add_row,
    _calibrated,
    _check_table_suffix,
    _command,
    _executor,
    _job_progress,
    _no_ill_state_note,
    _patient,
    _prepare_kernel,
    _progress,
    _progress_task,
    _spinner,
    _theory,
    app,
    describe_thresholds,
    err,
    out,
)
from fitts.errors import did_you_mean


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
    backend: BackendOption = Backend.numba,
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
    seed: Seed = 0,
    out_path: Annotated[Path | None, typer.Option(
        "--out", help="Per-patient table (.csv or .parquet); loop and group tables are written "
        "beside it with suffixes _loops and _groups.")] = None,
    figure: Annotated[Path | None, typer.Option(
        "--figure", help="Bar figure of subtype shares (.svg, .png or .pdf).")] = None,
    threshold: Annotated[float, typer.Option(
        "--threshold", help="Pain (0-1) above which a patient is ill.")] = 0.5,
    max_length: Annotated[int, typer.Option(
        "--max-length", min=0, help="Analyse loops up to this length one by one (0: all).")] = 4,
    backend: BackendOption = Backend.numba,
    calibration: CalibrationPath = None,
    no_calibration: NoCalibration = False,
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
    m = _calibrated(_theory(model), calibration, no_calibration)[0]
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

    with _progress("models") as bar:
        task = bar.add_task("loops, steady states, thresholds", total=len(models))
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
               + describe_thresholds(th.onset, th.recovery, th.ratio, th.width))
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




class SensitivityMethod(StrEnum):
    morris = "morris"
    sobol = "sobol"
    delta = "delta"


@app.command()
def sensitivity(
    model: ModelArg,
    out_dir: Annotated[Path, typer.Option(
        "--out", help="Folder for indices.csv, convergence.csv, samples.parquet (inputs and outcome) "
        "and sensitivity.png.", show_default=False)],
    outcome: Annotated[str, typer.Option(
        "--outcome", help="ill (pain NRS >= 4 at the end: became and stayed ill), pain (activation at the "
        "end), state:NAME, or NAME@DAY, ever_ill, recovered, recovery_days, onset_threshold, "
        "recovery_threshold (see docs/analyses.md).")] = "ill",
    method: Annotated[SensitivityMethod, typer.Option(
        "--method", help="morris (screening, r(k+1) runs), sobol (variance shares with interactions, "
        "N(2k+2) runs) or delta (moment-independent, N runs).")] = SensitivityMethod.morris,
    samples: Annotated[int | None, typer.Option(
        "--samples", min=2, help="Morris trajectories (default 20), Sobol base samples (default 256, a power "
        "of 2) or delta samples (default 1000).", show_default=False)] = None,
    params: Annotated[str | None, typer.Option(
        "--params", help="Comma-separated parameters or glob patterns to vary, e.g. 'weight.*,early_adversity' "
        "(default: every sampled parameter; the rest stay at their prior medians).")] = None,
    days: Annotated[float, typer.Option(
        "--days", min=1.0, help="Day the outcome is read; a psychosocial stressor (level 2) runs on days "
        "60-240.")] = 730.0,
    noise: Annotated[bool, typer.Option(
        "--noise/--no-noise", help="State noise in the runs (off: the outcome depends on the parameters "
        "only).")] = False,
    seed: Seed = 0,
    dt: Dt = DEFAULT_DT,
    backend: BackendOption = Backend.numba,
    workers: ExperimentWorkers = 1,
    scheduler: Scheduler = None,
    dask_local: DaskLocal = False,
    resume: Resume = False,
    calibration: CalibrationPath = None,
    no_calibration: NoCalibration = False,
) -> None:
    """Which parameters decide who becomes and stays ill: global sensitivity (SALib) over the
    theory's priors.

    Every sample row is one virtual patient living through the stressor; the parameters are
    varied jointly over their priors (as prior quantiles mapped through each prior) and the
    outcome's variance or elementary effects are apportioned among them, with 95 %
    intervals and the convergence over nested subsets of the sample. The runs are kept in
    OUT/runs until they are all done; after an interruption, run again with --resume.
    """
    from fitts.analysis.sensitivity import planned_runs, sampled_parameters
    from fitts.analysis.sensitivity import sensitivity as run_sensitivity
    from fitts.io.results import save_table
    from fitts.plot.sensitivity import plot_sensitivity

    written = _theory(model)
    m, _, _, cal_path = _calibrated(written, calibration, no_calibration)
    patterns = [p.strip() for p in params.split(",") if p.strip()] if params else None
    names = sampled_parameters(m, patterns)
    runs = planned_runs(method.value, len(names), samples)
    _prepare_kernel(m, backend.value)
    with _executor(workers, scheduler, dask_local) as ex, \
            _progress_task(f"{method.value} on {len(names)} parameters ({runs} runs)", runs * days) as progress:
        res = run_sensitivity(m, outcome=outcome, method=method.value, samples=samples, parameters=names,
                              days=days, noise=noise, seed=seed, dt=dt, backend=backend.value, progress=progress,
                              executor=ex, directory=out_dir / "runs", resume=resume)
    shutil.rmtree(out_dir / "runs", ignore_errors=True)
    main = res.main_index
    t = Table(title=f"{m.spec.name}: {method.value} indices of `{outcome}` ({res.runs} runs; outcome mean "
                    f"{res.outcome_mean:.3g}, sd {res.outcome_sd:.3g})")
    cols = [c for c in res.indices.columns]
    for col in ("parameter", *cols):
        t.add_column(col)
    for name, r in res.indices.head(15).iterrows():
        _add_row(t, str(name), *(f"{r[c]:.3g}" for c in cols))
    out.print(t)
    meta = {**res.settings, "method": method.value, "outcome": outcome, "command": _command()}
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [save_table(res.indices.reset_index(), out_dir / "indices.csv", meta),
               save_table(res.convergence, out_dir / "convergence.csv", meta)]
    if res.second_order is not None:
        written.append(save_table(res.second_order.reset_index(names="parameter"), out_dir / "second_order.csv",
                                  meta))
    if res.samples is not None:
        written.append(save_table(res.samples, out_dir / "samples.parquet", meta))
    plot_sensitivity(res, out_dir / "sensitivity.png")
    written.append(out_dir / "sensitivity.png")
    err.print(f"main index: {main}; convergence over nested subsets in convergence.csv", markup=False)
    for path in written:
        typer.echo(f"wrote {path}")


@app.command()
def discover(
    model: ModelArg,
    out_dir: Annotated[Path, typer.Option(
        "--out", help="Folder for box.csv, trajectory.csv and discovery.png.",
        show_default=False)],
    outcome: Annotated[str, typer.Option(
        "--outcome", help="ill (pain NRS >= 4 at the end: became and stayed ill), ever_ill, recovered, or pain / "
        "state:NAME / NAME@DAY with --threshold; subtype:NAME (ill patients of an attribution subtype, e.g. "
        "subtype:central-dominant, against the other subtypes); response (who responds to a trial's "
        "treatment, see --trial).")] = "ill",
    threshold: Annotated[float | None, typer.Option(
        "--threshold", help="For a continuous outcome: a patient counts when it is above this.",
        show_default=False)] = None,
    patients: Annotated[int, typer.Option("--patients", min=20, help="Virtual patients drawn from the priors "
                                          "(with --outcome response: candidates screened by the trial).")]
    = 2000,
    trial_file: Annotated[Path | None, typer.Option(
        "--trial", help="With --outcome response: the trial file (default: the packaged example trial), run on "
        "MODEL.", show_default=False)] = None,
    arm: Annotated[str | None, typer.Option(
        "--arm", help="With --outcome response: the treatment arm (default: the first that is not the control).",
        show_default=False)] = None,
    fraction: Annotated[float | None, typer.Option(
        "--fraction", min=0.0, max=1.0, help="With --outcome response: a responder's end-of-treatment NRS is at "
        "least this fraction of its baseline below its own control run (default: the trial's first responder "
        "fraction).", show_default=False)] = None,
    params: Annotated[str | None, typer.Option(
        "--params", help="Comma-separated parameters or glob patterns PRIM may restrict (default: all sampled).")]
    = None,
    days: Annotated[float, typer.Option(
        "--days", min=1.0, help="Day the outcome is read; a psychosocial stressor (level 2) runs on days "
        "60-240.")] = 730.0,
    min_density: Annotated[float | None, typer.Option(
        "--min-density", min=0.0, max=1.0, help="Choose the box with the largest coverage among those at least "
        "this dense (default: among boxes halfway from the base rate to density 1, the best balance of "
        "coverage and density, their harmonic mean).",
        show_default=False)] = None,
    noise: Annotated[bool, typer.Option("--noise/--no-noise", help="State noise in the runs.")] = False,
    seed: Seed = 0,
    dt: Dt = DEFAULT_DT,
    backend: BackendOption = Backend.numba,
    workers: ExperimentWorkers = 1,
    scheduler: Scheduler = None,
    dask_local: DaskLocal = False,
    resume: Resume = False,
    calibration: CalibrationPath = None,
    no_calibration: NoCalibration = False,
) -> None:
    """Scenario discovery: the parameter box in which patients become and stay ill, are of an
    attribution subtype, or respond to a trial's treatment (PRIM).

    Draws virtual patients from the theory's priors, runs each through the stressor, and
    peels a box off the parameter space trading coverage (share of all cases inside the
    box) for density (share of cases inside it). Prints the box and writes the peeling
    trajectory and a figure. The runs are kept in OUT/runs until they are all done; after an
    interruption, run again with --resume.
    """
    from fitts.analysis.discovery import discover as run_discover
    from fitts.io.results import save_table
    from fitts.plot.sensitivity import plot_discovery

    written = _theory(model)
    m, proto, cal, _ = _calibrated(written, calibration, no_calibration)
    patterns = [p.strip() for p in params.split(",") if p.strip()] if params else None
    _prepare_kernel(m, backend.value)
    extra = []
    if outcome == "response":
        from fitts.evaluate.calibrate import trial_calibration
        from fitts.spec.load import models_dir
        from fitts.trials.response import discover_response

        trial_path = trial_file or models_dir() / "trials" / "example.yaml"
        with _executor(workers, scheduler, dask_local) as ex, _job_progress(f"responses in {trial_path.name}") as adv:
            d, responses = discover_response(trial_path, patients, theory=model, arm=arm, fraction=fraction,
                                             min_density=min_density, backend=backend.value, executor=ex,
                                             directory=out_dir / "runs", resume=resume, progress=adv,
                                             calibration=trial_calibration(written, cal, (m, proto)))
        extra.append(("responses.csv", responses.patients))
    elif outcome.startswith("subtype:"):
        from fitts.analysis.discovery import discover_subtype

        with _executor(workers, scheduler, dask_local) as ex, \
                _job_progress(f"attribution subtypes of {patients} patients") as advance:
            d = discover_subtype(m, subtype=outcome.removeprefix("subtype:"), patients=patients, parameters=patterns,
                                 seed=seed, dt=dt, backend=backend.value, min_density=min_density, progress=advance,
                                 executor=ex, directory=out_dir / "runs", resume=resume)
    else:
        with _executor(workers, scheduler, dask_local) as ex, \
                _progress_task(f"scenario discovery on {patients} patients", patients * days) as progress:
            d = run_discover(m, outcome=outcome, patients=patients, parameters=patterns, days=days, noise=noise,
                             seed=seed, dt=dt, backend=backend.value, threshold=threshold, min_density=min_density,
                             progress=progress, executor=ex, directory=out_dir / "runs", resume=resume)
    shutil.rmtree(out_dir / "runs", ignore_errors=True)
    t = Table(title=f"{m.spec.name}: where patients are `{d.outcome}` (base rate {d.base_rate:.1%}); box "
                    f"coverage {d.coverage:.1%}, density {d.density:.1%}, mass {d.mass:.1%}")
    for col in ("parameter", "box min", "box max", "sampled range"):
        t.add_column(col)
    for r in d.box.itertuples(index=False):
        _add_row(t, r.parameter, f"{r.min:.4g}", f"{r.max:.4g}", f"{r.prior_low:.4g} .. {r.prior_high:.4g}")
    out.print(t)
    meta = {**d.settings, "outcome": d.outcome, "command": _command()}
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [save_table(d.box, out_dir / "box.csv", meta), save_table(d.trajectory, out_dir / "trajectory.csv", meta)]
    written += [save_table(df, out_dir / name, meta) for name, df in extra]
    plot_discovery(d, out_dir / "discovery.png")
    written.append(out_dir / "discovery.png")
    for path in written:
        typer.echo(f"wrote {path}")


@app.command()
def experiments(
    model: ModelArg,
    design: Annotated[Path, typer.Option(
        "--design", help="Table (.csv or .parquet), one row per virtual patient: columns are parameters "
        "(e.g. early_adversity, weight.EDGE), input:NAME.level|start|duration (the scenario's stressor) and "
        "intervention:NAME (start day; empty: not given).", show_default=False)],
    outcomes: Annotated[list[str], typer.Option(
        "--outcome", help="Repeatable: ill, nrs, pain, state:NAME, measure:INSTRUMENT (each at the end or "
        "@DAY), ever_ill, recovered, recovery_days, onset_threshold, recovery_threshold.", show_default=False)],
    out_path: Annotated[Path, typer.Option(
        "--out", help="Table of inputs and outcomes (.csv or .parquet).", show_default=False)],
    days: Annotated[float, typer.Option("--days", min=1.0, help="Length of the scenario.")] = 730.0,
    schedule: Annotated[Path | None, typer.Option(
        "--schedule", help="YAML list of input schedule components every patient lives through (default: a "
        "psychosocial stressor, level 2, days 60-240).", show_default=False)] = None,
    intervention: Annotated[list[str] | None, typer.Option(
        "--intervention", help="An intervention every patient gets: NAME, NAME@START or NAME@START:END. "
        "Repeatable.")] = None,
    noise: Annotated[bool, typer.Option("--noise/--no-noise", help="State noise in the runs.")] = False,
    record_every: Annotated[float, typer.Option(
        "--record-every", min=0.1, help="Days between recorded points for outcomes read before the end.")] = 10.0,
    seed: Seed = 0,
    dt: Dt = DEFAULT_DT,
    backend: BackendOption = Backend.numba,
    workers: ExperimentWorkers = 1,
    scheduler: Scheduler = None,
    dask_local: DaskLocal = False,
    resume: Resume = False,
) -> None:
    """Run a design of virtual patients through a scenario and write their inputs and outcomes side by side.

    Row i of the design is virtual patient i at --seed (the parameters a row does not set
    are drawn from the priors for that patient), so a row's outcomes do not depend on the
    other rows, the workers or the order. The runs are kept in OUT.runs/ until they are all
    done; after an interruption, run again with --resume.
    """
    import pandas as pd

    from fitts.analysis.scenarios import DEFAULT_SCENARIO, patient_experiments
    from fitts.cli.common import load_schedule_file, parse_intervention
    from fitts.errors import DataError
    from fitts.io.results import save_table

    _check_table_suffix(design, "--design")
    _check_table_suffix(out_path, "--out")
    if not design.is_file():
        raise DataError(f"{design}: no such file")
    table = pd.read_csv(design) if design.suffix == ".csv" else pd.read_parquet(design)
    m = _theory(model)
    comps = DEFAULT_SCENARIO if schedule is None else tuple(
        c.model_dump(mode="json", exclude_none=True) for c in load_schedule_file(schedule, list(m.inputs)))
    applies = [parse_intervention(t) for t in intervention or ()]
    _prepare_kernel(m, backend.value)
    store = out_path.with_name(out_path.name + ".runs")
    with _executor(workers, scheduler, dask_local) as ex, \
            _progress_task(f"{len(table)} virtual patients", len(table) * days) as progress:
        done = [0]

        def rows_done(n: int, _planned: int) -> None:
            progress((n - done[0]) * days)
            done[0] = n

        res = patient_experiments(m, table, list(outcomes), days=days, schedule=comps,
                                  interventions=[(a.name, a.start, a.end) for a in applies], seed=seed, dt=dt,
                                  noise=noise, backend=backend.value, record_every=record_every, executor=ex,
                                  directory=store, resume=resume, progress=rows_done)
    shutil.rmtree(store, ignore_errors=True)
    meta = {**res.settings, "command": _command()}
    save_table(res.table.reset_index(), out_path, meta)
    summary = res.outcomes.describe().T[["mean", "std", "min", "max"]]
    t = Table(title=f"{m.spec.name}: {len(table)} virtual patients")
    for col in ("outcome", "mean", "sd", "min", "max"):
        t.add_column(col)
    for name, r in summary.iterrows():
        _add_row(t, str(name), *(f"{r[c]:.3g}" for c in ("mean", "std", "min", "max")))
    out.print(t)
    typer.echo(f"wrote {out_path}")
