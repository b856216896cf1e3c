"""What drives illness in a theory: the parameters that matter most for becoming ill and for
staying ill, and the box of patients who respond to the example trial's treatment.

:func:`drivers` is what ``fitts report drivers`` runs for each theory:

1. **Becoming and staying ill** (Morris screening, :mod:`fitts.analysis.sensitivity`): every
   sampled parameter is varied over its prior (with a calibration, the priors as the
   calibration's prior knobs set them); each sample is one virtual patient through the
   standard scenario (a psychosocial stressor, level 2, days 60-240; noise off), run once
   with two outcomes read from the same run: ``ever_ill`` (ill on some recorded day:
   *becoming ill*) and ``ill`` at day `days` (default 730, 490 days after the stressor
   ended: *staying ill*). Parameters are ranked by mu* (mean absolute elementary effect).
2. **Who responds** (:mod:`fitts.trials.response`): the example trial's candidates are
   screened as the trial screens them, every recruit is given the control and the
   treatment arm (common random numbers), and PRIM peels the box of parameters in which
   responders are common.

The runs are experiments (:func:`fitts.run.experiments.perform_experiments`) on any
executor, each analysis with its own run store under ``directory`` (resumable). The
number of simulator runs and the wall time of each analysis are reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from fitts.errors import FittsError, ModelError

from .executors import AbstractExecutor

#: outcomes of the two sensitivity questions, as (question, outcome of fitts.analysis.scenarios)
QUESTIONS = (("becoming ill", "ever_ill"), ("staying ill", "ill"))


@dataclass
class Drivers:
    """The drivers of one theory (see the module docstring).

    Attributes
    ----------
    theory
        The theory's name.
    sensitivity
        Question (``becoming ill``, ``staying ill``) -> Morris result, or None with a note.
    response
        The responders' box (:class:`fitts.analysis.discovery.Discovery`), or None with a note.
    responses
        Individual responses (:class:`fitts.trials.response.Responses`) or None.
    cost
        One row per analysis: ``analysis``, ``runs`` (simulator runs: virtual patients
        simulated; a trial recruit counts its run-in and both arms as one), ``seconds``.
    notes
        Why a part is missing (e.g. nobody fell ill), by part.
    settings
        Sizes, seed, calibration.
    """

    theory: str
    sensitivity: dict[str, Any]
    response: Any
    responses: Any
    cost: pd.DataFrame
    notes: dict[str, str] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)

    def top(self, question: str, k: int = 5) -> pd.DataFrame:
        """The `k` parameters with the largest mu* for a question, those with an effect only
        (empty when the question has no result)."""
        res = self.sensitivity.get(question)
        if res is None:
            return pd.DataFrame(columns=["parameter", "mu_star", "mu_star_conf", "sigma"])
        return res.indices[res.indices["mu_star"] > 0].head(k).reset_index()


def drivers(theory: str, *, trajectories: int = 20, candidates: int = 20000, days: float = 730.0,
            trial: str | Path | None = None, arm: str | None = None, calibration: str | Path | None = None,
            seed: int = 0, dt: float = 0.05, backend: str = "numba", executor: AbstractExecutor | None = None,
            directory: str | Path | None = None, resume: bool = False,
            progress: Callable[[str, int, int], None] | None = None) -> Drivers:
    """Sensitivity of becoming and staying ill, and the responders' box, of one theory.

    Parameters
    ----------
    theory
        A built-in theory name or a model file.
    trajectories
        Morris trajectories (runs: trajectories x (parameters + 1)).
    candidates
        Candidates the trial screens for the response box (0: skip the response).
    days
        Day the *staying ill* outcome is read (the stressor runs on days 60-240).
    trial, arm
        The trial file (default: the packaged example trial, run on `theory`) and its
        treatment arm (default: the first that is not the control).
    calibration
        A calibration file whose prior knobs set the priors of the sensitivity analysis.
    directory, resume
        Folder of the run stores (``sensitivity/`` and ``response/``) and whether to resume them.
    progress
        ``progress(analysis, rows done, rows planned)``.
    """
    from fitts.analysis.scenarios import patient_experiments
    from fitts.analysis.sensitivity import (
        problem,
        sample,
        sampled_parameters,
        sensitivity_from_outputs,
        to_parameters,
    )
    from fitts.compile.compiled import compile_model
    from fitts.spec.load import load_model, models_dir

    if trajectories < 2:
        raise ModelError(f"Morris needs at least 2 trajectories, got {trajectories}")
    from fitts.evaluate.calibrate import calibrated_theory, trial_calibration

    written = compile_model(load_model(theory))
    model, _, stale = calibrated_theory(written, calibration)
    names = sampled_parameters(model)
    notes: dict[str, str] = {}
    if stale:
        notes["calibration"] = "; ".join(stale)
    stores = Path(directory) if directory is not None else None
    cost = []

    def report(analysis: str) -> Callable[[int, int], None]:
        return lambda done, planned: progress(analysis, done, planned) if progress is not None else None

    # 1. becoming and staying ill: one Morris sample, two outcomes from the same runs
    prob = problem(model, names)
    X = sample("morris", prob, trajectories, seed)
    values = to_parameters(model, names, X)
    t0 = time.perf_counter()
    res = patient_experiments(model, pd.DataFrame(values), [o for _q, o in QUESTIONS], days=days, dt=dt, seed=seed,
                              backend=backend, executor=executor, resume=resume, progress=report("sensitivity"),
                              directory=None if stores is None else stores / "sensitivity")
    cost.append({"analysis": "sensitivity (Morris: becoming and staying ill)", "runs": len(X),
                 "seconds": time.perf_counter() - t0})
    sens: dict[str, Any] = {}
    for question, outcome in QUESTIONS:
        Y = res.outcomes[outcome].to_numpy(float)
        try:
            sens[question] = sensitivity_from_outputs("morris", prob, X, Y, outcome=outcome, seed=seed)
            sens[question].samples = pd.DataFrame({**values, "outcome": Y})
        except FittsError as exc:
            sens[question] = None
            notes[question] = str(exc).splitlines()[0]

    # 2. who responds to the example trial's treatment
    response = responses = None
    trial_path = Path(trial) if trial is not None else models_dir() / "trials" / "example.yaml"
    if candidates > 0:
        from fitts.trials.response import discover_response

        t0 = time.perf_counter()
        try:
            response, responses = discover_response(
                trial_path, candidates, theory=theory, arm=arm, backend=backend, executor=executor, resume=resume,
                directory=None if stores is None else stores / "response", progress=report("response"),
                calibration=trial_calibration(written, calibration))
        except ModelError as exc:
            notes["response"] = str(exc).splitlines()[0]
        cost.append({"analysis": "treatment response (candidates screened; both arms per recruit; PRIM)",
                     "runs": candidates,
                     "seconds": time.perf_counter() - t0})
    else:
        notes["response"] = "not run (no candidates)"
    settings = {"theory": model.spec.name, "model_hash": model.model_hash, "trajectories": trajectories,
                "parameters": len(names), "days": days, "dt": dt, "seed": seed, "candidates": candidates,
                "trial": str(trial_path), "arm": arm, "calibration": None if calibration is None else str(calibration),
                "calibrated_priors": sorted({k.split(":", 1)[1].rsplit(".", 1)[0] for k, _ in model.calibration})}
    return Drivers(model.spec.name, sens, response, responses, pd.DataFrame(cost), notes, settings)


def drivers_table(reports: Sequence[Drivers], k: int = 5) -> pd.DataFrame:
    """One row per theory, question and rank: the top `k` parameters with mu*, its 95 % half-width and sigma."""
    rows = []
    for r in reports:
        for question, _o in QUESTIONS:
            for rank, row in enumerate(r.top(question, k).itertuples(index=False), start=1):
                rows.append({"theory": r.theory, "question": question, "rank": rank, "parameter": row.parameter,
                             "mu_star": float(row.mu_star), "mu_star_conf": float(row.mu_star_conf),
                             "sigma": float(row.sigma)})
    return pd.DataFrame(rows, columns=["theory", "question", "rank", "parameter", "mu_star", "mu_star_conf",
                                       "sigma"])


def _box_text(d: Any) -> str:
    if d is None:
        return ""
    parts = []
    for b in d.box.itertuples(index=False):
        lo = f"{b.min:.3g}" if b.min > b.prior_low else None
        hi = f"{b.max:.3g}" if b.max < b.prior_high else None
        parts.append(f"{lo} ≤ `{b.parameter}` ≤ {hi}" if lo and hi else
                     f"`{b.parameter}` ≥ {lo}" if lo else f"`{b.parameter}` ≤ {hi}")
    return " and ".join(parts) or "(no restriction)"


def drivers_markdown(reports: Sequence[Drivers], k: int = 5, figures: Mapping[str, Mapping[str, str]] | None = None
                     ) -> str:
    """The README section: per theory, the top `k` parameters for becoming and staying ill and
    the responders' box, with the runs and wall time of each analysis."""
    lines = ["### What drives illness, per theory", "",
             "Generated by `fitts report drivers`. Morris screening over each theory's priors (mu*: mean absolute "
             "elementary effect on the share of patients, ± its 95 % half-width); becoming ill: ill on some day of "
             "the standard stressor scenario; staying ill: still ill at the end. The box is where patients who "
             "respond to the example trial's treatment are common (PRIM).", ""]
    for r in reports:
        s = r.settings
        lines += [f"#### {r.theory}", ""]
        if s.get("calibration"):
            lines += [f"Priors from the calibration `{Path(s['calibration']).name}` "
                      f"({len(s.get('calibrated_priors', []))} calibrated)"
                      + (" — stale: fitted to an earlier version of the theory." if "calibration" in r.notes
                         else "."), ""]
        lines += ["| rank | becoming ill | mu* | staying ill | mu* |", "|---|---|---|---|---|"]
        tops = {q: r.top(q, k) for q, _o in QUESTIONS}
        for i in range(k):
            cells = [str(i + 1)]
            for q, _o in QUESTIONS:
                t = tops[q]
                if i < len(t):
                    row = t.iloc[i]
                    cells += [f"`{row['parameter']}`", f"{row['mu_star']:.2f} ± {row['mu_star_conf']:.2f}"]
                else:
                    cells += ["", ""]
            lines.append("| " + " | ".join(cells) + " |")
        for q, _o in QUESTIONS:
            if q in r.notes:
                lines.append(f"\n{q}: {r.notes[q]}")
        lines.append("")
        if r.response is not None:
            d = r.response
            lines.append(f"Who responds to {d.settings.get('arm')} in the example trial ({d.settings.get('recruited')} "
                         f"recruits of {d.settings.get('candidates')} candidates, {d.base_rate:.0%} respond): "
                         f"{_box_text(d)} — coverage {d.coverage:.0%}, density {d.density:.0%}."
                         + (f" The trial ran without its {', '.join(d.settings['left_out'])} (not parameters of "
                            f"{r.theory})." if d.settings.get("left_out") else ""))
        else:
            lines.append(f"Who responds: {r.notes.get('response', 'not run')}.")
        lines.append("")
        cost = "; ".join(f"{c.analysis}: {int(c.runs)} runs, {c.seconds:.0f} s" for c in r.cost.itertuples())
        lines += [f"Runs: {cost}.", ""]
        for label, path in (figures or {}).get(r.theory, {}).items():
            lines.append(f"![{r.theory}: {label}]({path})")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


__all__ = ["QUESTIONS", "Drivers", "drivers", "drivers_markdown", "drivers_table"]
