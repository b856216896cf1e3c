"""Calibration: population-level parameters that bring a theory's scorecard to its targets.

What is estimated are *knobs*: hyperparameters of the theory's priors (``prior:NAME.FIELD``,
for example ``prior:w_threat_salience.median``) and intensities of the protocol's input
schedules (``protocol:everyday.1.rate_per_year``). Individual patients stay random draws
from the (re-parameterised) priors.

Common random numbers: every evaluation uses the same cohort seed, so the same uniforms
feed the parameter priors (a changed hyperparameter moves each patient's value along its
own quantile), the same life-event streams and the same noise. The loss is then a
deterministic function of the knobs, and CMA-ES (Hansen's ``cma`` package, the
well-kept reference implementation) can minimise it without being fooled by Monte-Carlo
noise.

The loss sums, over targets, the robust (Cauchy) term ``log(1 + d^2)`` where d is the
distance of the simulated statistic from the published value in units of half the
accept band (bounds count only when violated). A target a theory cannot express adds a
fixed penalty and stays reported as not expressible; a target the theory misses after
calibration stays a miss in its scorecard.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fitts.compile.compiled import CompiledModel
from fitts.errors import Location, ModelError, display_path
from fitts.io.results import atomic_path
from fitts.sim.quantiles import prior_ppf
from fitts.sim.rng import uniforms
from fitts.spec.yamlio import load_yaml_file

if TYPE_CHECKING:
    from fitts.trials.spec import TheoryCalibration

from .history_matching import Quantity, band_quantity, bound_quantity
from .protocol import Protocol, load_protocol
from .protocols import Outcome, relation_check
from .scorecard import Scorecard, evaluate
from .statistics import Estimate
from .targets import TargetSet, load_targets

FORMAT = "fitts-calibration/1"
NOT_EXPRESSIBLE_PENALTY = 3.0


class Knob(BaseModel):
    """One calibrated quantity and the range searched."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^(prior|protocol):.+\.[A-Za-z_]+$")
    range: tuple[float, float]
    value: float | None = None

    @property
    def kind(self) -> str:
        return self.name.split(":", 1)[0]

    @property
    def path(self) -> str:
        return self.name.split(":", 1)[1]


class CalibrationFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: str
    theory: str
    knobs: list[Knob] = Field(min_length=1)
    seed: int = 0
    patients: int | None = None
    loss: float | None = None
    evaluations: int | None = None
    model_hash: str | None = None
    targets: str | None = None
    scorecard: dict[str, Any] | None = None
    history: list[list[float]] | None = None
    history_matching: dict[str, Any] | None = None
    tensions: list[dict[str, Any]] | None = None


@dataclass
class Calibration:
    """Knob values of a theory (a calibration file or the knobs to search)."""

    theory: str
    knobs: list[Knob]
    seed: int = 0
    patients: int | None = None
    loss: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    # ------------------------------------------------------------------ application
    def values(self) -> dict[str, float]:
        """Knob name -> value (the middle of its range when not calibrated yet)."""
        return {k.name: (k.value if k.value is not None else 0.5 * (k.range[0] + k.range[1])) for k in self.knobs}

    def check(self, model: CompiledModel, protocol: Protocol) -> None:
        """Every knob must name a prior field of the model or a number in the protocol."""
        for k in self.knobs:
            if k.kind == "prior":
                model.prior_knob(k.path, 1.0)
            else:
                protocol.with_changes({k.path: 1.0})

    def apply(self, model: CompiledModel, protocol: Protocol, ids: np.ndarray, seed: int,
              values: Mapping[str, float] | None = None) -> tuple[dict[str, np.ndarray], Protocol]:
        """Per-patient parameter overrides and the adjusted protocol for these knob values.

        A prior knob re-maps each patient's own uniform through the changed prior, so the
        same patients keep their quantiles (common random numbers).
        """
        vals = dict(self.values())
        vals.update(values or {})
        params: dict[str, np.ndarray] = {}
        changes: dict[str, float] = {}
        per_param: dict[str, dict[str, float]] = {}
        for name, v in vals.items():
            kind, path = name.split(":", 1)
            if kind == "prior":
                pname, fld = path.rsplit(".", 1)
                per_param.setdefault(pname, {})[fld] = v
            else:
                changes[path] = v
        if per_param:
            u = uniforms(seed, np.asarray(ids, dtype=np.int64), "params", len(model.params))
            for pname, fields in per_param.items():
                prior = model.params[model.param_index[pname]].prior
                new = prior.model_copy(update=fields)
                params[pname] = prior_ppf(new, u[:, model.param_index[pname]])
        return params, (protocol.with_changes(changes) if changes else protocol)

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path, **extra: Any) -> Path:
        data = {"format": FORMAT, "theory": self.theory, "seed": self.seed, "patients": self.patients,
                "loss": self.loss, **self.extra, **extra,
                "knobs": [{"name": k.name, "range": list(k.range), "value": k.value} for k in self.knobs]}
        with atomic_path(path) as tmp:
            Path(tmp).write_text(yaml.safe_dump(data, sort_keys=False, width=110))
        return Path(path)


def load_calibration(path: str | Path) -> Calibration:
    """Read a calibration file (knobs to search, or a finished calibration)."""
    shown = display_path(Path(path))
    data = load_yaml_file(path)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ModelError(f"not a calibration file: expected `format: {FORMAT}`", Location(shown, 1),
                         "write `format: fitts-calibration/1`, `theory:` and a list of `knobs:`")
    try:
        f = CalibrationFile.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(map(str, err.get("loc", ())))
        raise ModelError(f"{where}: {err.get('msg')}", Location(shown, getattr(data, "line", 1)),
                         "knobs are {name: 'prior:PARAM.FIELD' or 'protocol:PATH', range: [lo, hi], "
                         "value: x}") from None
    for k in f.knobs:
        if not k.range[0] < k.range[1]:
            raise ModelError(f"knob {k.name!r}: range {list(k.range)} is empty", Location(shown, None, k.name),
                             "write range: [lo, hi] with lo < hi")
    extra = {k: v for k, v in data.items() if k in ("model_hash", "targets", "scorecard", "evaluations", "history",
                                                    "history_matching", "tensions")}
    extra["file"] = str(path)  # where it came from, for the records of what uses it
    return Calibration(f.theory, list(f.knobs), f.seed, f.patients, f.loss, extra)


def builtin_calibration(theory: str, parents: tuple[str, ...] = ()) -> Path | None:
    """The packaged calibration of a built-in theory, if it has one; for a variant (a model that
    includes built-in theories by name, `parents`), its first parent's."""
    from fitts.spec.load import models_dir

    for name in (theory, *parents):
        p = models_dir() / "calibration" / f"{name}.yaml"
        if p.exists():
            return p
    return None


# ---------------------------------------------------------------------- loss
def _term(x: float, lo: float, hi: float, centre: float | None) -> float:
    half = max((hi - lo) / 2.0, 1e-9)
    c = centre if centre is not None and lo <= centre <= hi else 0.5 * (lo + hi)
    d = (x - c) / half
    return math.log1p(d * d)


def target_loss(o: Outcome) -> float:
    """Contribution of one target to the calibration loss (see module docstring)."""
    if o.status == "not expressible":
        return NOT_EXPRESSIBLE_PENALTY
    t = o.target
    acc = t.accept
    if not acc.named:
        if o.estimate is None or not np.isfinite(o.estimate.value):
            return NOT_EXPRESSIBLE_PENALTY
        lo, hi = acc.band  # type: ignore[misc]
        return _term(o.estimate.value, lo, hi, t.value)
    total = 0.0
    for name, (lo, hi) in acc.bands.items():
        e = o.quantities.get(name)
        total += NOT_EXPRESSIBLE_PENALTY if e is None or not np.isfinite(e.value) else \
            _term(e.value, lo, hi, t.value if name == "exposed" else None)
    for key, b in acc.bounds.items():
        e = o.quantities.get(key[:-4])
        if e is None or not np.isfinite(e.value):
            total += NOT_EXPRESSIBLE_PENALTY
            continue
        short = (b - e.value) if key.endswith("_min") else (e.value - b)
        d = max(0.0, short) / max(abs(b), 1e-9) * 2.0
        total += math.log1p(d * d)
    for rel in acc.relations():  # a directional rule counts only when violated, by its relative shortfall
        try:
            _, diff, _, _ = relation_check(rel, o.quantities)
        except KeyError:
            total += NOT_EXPRESSIBLE_PENALTY
            continue
        if diff is None or not np.isfinite(diff.value):
            total += NOT_EXPRESSIBLE_PENALTY
            continue
        short = -diff.value if rel.op == ">" else diff.value
        sides = [abs(o.quantities[n].value) for n in rel.names() if n in o.quantities]
        d = max(0.0, short) / max(max(sides, default=0.0), 1e-9) * 2.0
        total += math.log1p(d * d)
    return total


def scorecard_loss(sc: Scorecard) -> float:
    return float(sum(target_loss(o) for o in sc.outcomes))


# ---------------------------------------------------------------------- emulated quantities
def target_quantities(targets: TargetSet) -> list[Quantity]:
    """The quantities history matching emulates for each target, with what each must match.

    A target with one accept band is one quantity named by its id; a named accept
    (``{exposed: [0.1, 0.3], ratio_min: 3}``) gives one quantity per band or bound,
    named ``ID:NAME``, and one per directional rule (the difference of its two sides,
    bounded by 0), named ``ID:RULE``.
    """
    out: list[Quantity] = []
    for t in targets:
        acc = t.accept
        if not acc.named:
            out.append(band_quantity(t.id, t.id, acc.band, t.value))  # type: ignore[arg-type]
            continue
        for name, band in acc.bands.items():
            out.append(band_quantity(f"{t.id}:{name}", t.id, band, t.value if name == "exposed" else None))
        for key, b in acc.bounds.items():
            out.append(bound_quantity(f"{t.id}:{key}", t.id, b, key[-3:]))
        for rel in acc.relations():  # a directional rule bounds the difference of its two sides by 0
            out.append(bound_quantity(f"{t.id}:{rel.text}", t.id, 0.0, "min" if rel.op == ">" else "max"))
    return out


def quantity_mc_scales(targets: TargetSet, protocol: Protocol, patients: int, full: int) -> dict[str, float]:
    """Factor from a run's Monte-Carlo variance at `patients` to the scorecard's at `full`, per quantity.

    Every study draws its people from the general cohort; most samples grow with it
    (variance ~ 1/cohort), but exposure cohorts and challenges of people who are not cases
    keep at most ``exposed_patients`` per arm, so their sample grows only up to that cap.
    """
    cap = protocol.cohort.exposed_patients
    out: dict[str, float] = {}
    for q in target_quantities(targets):
        t = targets[q.target]
        capped = (t.design in ("exposure_cohort", "challenge") and t.population != "fm"
                  and (t.exposure is not None or t.challenge is not None))
        out[q.name] = min(patients, cap) / min(full, cap) if capped else patients / full
    return out


def mc_variance(e: Estimate) -> float:
    """Monte-Carlo variance of a statistic from its 95 % bootstrap interval (NaN when it has none)."""
    if not (np.isfinite(e.low) and np.isfinite(e.high)):
        return float("nan")
    return float(((e.high - e.low) / (2 * 1.959964)) ** 2)


def scorecard_outputs(sc: Scorecard) -> dict[str, tuple[float, float]]:
    """Quantity name -> (simulated value, Monte-Carlo variance) of every expressed target."""
    out: dict[str, tuple[float, float]] = {}
    for o in sc.outcomes:
        if o.status == "not expressible":
            continue
        t = o.target
        if not t.accept.named:
            if o.estimate is not None:
                out[t.id] = (float(o.estimate.value), mc_variance(o.estimate))
            continue
        for key in [*t.accept.bands, *t.accept.bounds]:
            e = o.quantities.get(key[:-4] if key in t.accept.bounds else key)
            if e is not None:
                out[f"{t.id}:{key}"] = (float(e.value), mc_variance(e))
        for rel in t.accept.relations():
            if all(n in o.quantities for n in rel.names()):
                d = relation_check(rel, o.quantities)[1]
                assert d is not None
                out[f"{t.id}:{rel.text}"] = (float(d.value), mc_variance(d))
    return out


def synthetic_targets(model: CompiledModel, knobs: Calibration, targets: TargetSet | str | Path, *,
                      protocol: Protocol | str | Path | None = None, patients: int = 2000,
                      seed: int = 0) -> dict[str, Any]:
    """A target file whose values are what the theory gives at the knobs' values.

    The check of a calibration method that every user can run: calibrate against targets
    made by the theory itself at known knobs, and see whether the knobs come back (a
    known-answer or synthetic-data recovery test). Each single-band target of `targets`
    keeps its accept band's width, re-centred on the simulated value; targets with named
    bands, and those the theory cannot express, are left out.

    Returns
    -------
    dict
        Target-file data (``format: fitts-targets/1``), ready for ``yaml.safe_dump``.
    """
    ts = targets if isinstance(targets, TargetSet) else load_targets(targets)
    proto = protocol if isinstance(protocol, Protocol) else load_protocol(protocol)
    params, p2 = knobs.apply(model, proto, np.arange(patients), seed)
    sc = evaluate(model, ts, protocol=p2, patients=patients, seed=seed, params=params)
    got = scorecard_outputs(sc)
    out = []
    for t in ts:
        if t.accept.named or t.id not in got:
            continue
        lo, hi = t.accept.band  # type: ignore[misc]
        v = got[t.id][0]
        data = t.to_data()
        data.update(value=round(v, 6), accept=[round(v - (hi - lo) / 2, 6), round(v + (hi - lo) / 2, 6)])
        data.pop("interval", None)
        data["source"] = (f"synthetic: {model.spec.name} at "
                          + ", ".join(f"{k} = {x:g}" for k, x in knobs.values().items())
                          + f" ({patients} patients, seed {seed})")
        out.append(data)
    return {"format": "fitts-targets/1", "description": "Synthetic targets for a known-answer check",
            "targets": out}


# ---------------------------------------------------------------------- search
@dataclass
class CalibrationResult:
    calibration: Calibration
    scorecard: Scorecard
    history: list[tuple[list[float], float]]


def calibrate(model: CompiledModel, knobs: Calibration, targets: TargetSet | str | Path | None = None, *,
              protocol: Protocol | str | Path | None = None, patients: int = 1500, seed: int = 0,
              evaluations: int = 40, popsize: int = 6, sigma0: float = 0.25,
              progress: Callable[[int, float], None] | None = None) -> CalibrationResult:
    """Minimise the scorecard loss over the knobs with CMA-ES and common random numbers.

    A single knob is searched on an even grid of `evaluations` points instead (CMA-ES
    needs at least two dimensions).

    Parameters
    ----------
    knobs
        The knobs and their ranges; their current values (or range middles) start the search.
    patients
        General-cohort size of each evaluation (the same patients every time).
    evaluations
        Budget of scorecard evaluations (each simulates the whole protocol).
    progress
        Called after each evaluation with (evaluations done, best loss so far).
    """
    import cma

    ts = targets if isinstance(targets, TargetSet) else load_targets(targets)
    proto = protocol if isinstance(protocol, Protocol) else load_protocol(protocol)
    knobs.check(model, proto)
    ids = np.arange(patients)
    lo = np.array([k.range[0] for k in knobs.knobs])
    hi = np.array([k.range[1] for k in knobs.knobs])
    x0 = (np.array(list(knobs.values().values())) - lo) / (hi - lo)
    names = [k.name for k in knobs.knobs]
    history: list[tuple[list[float], float]] = []
    best: tuple[float, list[float] | None, Scorecard | None] = (math.inf, None, None)

    def run(values: list[float]) -> tuple[float, Scorecard]:
        params, p2 = knobs.apply(model, proto, ids, seed, dict(zip(names, values, strict=True)))
        sc = evaluate(model, ts, protocol=p2, patients=patients, seed=seed, params=params)
        return scorecard_loss(sc), sc

    def record(z: np.ndarray) -> float:
        nonlocal best
        values = (lo + np.clip(z, 0, 1) * (hi - lo)).tolist()  # the search works on the unit cube
        loss, sc = run(values)
        history.append((values, loss))
        if loss < best[0]:
            best = (loss, values, sc)
        if progress is not None:
            progress(len(history), best[0])
        return loss

    if len(names) == 1:  # CMA-ES needs two dimensions or more; one knob gets an even grid
        for z in np.linspace(0.0, 1.0, evaluations):
            record(np.array([z]))
    else:
        es = cma.CMAEvolutionStrategy(np.clip(x0, 0, 1).tolist(), sigma0,
                                      {"bounds": [0, 1], "popsize": popsize, "seed": seed + 1, "verbose": -9,
                                       "maxfevals": evaluations})
        while not es.stop() and len(history) < evaluations:
            zs = es.ask()
            es.tell(zs, [record(np.asarray(z)) for z in zs])
    assert best[1] is not None and best[2] is not None
    fitted = [k.model_copy(update={"value": float(v)}) for k, v in zip(knobs.knobs, best[1], strict=True)]
    cal = Calibration(model.spec.name, fitted, seed, patients, best[0])
    return CalibrationResult(cal, best[2], history)


def calibrated(model: CompiledModel, calibration: Calibration | str | Path | None, protocol: Protocol,
               patients: int, seed: int) -> tuple[dict[str, np.ndarray], Protocol]:
    """Parameter overrides and protocol of a calibration for a cohort of `patients` (ids 0..n-1)."""
    if calibration is None:
        return {}, protocol
    cal = calibration if isinstance(calibration, Calibration) else load_calibration(calibration)
    cal, _ = _for_model(cal, model, protocol)
    cal.check(model, protocol)
    return cal.apply(model, protocol, np.arange(patients), seed)


def _for_model(calibration: Calibration, model: CompiledModel, protocol: Protocol) -> tuple[Calibration, list[str]]:
    """The calibration as it applies to `model` (its own, or a parent's via :func:`for_variant`)
    and the knobs left out; another theory's calibration is refused."""
    if calibration.theory == model.spec.name:
        return calibration, []
    if calibration.theory not in model.spec.parents:
        raise ModelError(f"the calibration is for theory {calibration.theory!r}, not {model.spec.name!r}",
                         hint="pass the calibration file of this theory (or of a theory it includes by "
                              "name), or --no-calibration")
    return for_variant(calibration, model, protocol)


def calibrated_theory(model: CompiledModel, calibration: Calibration | str | Path | None,
                      protocol: Protocol | None = None) -> tuple[CompiledModel, Protocol, list[str]]:
    """A theory with a calibration applied: its priors and the study protocol's numbers set.

    Parameters
    ----------
    model
        The theory as written (a built-in theory, its variant, or a model file).
    calibration
        A :class:`Calibration`, a calibration file, the folder ``fitts calibrate`` wrote,
        or None (the theory and protocol unchanged).
    protocol
        The protocol whose numbers (everyday stressors, exposures) the calibration's
        ``protocol:`` knobs set (default: the built-in protocol).

    Returns
    -------
    (CompiledModel, Protocol, list of str)
        The calibrated model (see :meth:`CompiledModel.with_prior_knobs`: every patient
        keeps its draws, re-mapped through the calibrated priors, exactly as the
        calibration's own evaluations sampled them), the calibrated protocol, and notes
        for the user (a parent theory's calibration applied to a variant, a calibration
        fitted to an earlier version of the model).
    """
    protocol = protocol or load_protocol(None)
    if calibration is None:
        return model, protocol, []
    if not isinstance(calibration, Calibration):
        path = Path(calibration)
        calibration = load_calibration(path / "calibration.yaml" if path.is_dir() else path)
    notes = []
    if calibration.theory != model.spec.name:
        calibration, dropped = _for_model(calibration, model, protocol)
        notes.append(f"{model.spec.name} starts from the calibration of {calibration.extra['parent']} "
                     f"({len(calibration.knobs)} knobs apply"
                     + (f"; left out, no longer in the model: {', '.join(dropped)}" if dropped else "") + ")")
    elif note := stale_note(calibration, model):
        notes.append(note)
    calibration.check(model, protocol)
    values = calibration.values()
    changes = {name.split(":", 1)[1]: v for name, v in values.items() if name.startswith("protocol:")}
    return (model.with_prior_knobs(values.items()), protocol.with_changes(changes) if changes else protocol,
            notes)


def trial_calibration(model: CompiledModel, calibration: Calibration | str | Path | None,
                      applied: tuple[CompiledModel, Protocol] | None = None) -> TheoryCalibration | None:
    """A calibration of `model` as trials apply it (priors, and the built-in protocol's
    everyday stressors as calibrated); None without a calibration.

    `applied` is what :func:`calibrated_theory` already returned for this calibration (the
    calibrated model and protocol), so a caller that has it does not apply it twice.
    """
    from fitts.trials.spec import TheoryCalibration

    if calibration is None:
        return None
    calibrated, protocol = applied if applied is not None else calibrated_theory(model, calibration)[:2]
    source = (calibration.extra.get("file", f"calibration of {calibration.theory}")
              if isinstance(calibration, Calibration) else str(calibration))
    return TheoryCalibration(calibrated.calibration, tuple(protocol.everyday), source)


def for_variant(calibration: Calibration, model: CompiledModel, protocol: Protocol) -> tuple[Calibration, list[str]]:
    """A parent theory's calibration applied to a variant: the knobs that still exist, and the rest.

    A variant that includes a built-in theory by name (``includes: [{module: fitts}]``)
    starts from that theory's calibration; knobs whose parameter or protocol entry the
    variant removed are left out and named.

    Returns
    -------
    (Calibration, list of str)
        The calibration re-labelled for `model` with the applicable knobs, and the names of
        the knobs left out.
    """
    kept, dropped = [], []
    for k in calibration.knobs:
        try:
            if k.kind == "prior":
                model.prior_knob(k.path, 1.0)
            else:
                protocol.with_changes({k.path: 1.0})
        except ModelError:
            dropped.append(k.name)
        else:
            kept.append(k)
    extra = {**calibration.extra, "parent": calibration.theory, "dropped_knobs": dropped}
    return Calibration(model.spec.name, kept, calibration.seed, calibration.patients, calibration.loss, extra), dropped


def stale_note(calibration: Calibration, model: CompiledModel) -> str | None:
    """Why a finished calibration may no longer fit the model, or None when it does.

    A calibration records the hash of the model it was fitted to; after the theory changes,
    its knob values still apply by name but were not searched for this model.
    """
    made_for = calibration.extra.get("model_hash")
    if made_for is None or made_for == model.model_hash:
        return None
    return (f"the calibration was fitted to model hash {made_for}; {model.spec.name} is now "
            f"{model.model_hash}. Its knob values still apply, but re-run `fitts calibrate "
            f"{model.spec.name}` to fit this version")


def save_result(result: CalibrationResult, path: str | Path, model: CompiledModel, targets: str | None) -> Path:
    """Write a finished calibration (knob values, loss, scorecard at the optimum, search history)."""
    sc = result.scorecard
    card = {o.target.id: {"status": o.status,
                          "simulated": None if o.estimate is None else round(float(o.estimate.value), 4)}
            for o in sc.outcomes}
    return result.calibration.save(
        path, model_hash=model.model_hash, targets=targets, evaluations=len(result.history),
        scorecard={"passes": sc.passes, "of": len(sc.outcomes), "targets": card},
        history=[[*map(lambda v: round(v, 5), x), round(loss, 4)] for x, loss in result.history])
