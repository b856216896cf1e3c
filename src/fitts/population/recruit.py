"""Recruit like a study does: simulate candidates, keep those with the wanted status.

Candidates are drawn from a population (:mod:`fitts.population.sample`) and live
``run_in_days`` of everyday life (the stressors of a protocol file); at the end of that
run-in they are screened:

- ``all``: every candidate whose simulation did not fail;
- ``cases``: ACR 2016 positive at the end of the run-in (a clinic's fibromyalgia cases;
  the instrument's 3-month persistence rule reads the last 90 days);
- ``controls``: never met the ACR 2016 criteria during the run-in (never-ill controls).

The acceptance rate (accepted / screened) is what a recruiting study would report as
its screening yield. Candidates are screened in id order, so the first n accepted are
the same whatever the chunk size or executor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import TypeAdapter, ValidationError

from fitts.compile.compiled import CompiledModel
from fitts.errors import Location, ModelError, display_path
from fitts.observe.instruments import expressible, measure
from fitts.sim.simulate import simulate
from fitts.spec.schema import ScheduleComponent
from fitts.spec.yamlio import load_yaml_file

from .sample import PopulationSpec, population_overrides

RULES = ("all", "cases", "controls")
CASE_INSTRUMENT = "acr2016_case"


def everyday_schedule(source: str | Path = "default") -> list[ScheduleComponent]:
    """The ``everyday`` stressors of a protocol file (``default``: the built-in protocol)."""
    from fitts.spec.load import models_dir

    path = models_dir() / "protocols" / "default.yaml" if str(source) == "default" else Path(source)
    if not path.exists():
        raise ModelError(f"protocol file {display_path(path)!r} does not exist",
                         hint="give `default` or the path of a protocol file with an `everyday:` list")
    data = load_yaml_file(path)
    items = data.get("everyday", []) if isinstance(data, dict) else []
    adapter: TypeAdapter[ScheduleComponent] = TypeAdapter(ScheduleComponent)
    try:
        return [adapter.validate_python(dict(item)) for item in items]
    except (ValidationError, TypeError) as exc:
        raise ModelError(f"everyday stressors of {display_path(path)}: {exc}", Location(display_path(path))) from None


@dataclass(frozen=True)
class Recruitment:
    """How candidates are screened.

    Attributes
    ----------
    rule
        ``all``, ``cases`` or ``controls`` (see the module docstring).
    run_in_days
        Days of everyday life simulated before screening (a multiple of `record_every`).
    dt, record_every
        Integration step and recording interval of the run-in, days.
    everyday
        Input components every candidate lives with during the run-in.
    """

    rule: str = "all"
    run_in_days: float = 364.0
    dt: float = 0.05
    record_every: float = 7.0
    everyday: tuple[ScheduleComponent, ...] = field(default_factory=tuple)

    def check(self, model: CompiledModel) -> None:
        if self.rule not in RULES:
            raise ModelError(f"unknown recruitment rule {self.rule!r}", hint="rules: " + ", ".join(RULES))
        if self.rule != "all":
            ok, reason = expressible(model.states, CASE_INSTRUMENT)
            if not ok:
                raise ModelError(f"recruiting {self.rule} needs ACR 2016 case status, which {model.spec.name!r} "
                                 f"cannot measure: {reason}", hint="recruit `all` instead")
        if self.run_in_days <= 0 or self.record_every <= 0 or self.dt <= 0:
            raise ModelError("run-in days, dt and record_every must be > 0")
        weeks = self.run_in_days / self.record_every
        if self.rule != "all" and abs(weeks - round(weeks)) > 1e-9:
            raise ModelError(f"the run-in ({self.run_in_days:g} days) must be a whole number of recording "
                             f"intervals ({self.record_every:g} days) to screen {self.rule}",
                             hint=f"for example {round(weeks) * self.record_every:g} days")


@dataclass
class Screened:
    """Candidates of one chunk after the run-in.

    Attributes
    ----------
    patient, accepted, status
        Candidate ids, whether each was recruited, simulation status (0 ok), shape (n,).
    params
        Full parameter table of the accepted candidates, shape (n_accepted, n_params).
    states
        Their states at the end of the run-in, shape (n_accepted, n_states).
    fail_day, fail_state
        For the candidates whose run-in failed (``status != 0``, in id order): the day of
        the failure and the state that diverged, shape (n_failed,).
    """

    @property
    def failed(self) -> np.ndarray:
        """Ids of the candidates whose run-in failed (NaN, divergence)."""
        return self.patient[self.status != 0]

    patient: np.ndarray
    accepted: np.ndarray
    status: np.ndarray
    params: np.ndarray
    states: np.ndarray
    fail_day: np.ndarray = field(default_factory=lambda: np.empty(0))
    fail_state: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=str))

    @property
    def ids(self) -> np.ndarray:
        """Ids of the accepted candidates."""
        return self.patient[self.accepted]


def screen(model: CompiledModel, ids: np.ndarray, *, seed: int, population: PopulationSpec | None,
           recruitment: Recruitment, backend: str = "numba",
           progress: Callable[[float], None] | None = None) -> Screened:
    """Simulate the run-in of candidates `ids` and apply the recruitment rule.

    A candidate's result depends only on (model, seed, population, recruitment, id).
    """
    ids = np.asarray(ids, dtype=np.int64)
    r = recruitment
    grid = r.rule != "all"
    ds = simulate(model, patients=ids, days=r.run_in_days, dt=r.dt, seed=seed, schedule=list(r.everyday),
                  params=population_overrides(model, population, ids, seed), backend=backend,  # type: ignore[arg-type]
                  record="grid" if grid else "summary", record_every=r.record_every if grid else r.run_in_days,
                  throw=False, progress=progress, command="fitts recruit")
    status = np.asarray(ds.status.values)
    ok = status == 0
    if grid:
        case = np.asarray(measure(ds, CASE_INSTRUMENT).values) == 1
        accepted = ok & (case[:, -1] if r.rule == "cases" else ~case.any(axis=1))
        final = np.asarray(ds.trajectory.values[:, -1, :])
    else:
        accepted = ok
        final = np.asarray(ds["final"].values)
    bad = np.flatnonzero(~ok)
    steps = np.asarray(ds.fail_step.values)[bad]
    fail_day = np.where(steps >= 0, steps * r.dt, np.nan)
    fail_state = np.array([model.states[i] if i >= 0 else "" for i in np.asarray(ds.fail_state.values)[bad]],
                          dtype=str)
    return Screened(ids, accepted, status, np.asarray(ds.params.values)[accepted], final[accepted],
                    fail_day, fail_state)


def describe_failures(patient: np.ndarray, day: np.ndarray, state: np.ndarray, limit: int = 5) -> str:
    """``patient 12 at day 3.5 in state 'pain'; ...`` for the first `limit` failed candidates."""
    rows = [f"patient {int(p)} at day {d:.4g} in state {str(s)!r}" if s else f"patient {int(p)}"
            for p, d, s in zip(patient[:limit], day[:limit], state[:limit], strict=True)]
    more = f" (and {len(patient) - limit} more)" if len(patient) > limit else ""
    return "; ".join(rows) + more


@dataclass
class Recruited:
    """The result of :func:`recruit`.

    Attributes
    ----------
    table
        One row per recruited patient: ``patient``, the sampled parameters, and the
        states at recruitment (columns ``state.NODE``).
    screened
        Candidates screened to recruit them (ids 0 .. screened-1).
    """

    table: pd.DataFrame
    screened: int

    @property
    def acceptance_rate(self) -> float:
        """Recruited / screened."""
        return len(self.table) / self.screened if self.screened else float("nan")


def recruited_table(model: CompiledModel, ids: np.ndarray, params: np.ndarray, states: np.ndarray) -> pd.DataFrame:
    """Per-patient table of recruits: ``patient``, sampled parameters, ``state.NODE``."""
    cols: dict[str, np.ndarray] = {"patient": np.asarray(ids, dtype=np.int64)}
    for k, row in enumerate(model.params):
        if row.kind == "prior":
            cols[row.name] = params[:, k]
    for i, s in enumerate(model.states):
        cols[f"state.{s}"] = states[:, i]
    return pd.DataFrame(cols)


def recruit(model: CompiledModel, patients: int, *, seed: int = 0, population: PopulationSpec | None = None,
            recruitment: Recruitment | None = None, chunk_size: int = 4096, max_screened: int | None = None,
            backend: str = "numba") -> Recruited:
    """Screen candidates in id order until `patients` are recruited (in this process).

    For large or parallel runs use :func:`fitts.run.run_population`, which gives the same
    patients. Raises ModelError when `max_screened` candidates (default 1000 x patients)
    do not yield enough recruits.
    """
    r = recruitment or Recruitment()
    r.check(model)
    limit = max_screened or 1000 * patients
    parts: list[Screened] = []
    n_acc, start = 0, 0
    while n_acc < patients:
        if start >= limit:
            fp, fd, fs = (np.concatenate(x) if parts else np.empty(0) for x in
                          ([q.failed for q in parts], [q.fail_day for q in parts], [q.fail_state for q in parts]))
            raise not_enough(n_acc, patients, start, r.rule, describe_failures(fp, fd, fs), len(fp))
        ids = np.arange(start, min(start + chunk_size, limit))
        s = screen(model, ids, seed=seed, population=population, recruitment=r, backend=backend)
        parts.append(s)
        n_acc += int(s.accepted.sum())
        start = int(ids[-1]) + 1
    ids = np.concatenate([p.ids for p in parts])[:patients]
    params = np.concatenate([p.params for p in parts])[:patients]
    states = np.concatenate([p.states for p in parts])[:patients]
    return Recruited(recruited_table(model, ids, params, states), int(ids[-1]) + 1)


def not_enough(accepted: int, wanted: int, screened: int, rule: str, failures: str = "",
               n_failed: int = 0) -> ModelError:
    """The error of a recruitment that screened its limit without enough recruits (naming the
    candidates whose run-in failed, if any: `n_failed` of them, described by `failures`)."""
    failed = (f"; {n_failed} candidate(s) failed during the run-in and were replaced by the next ids: "
              f"{failures}") if n_failed else ""
    return ModelError(f"recruited only {accepted} of {wanted} {rule} after screening {screened} candidates "
                      f"(acceptance rate {accepted / max(screened, 1):.2%}){failed}",
                      hint="recruit fewer patients, raise the screening limit (--max-screened), lengthen the "
                           "run-in or raise predisposition prevalences"
                           + ("; for failing candidates try a smaller --dt or check the model's rates"
                              if n_failed else ""))


def describe(rule: str, screened: int, accepted: int) -> str:
    """One line on a recruitment: rule, recruited / screened and the acceptance rate."""
    return (f"recruited {accepted} {rule} of {screened} candidates screened "
            f"(acceptance rate {accepted / max(screened, 1):.2%})")

