"""Protocols: one function per study design, from a target to a simulated statistic.

Each design reads the target's groups, exposure or challenge and measure, runs the study
on the :class:`~fitts.evaluate.cohort.Cohort` and returns an :class:`Outcome`. What a
target says in words is read by a small documented grammar (see ``docs/targets.md``):

* ``of`` starting with *less*, *lower*, *fewer*, *reduced* or *smaller* flips a
  difference statistic to (comparator - group): "less inhibition in FM" is positive when
  patients inhibit less;
* a proportion of a continuous observation needs an event: ``NAME > 5`` (also ``>=``,
  ``<``, ``<=``), or ``below|above the 5th percentile of controls``; for a 0/1
  observation the event is 1, or 0 when ``of`` says *negative*;
* ``ever`` in ``of`` asks whether a 0/1 observation was ever 1 by the end of the cohort;
* a correlation ``with NAME`` pairs the observation with instrument NAME in the same
  patients.

A target the theory cannot express (a missing state, input, intervention or parameter)
becomes an outcome with status ``not expressible`` and the reason; it is never skipped.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from fitts.observe.instruments import INSTRUMENTS, expressible, measure
from fitts.sim.schedule import shift_component
from fitts.sim.simulate import Apply
from fitts.spec.schema import ClampAction, InterventionSpec, ScheduleComponent

from .cohort import Cohort
from .protocol import duration_days
from .statistics import TWO_SAMPLE, Estimate, estimate, proportion
from .targets import Exposure, Target

BINARY = frozenset({"acr2016_case", "ienfd_pathology"})
_FLIP = re.compile(r"^\s*(less|lower|fewer|reduced|smaller)\b", re.IGNORECASE)
_THRESHOLD = re.compile(r"(>=|<=|>|<)\s*(-?\d+(?:\.\d+)?)")
_PERCENTILE = re.compile(r"\b(below|above)\s+the\s+(\d+(?:\.\d+)?)(?:st|nd|rd|th)?\s+percentile\s+of\s+controls",
                         re.IGNORECASE)
_WITH = re.compile(r"\bwith\s+([A-Za-z_][A-Za-z0-9_-]*)", re.IGNORECASE)
#: short names used in the literature -> instrument names (any instrument name works as is)
_ALIASES = {"fiq": "fiqr", "nrs": "pain_nrs", "pain": "pain_nrs", "ppt": "pressure_pain_threshold",
            "rmssd": "hrv_rmssd", "hrv": "hrv_rmssd", "cpm": "cpm_effect", "scs": "self_compassion",
            "hads": "distress_scale"}


class NotExpressible(Exception):
    """The theory (or the protocol) cannot reproduce this target; the message says why."""


@dataclass
class Outcome:
    """The simulated side of one target.

    ``estimate`` is the statistic compared with a single accept band; ``quantities``
    holds every named quantity (for a named accept such as ``{exposed: [...], ratio_min: 3}``).
    """

    target: Target
    status: str  # pass | fail | inconclusive | not expressible
    estimate: Estimate | None = None
    quantities: dict[str, Estimate] = field(default_factory=dict)
    n: str = ""
    note: str = ""


# ---------------------------------------------------------------------- helpers
def _instrument(name: str, cohort: Cohort) -> str:
    key = _ALIASES.get(name.lower(), name.lower())
    if key not in INSTRUMENTS:
        raise NotExpressible(f"no instrument {name!r} (instruments: {', '.join(INSTRUMENTS)})")
    ok, reason = expressible(cohort.model.states, key)
    if not ok:  # the scorecard prints the status word itself
        raise NotExpressible(reason.removeprefix("not expressible: "))
    return key


def _group(cohort: Cohort, name: str) -> np.ndarray:
    try:
        return cohort.group(name)
    except KeyError:
        raise NotExpressible(f"population {name!r} is not a group the protocol defines "
                             "(general, fm, controls)") from None


def _need(mask: np.ndarray, what: str, minimum: int = 5) -> None:
    if int(mask.sum()) < minimum:
        raise NotExpressible(f"only {int(mask.sum())} {what} in the virtual cohort (need {minimum}); "
                             "the theory produces too few, or raise --patients")


def _flip(target: Target) -> bool:
    return bool(target.measure.of and _FLIP.match(target.measure.of))


def _ever(target: Target, obs: str) -> bool:
    """Whether the target asks if a 0/1 observation was *ever* 1 (by the end of the cohort)."""
    return obs in BINARY and re.search(r"\bever\b", target.measure.of or "") is not None


def _second_observation(target: Target, cohort: Cohort) -> str | None:
    """The instrument a correlation pairs with: ``with:``, or 'with NAME' in `of`."""
    m = _WITH.search(target.measure.of or "")
    name = target.measure.with_ or (m.group(1) if m else None)
    return None if name is None else _instrument(name, cohort)


def _event(target: Target, obs: str) -> Callable[[np.ndarray], np.ndarray]:
    """How a proportion without a control percentile counts: values -> 0/1."""
    of = target.measure.of or ""
    if obs in BINARY:
        if re.search(r"\bnegative\b", of, re.IGNORECASE):
            return lambda v: 1.0 - v
        return lambda v: v
    m = _THRESHOLD.search(of)
    if m:
        op, x = m.group(1), float(m.group(2))
        ops = {">": np.greater, ">=": np.greater_equal, "<": np.less, "<=": np.less_equal}
        return lambda v: ops[op](v, x).astype(float)
    raise NotExpressible(f"a proportion of the continuous observation {obs!r} needs an event in `of`, "
                         "e.g. 'psqi > 5' or 'below the 5th percentile of controls'")


def _percentile_stat(q: float, below: bool) -> Callable[..., np.ndarray]:
    def stat(x: np.ndarray, ctrl: np.ndarray, axis: int = -1) -> np.ndarray:
        cut = np.percentile(ctrl, q, axis=axis, keepdims=True)
        return np.mean(x < cut if below else x > cut, axis=axis)
    return stat


def _proportion(target: Target, obs: str, x: np.ndarray, ctrl: np.ndarray | None, seed: int, B: int) -> Estimate:
    m = _PERCENTILE.search(target.measure.of or "") if obs not in BINARY else None
    if m:
        if ctrl is None:
            raise NotExpressible("a percentile of controls needs a control group")
        return estimate(_percentile_stat(float(m.group(2)), m.group(1).lower() == "below"), x, ctrl,
                        resamples=B, seed=seed)
    return estimate(proportion, _event(target, obs)(x), resamples=B, seed=seed)


def _compare(target: Target, x: np.ndarray, y: np.ndarray, *, paired: bool, seed: int, B: int) -> Estimate:
    """A two-sample statistic of group x against comparator y, direction per `of`."""
    stat_name = target.measure.statistic
    if stat_name not in TWO_SAMPLE or stat_name == "correlation":
        raise NotExpressible(f"statistic {stat_name!r} does not compare two groups")
    stat = TWO_SAMPLE[stat_name]
    if _flip(target) and stat_name in ("hedges_g", "smd", "mean_difference"):
        return estimate(lambda a, b, axis=-1: stat(b, a, axis=axis), x, y, paired=paired, resamples=B, seed=seed)
    return estimate(stat, x, y, paired=paired, resamples=B, seed=seed)


def _correlation(target: Target, cohort: Cohort, obs: str, mask: np.ndarray, seed: int, B: int,
                 time: float | None = None) -> Estimate:
    other = _second_observation(target, cohort)
    if other is None:
        raise NotExpressible("a correlation needs a second observation: `with:` or 'with NAME' in `of`")
    x, y = cohort.values(obs, mask, time), cohort.values(other, mask, time)
    return estimate(TWO_SAMPLE["correlation"], x, y, paired=True, resamples=B, seed=seed)


def _exposure_components(cohort: Cohort, exp: Exposure, start: float) -> list[ScheduleComponent]:
    """Input components of an exposure (protocol definition of its kind), shifted to `start`."""
    if exp.input is not None and exp.input not in cohort.model.input_index:
        raise NotExpressible(f"the theory has no input {exp.input!r}")
    definition = cohort.protocol.exposure(exp.kind)
    if definition is None:
        if exp.kind is not None:
            raise NotExpressible(f"the protocol defines no exposure kind {exp.kind.split(':')[0]!r}; "
                                 "add it under `exposures:` of a protocol file (--protocol)")
        raise NotExpressible("an exposure needs a `kind` defined by the protocol")
    missing = sorted({c.input for c in definition.components} - set(cohort.model.inputs))
    if missing:
        raise NotExpressible(f"the exposure uses input(s) the theory lacks: {', '.join(missing)}")
    return [shift_component(c, start, None) for c in definition.components]


def _challenge(cohort: Cohort, exp: Exposure, days: float) -> tuple[list[Apply], list[ScheduleComponent]]:
    applies: list[Apply] = []
    comps: list[ScheduleComponent] = []
    if exp.clamp is not None:
        if exp.clamp.state not in cohort.model.state_index:
            raise NotExpressible(f"the theory has no state {exp.clamp.state!r} to clamp")
        try:
            level = cohort.protocol.level(exp.clamp.value)
        except KeyError as exc:
            raise NotExpressible(f"{exc.args[0]} (define it under `levels:` of the protocol)") from None
        spec = InterventionSpec(actions=[ClampAction(clamp=exp.clamp.state, value=level)])
        applies.append(Apply("challenge", 0.0, days, spec=spec))
    if exp.intervention is not None:
        if exp.intervention not in cohort.model.spec.interventions:
            raise NotExpressible(f"the theory has no intervention {exp.intervention!r}")
        applies.append(Apply(exp.intervention, 0.0, days))
    if exp.input is not None:
        comps += _exposure_components(cohort, exp, 0.0)
    if exp.predisposition is not None:
        raise NotExpressible("a predisposition cannot be applied as a challenge")
    return applies, comps


def _n(**groups: np.ndarray | int) -> str:
    return ", ".join(f"{k} {int(v.sum()) if isinstance(v, np.ndarray) else int(v)}" for k, v in groups.items())


# ---------------------------------------------------------------------- designs
def prevalence(t: Target, c: Cohort, seed: int, B: int) -> Outcome:
    obs = _instrument(t.measure.observation, c)
    mask = _group(c, t.population)
    _need(mask, f"patients in population {t.population!r}")
    if t.measure.statistic != "proportion":
        raise NotExpressible(f"a prevalence is a proportion, not {t.measure.statistic!r}")
    if _ever(t, obs):
        est = estimate(proportion, c.ever_case()[mask].astype(float), resamples=B, seed=seed)
    else:
        ctrl = c.values(obs, _group(c, "controls")) if _PERCENTILE.search(t.measure.of or "") else None
        est = _proportion(t, obs, c.values(obs, mask), ctrl, seed, B)
    return Outcome(t, "", est, n=_n(**{t.population: mask}))


def case_control(t: Target, c: Cohort, seed: int, B: int) -> Outcome:
    obs = _instrument(t.measure.observation, c)
    mask = _group(c, t.population)
    _need(mask, f"patients in population {t.population!r}")
    if t.exposure is not None and t.exposure.predisposition is not None:
        name = c.protocol.predispositions.get(t.exposure.predisposition, t.exposure.predisposition)
        if name not in c.model.param_index:
            raise NotExpressible(f"the theory has no parameter for predisposition {t.exposure.predisposition!r} "
                                 f"(looked for {name!r}; map it under `predispositions:` of the protocol)")
        trait = c.param(name)
        binary = set(np.unique(trait)) <= {0.0, 1.0}
        exposed = mask & (trait >= 0.5 if binary else trait > np.median(trait[mask]))
        unexposed = mask & ~exposed
        _need(exposed, "exposed patients")
        if _ever(t, obs):
            outcome = c.ever_case().astype(float)
            xe, xu = outcome[exposed], outcome[unexposed]
        else:
            xe, xu = c.values(obs, exposed), c.values(obs, unexposed)
        est = _compare(t, xe, xu, paired=False, seed=seed, B=B)
        return Outcome(t, "", est, n=_n(exposed=exposed, unexposed=unexposed),
                       note=f"predisposition {name!r} {'= 1' if binary else 'above its median'}")
    if t.measure.statistic == "correlation":
        return Outcome(t, "", _correlation(t, c, obs, mask, seed, B), n=_n(**{t.population: mask}))
    comparator = t.comparator if isinstance(t.comparator, str) else "controls"
    cmask = _group(c, comparator)
    _need(cmask, f"patients in comparator {comparator!r}")
    if t.measure.statistic == "proportion":
        est = _proportion(t, obs, c.values(obs, mask), c.values(obs, cmask), seed, B)
    else:
        est = _compare(t, c.values(obs, mask), c.values(obs, cmask), paired=False, seed=seed, B=B)
    return Outcome(t, "", est, n=_n(**{t.population: mask, comparator: cmask}))


def exposure_cohort(t: Target, c: Cohort, seed: int, B: int) -> Outcome:
    obs = _instrument(t.measure.observation, c)
    if t.exposure is None:
        raise NotExpressible("an exposure cohort needs an `exposure`")
    if obs not in BINARY or t.measure.statistic != "proportion":
        raise NotExpressible("an exposure cohort reports the incidence (proportion) of a 0/1 observation")
    at = duration_days(t.exposure.at, 0.0) or 0.0
    horizon = duration_days(t.measure.at, 365.25)
    if horizon is None:
        raise NotExpressible(f"cannot read the follow-up time {t.measure.at!r} (write e.g. '12 months')")
    base = _group(c, "controls") if t.population == "general" else _group(c, t.population)
    _need(base, "never-ill adults")
    limit = c.protocol.cohort.exposed_patients
    arms = {"exposed": t.exposure}
    if isinstance(t.comparator, Exposure):
        arms["comparator"] = t.comparator
    comps = {k: _exposure_components(c, e, at) for k, e in arms.items()}
    days = at + horizon
    incid: dict[str, np.ndarray] = {}
    for arm, schedule in comps.items():
        ds = c.follow(base, days=days, purpose=f"{t.id} exposure cohort", limit=limit, schedule=schedule)
        ok = np.asarray(ds.status.values) == 0
        incid[arm] = np.asarray(measure(ds, obs, time=days).values, dtype=float)[ok]
    q = {k: estimate(proportion, v, resamples=B, seed=seed) for k, v in incid.items()}
    if "comparator" in incid and len(incid["exposed"]) == len(incid["comparator"]):
        x, y = incid["exposed"], incid["comparator"]
        q["ratio"] = estimate(TWO_SAMPLE["ratio"], x, y, paired=True, resamples=B, seed=seed)
        q["difference"] = estimate(TWO_SAMPLE["mean_difference"], x, y, paired=True, resamples=B, seed=seed)
    note = f"incidence {horizon:g} days after exposure in never-ill adults"
    return Outcome(t, "", q["exposed"], q, n=_n(per_arm=len(incid["exposed"])), note=note)


def challenge(t: Target, c: Cohort, seed: int, B: int) -> Outcome:
    obs = _instrument(t.measure.observation, c)
    mask = _group(c, t.population)
    _need(mask, f"patients in population {t.population!r}")
    if t.challenge is None:  # a lab measurement compared between groups (no manipulation)
        return case_control(t, c, seed, B)
    days = duration_days(t.challenge.for_, 1.0) or 1.0
    applies, comps = _challenge(c, t.challenge, days)
    step = 0.25 if days < 7 else 1.0
    limit = c.protocol.cohort.exposed_patients
    purpose = f"{t.id} challenge"
    got = {}
    for arm, (a, s) in {"challenged": (applies, comps), "unchallenged": ([], [])}.items():
        ds = c.follow(mask, days=days, purpose=purpose, limit=limit, schedule=s, interventions=a,
                      record_every=step)
        got[arm] = np.asarray(measure(ds, obs, time=days).values, dtype=float)
    est = _compare(t, got["challenged"], got["unchallenged"], paired=True, seed=seed, B=B)
    return Outcome(t, "", est, n=_n(per_arm=len(got["challenged"])),
                   note=f"same patients challenged and not (common random numbers); measured at {days:g} d")


def follow_up(t: Target, c: Cohort, seed: int, B: int) -> Outcome:
    obs = _instrument(t.measure.observation, c)
    mask = _group(c, t.population)
    _need(mask, f"patients in population {t.population!r}")
    later = c.t0 + (duration_days(t.measure.at, None) or c.protocol.cohort.follow_up_years * 365.25)
    end = float(c.ds.time.values[-1])
    if later > end + c.protocol.cohort.record_every:
        raise NotExpressible(f"follow-up at {later - c.t0:g} days needs a longer cohort: raise "
                             "`cohort.follow_up_years` in the protocol")
    if t.measure.statistic != "proportion":
        est = _compare(t, c.values(obs, mask, later), c.values(obs, mask), paired=True, seed=seed, B=B)
    else:
        est = _proportion(t, obs, c.values(obs, mask, later), None, seed, B)
    return Outcome(t, "", est, n=_n(**{t.population: mask}),
                   note=f"re-observed {(later - c.t0) / 365.25:.2g} years after t0")


def diary(t: Target, c: Cohort, seed: int, B: int) -> Outcome:
    obs = _instrument(t.measure.observation, c)
    other = _second_observation(t, c)
    if other is None or t.measure.statistic != "correlation":
        raise NotExpressible("a diary target is a within-person correlation: give `statistic: correlation` and "
                             "`with: OBSERVATION` (and optionally `lag: DAYS`)")
    mask = _group(c, t.population)
    _need(mask, f"patients in population {t.population!r}")
    days = duration_days(t.exposure.for_ if t.exposure else None, 28.0) or 28.0
    ds = c.follow(mask, days=days, purpose=f"{t.id} diary", limit=c.protocol.cohort.diary_patients,
                  record_every=1.0)
    x = np.asarray(measure(ds, obs).values, dtype=float)[:, 1:]
    y = np.asarray(measure(ds, other).values, dtype=float)[:, 1:]
    lag = t.measure.lag or 0
    if lag:
        x, y = x[:, lag:], y[:, :-lag]
    # within-person: centre on each person's mean, then correlate the pooled deviations; the
    # per-person sums of products are what a resample of persons adds up
    xc = x - x.mean(axis=1, keepdims=True)
    yc = y - y.mean(axis=1, keepdims=True)

    def within(xy: np.ndarray, xx: np.ndarray, yy: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.sum(xy, axis=axis) / np.sqrt(np.sum(xx, axis=axis) * np.sum(yy, axis=axis))

    est = estimate(within, (xc * yc).sum(axis=1), (xc * xc).sum(axis=1), (yc * yc).sum(axis=1), paired=True,
                   resamples=B, seed=seed)
    return Outcome(t, "", est, n=_n(patients=len(xc)),
                   note=f"within-person correlation over {days:g} daily reports, lag {lag} d ({other} leads)")


def trial(t: Target, c: Cohort, seed: int, B: int) -> Outcome:
    obs = _instrument(t.measure.observation, c)
    if t.exposure is None or t.exposure.intervention is None:
        raise NotExpressible("a trial target needs `exposure: {intervention: NAME, for: DURATION}`")
    mask = _group(c, t.population)
    _need(mask, f"patients in population {t.population!r}")
    if t.measure.statistic == "proportion":
        raise NotExpressible("responder proportions are not yet read from target files; use a difference statistic")
    days = duration_days(t.exposure.for_, None) or duration_days(t.measure.at, 84.0) or 84.0
    arms = {"treated": t.exposure, "comparator": t.comparator if isinstance(t.comparator, Exposure) else None}
    change = {}
    for arm, exp in arms.items():
        applies, comps = _challenge(c, exp, days) if exp is not None else ([], [])
        ds = c.follow(mask, days=days, purpose=f"{t.id} trial", limit=c.protocol.cohort.exposed_patients,
                      schedule=comps, interventions=applies)
        v = np.asarray(measure(ds, obs, time=[0.0, float(ds.time.values[-1])]).values, dtype=float)
        change[arm] = v[:, 1] - v[:, 0]
    est = _compare(t, change["treated"], change["comparator"], paired=True, seed=seed, B=B)
    return Outcome(t, "", est, n=_n(per_arm=len(change["treated"])), note=f"change over {days:g} days")


DESIGNS: dict[str, Callable[[Target, Cohort, int, int], Outcome]] = {
    "prevalence": prevalence, "case_control": case_control, "exposure_cohort": exposure_cohort,
    "challenge": challenge, "follow_up": follow_up, "diary": diary, "trial": trial,
}


def run_target(target: Target, cohort: Cohort, *, seed: int = 0, resamples: int | None = None) -> Outcome:
    """Run one target's protocol on a cohort and judge it against its accept band(s)."""
    B = resamples or cohort.protocol.cohort.bootstrap
    try:
        out = DESIGNS[target.design](target, cohort, seed, B)
    except NotExpressible as exc:
        return Outcome(target, "not expressible", note=str(exc))
    acc = target.accept
    if acc.named:
        missing = [q for q in acc.quantities() if q not in out.quantities]
        if missing:
            return Outcome(target, "not expressible", out.estimate, out.quantities, out.n,
                           f"the protocol does not compute {', '.join(missing)} for this design")
        checks = [(name, out.quantities[name], band, None) for name, band in acc.bands.items()]
        checks += [(key[:-4], out.quantities[key[:-4]], None, (key[-3:], b)) for key, b in acc.bounds.items()]
    else:
        checks = [(None, out.estimate, acc.band, None)]
    out.status, why = verdict(checks)
    if out.status == "inconclusive":
        n = len(cohort.ids)
        out.note = "; ".join(filter(None, [out.note, why + resolve_hint(checks, n)]))
    return out


Check = tuple[str | None, Estimate | None, tuple[float, float] | None, tuple[str, float] | None]


def _edges(band: tuple[float, float] | None, bound: tuple[str, float] | None) -> list[float]:
    return list(band) if band is not None else [bound[1]]  # type: ignore[index]


def _inside(x: float, band: tuple[float, float] | None, bound: tuple[str, float] | None) -> bool:
    if band is not None:
        return band[0] <= x <= band[1]
    kind, b = bound  # type: ignore[misc]
    return x >= b if kind == "min" else x <= b


def verdict(checks: list[Check]) -> tuple[str, str]:
    """pass, fail or inconclusive for a target's checks, and why when inconclusive.

    A check whose Monte-Carlo interval lies wholly on one side of every edge of its band
    (or bound) is decided by its value; one whose interval contains an edge cannot be
    decided at this cohort size. A target fails when any check clearly fails, is
    inconclusive when none fails but one is undecided, and passes otherwise.
    """
    undecided = []
    failed = False
    for name, e, band, bound in checks:
        if e is None or not np.isfinite(e.value):
            failed = True
            continue
        straddled = [x for x in _edges(band, bound)
                     if np.isfinite(e.low) and np.isfinite(e.high) and e.low < x < e.high]
        if straddled:
            undecided.append(f"{name + ' ' if name else ''}Monte-Carlo interval [{e.low:.3g}, {e.high:.3g}] "
                             f"contains the edge {straddled[0]:g}")
        elif not _inside(e.value, band, bound):
            failed = True
    if failed:
        return "fail", ""
    if undecided:
        return "inconclusive", "; ".join(undecided)
    return "pass", ""


def resolve_hint(checks: list[Check], patients: int) -> str:
    """How many general-cohort patients would shrink the undecided intervals off their edges.

    Intervals narrow as 1/sqrt(n): an interval of half width h around a value at distance
    d from the edge needs about n (h/d)^2 patients.
    """
    need = 0.0
    for _, e, band, bound in checks:
        if e is None or not (np.isfinite(e.low) and np.isfinite(e.high)):
            continue
        for x in _edges(band, bound):
            if e.low < x < e.high:
                d = abs(e.value - x)
                if d < 1e-12:
                    return "; the value sits on the edge, so no cohort size decides it"
                need = max(need, patients * ((e.high - e.low) / 2 / d) ** 2 * 1.2)
    if need <= 0:
        return ""
    return f"; about --patients {int(min(math.ceil(need / 100 - 1e-6) * 100, 1e8))} would decide it"
