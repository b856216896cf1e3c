"""Protocols: one function per study design, from a target to a simulated statistic.

Each design reads the target's groups, exposure or challenge and measure, runs the study
on the :class:`~fitts.evaluate.cohort.Cohort` and returns an :class:`Outcome`. What a
target says in words (``measure.of``, ``measure.at``, durations) is read completely by
:mod:`fitts.evaluate.phrases`; each design then honours the phrases it can (events,
horizons, visits, responders, flares, reactivity, precedence, ...) and refuses the
others, and a field the design would not read is refused too (:func:`run_target`).

A target the theory cannot express (a missing state, input, intervention or parameter),
or whose words cannot be read, becomes an outcome with status ``not expressible`` and
the reason; it is never skipped, and never scored as a different quantity.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from fitts.observe.instruments import INSTRUMENTS, combination, expressible, measure
from fitts.sim.schedule import shift_component
from fitts.sim.simulate import Apply
from fitts.spec.schema import ClampAction, InterventionSpec, ScheduleComponent

from .cohort import Cohort
from .phrases import ALIASES, NotExpressible, Reading, read_at, read_duration, read_of
from .statistics import (
    TWO_SAMPLE,
    Estimate,
    cross_lagged,
    cross_lagged_difference,
    estimate,
    lagged_sums,
    mean,
    proportion,
)
from .targets import Exposure, Relation, Target
from .treatments import missing_intervention

BINARY = frozenset({"acr2016_case", "ienfd_pathology"})
__all__ = ["NotExpressible", "Outcome", "run_target", "verdict", "resolve_hint", "DESIGNS"]


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
    key = ALIASES.get(name.lower(), name.lower())
    if key not in INSTRUMENTS:
        raise NotExpressible(f"no instrument {name!r} (instruments: {', '.join(INSTRUMENTS)})")
    ok, reason = expressible(cohort.model.states, key)
    if not ok:  # the scorecard prints the status word itself
        raise NotExpressible(reason.removeprefix("not expressible: "))
    return key


def _observation(t: Target, c: Cohort) -> str:
    """The target's observation: a built-in instrument, or the combination of states it states (`reads`)."""
    m = t.measure
    if m.reads is None:
        if m.observation.lower() not in INSTRUMENTS and m.observation.lower() not in ALIASES:
            raise NotExpressible(f"no instrument {m.observation!r} (instruments: {', '.join(INSTRUMENTS)}); a "
                                 "questionnaire the theory has no instrument for can be read as a stated combination "
                                 "of states: `reads: {state: weight, ...}` in `measure`")
        return _instrument(m.observation, c)
    if m.observation in INSTRUMENTS:
        raise NotExpressible(f"{m.observation!r} is a built-in instrument; give the stated combination a name of "
                             "its own")
    missing = [s for s in m.reads if s not in c.model.state_index]
    if missing:
        raise NotExpressible(f"{m.observation!r} reads state(s) {', '.join(map(repr, missing))} that the theory "
                             f"does not have (states: {', '.join(c.model.states)})")
    c.custom[m.observation] = combination(m.observation, m.reads, m.noise or 0.0)
    return m.observation


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


def _ever(r: Reading, obs: str) -> bool:
    """Whether the target asks if a 0/1 observation was *ever* 1 (by the end of the cohort)."""
    if r.ever and obs not in BINARY:
        raise NotExpressible(f"'ever' asks whether a 0/1 observation was ever 1; {obs!r} is continuous "
                             "(give an event such as 'PSQI > 5')")
    return r.ever


def _second_observation(target: Target, r: Reading, cohort: Cohort) -> str | None:
    """The instrument a correlation pairs with: ``with:``, or 'with NAME' in `of`."""
    if target.measure.with_ and r.with_ and ALIASES.get(r.with_, r.with_) != target.measure.with_:
        raise NotExpressible(f"`with: {target.measure.with_}` and 'with {r.with_}' in `of` name different "
                             "observations")
    name = target.measure.with_ or r.with_
    return None if name is None else _instrument(name, cohort)


def _event(r: Reading, obs: str) -> Callable[[np.ndarray], np.ndarray]:
    """How a proportion without a control percentile counts: values -> 0/1."""
    if obs in BINARY:
        if r.event is not None:
            raise NotExpressible(f"{obs!r} is already 0/1; a threshold on it is not an event of its own")
        if r.negative:
            return lambda v: 1.0 - v
        return lambda v: v
    if r.event is not None:
        op, x = r.event
        ops = {">": np.greater, ">=": np.greater_equal, "<": np.less, "<=": np.less_equal}
        return lambda v: ops[op](v, x).astype(float)
    if r.negative is not None:
        raise NotExpressible(f"'negative'/'positive' counts a 0/1 observation; {obs!r} is continuous")
    raise NotExpressible(f"a proportion of the continuous observation {obs!r} needs an event in `of`, "
                         "e.g. 'psqi > 5' or 'below the 5th percentile of controls'")


def _percentile_stat(q: float, below: bool) -> Callable[..., np.ndarray]:
    def stat(x: np.ndarray, ctrl: np.ndarray, axis: int = -1) -> np.ndarray:
        cut = np.percentile(ctrl, q, axis=axis, keepdims=True)
        return np.mean(x < cut if below else x > cut, axis=axis)
    return stat


def _proportion(r: Reading, obs: str, x: np.ndarray, ctrl: np.ndarray | None, seed: int, B: int) -> Estimate:
    if r.percentile is not None:
        if obs in BINARY:
            raise NotExpressible(f"a percentile of controls needs a continuous observation, not {obs!r}")
        if ctrl is None:
            raise NotExpressible("a percentile of controls needs a control group")
        below, q = r.percentile
        return estimate(_percentile_stat(q, below), x, ctrl, resamples=B, seed=seed)
    return estimate(proportion, _event(r, obs)(x), resamples=B, seed=seed)


def _binary(x: np.ndarray) -> bool:
    return bool(np.all((x == 0) | (x == 1)))


def _compare(target: Target, r: Reading, x: np.ndarray, y: np.ndarray, *, paired: bool, seed: int,
             B: int) -> Estimate:
    """A two-sample statistic of group x against comparator y, direction per `of`.

    A leading direction word flips a difference statistic (comparator - group); a
    comparison written comparator first ("placebo minus drug") swaps the samples of any
    comparative statistic. An odds ratio needs a 0/1 event per person on both sides.
    """
    stat_name = target.measure.statistic
    if stat_name not in TWO_SAMPLE or stat_name == "correlation":
        raise NotExpressible(f"statistic {stat_name!r} does not compare two groups")
    if stat_name in ("odds_ratio", "nnt") and not (_binary(x) and _binary(y)):
        raise NotExpressible(f"{stat_name!r} compares a 0/1 event between groups, and this observation is not "
                             "0/1 here; say the event in `of` (e.g. 'PSQI > 5', '>= 30 % pain reduction')")
    stat = TWO_SAMPLE[stat_name]
    swap = r.reversed != (r.flip and stat_name in ("hedges_g", "smd", "mean_difference"))
    if swap:
        return estimate(lambda a, b, axis=-1: stat(b, a, axis=axis), x, y, paired=paired, resamples=B, seed=seed)
    return estimate(stat, x, y, paired=paired, resamples=B, seed=seed)


def _correlation(target: Target, r: Reading, cohort: Cohort, obs: str, mask: np.ndarray, seed: int, B: int,
                 time: float | None = None) -> Estimate:
    other = _second_observation(target, r, cohort)
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
            raise NotExpressible(missing_intervention(cohort.model, exp.intervention))
        applies.append(Apply(exp.intervention, 0.0, days))
    if exp.input is not None:
        comps += _exposure_components(cohort, exp, 0.0)
    if exp.predisposition is not None:
        raise NotExpressible("a predisposition cannot be applied as a challenge")
    return applies, comps


def _options(r: Reading, obs: str) -> dict[str, float]:
    """Instrument options the words set: the stimulus intensity of an evoked-pain rating."""
    if r.stimulus is None:
        return {}
    if "pressure" not in INSTRUMENTS[obs].options:
        raise NotExpressible(f"a stimulus of fixed intensity ({r.stimulus:g} kg/cm2) is rated by evoked_pain_nrs; "
                             f"{obs!r} takes no stimulus")
    return {"pressure": r.stimulus}


def _sex(c: Cohort) -> np.ndarray:
    """Per-person sex (1 female, 0 male) from the theory's parameter ``sex`` (or the protocol's mapping)."""
    name = c.protocol.predispositions.get("sex", "sex")
    if name not in c.model.param_index:
        raise NotExpressible(f"the theory gives sex no role: it has no per-person parameter {name!r} (1 = female, "
                             "its prior the population share), so women and men cannot be told apart")
    v = c.param(name)
    if not set(np.unique(v)) <= {0.0, 1.0}:
        raise NotExpressible(f"parameter {name!r} must be 0/1 per person (a bernoulli prior) to stand for sex")
    return v


def _n(**groups: np.ndarray | int) -> str:
    return ", ".join(f"{k} {int(v.sum()) if isinstance(v, np.ndarray) else int(v)}" for k, v in groups.items())


# ---------------------------------------------------------------------- designs
_LEVELS = {"event", "percentile", "status", "ever", "by_end", "population"}
_COMPARE = {"direction", "direction_up", "comparison", "between"}


def _single_time(t: Target, default: float | None) -> float | None:
    when = read_at(t.measure.at)
    if when is None:
        return default
    if len(when.times) > 1 or when.schedule:
        raise NotExpressible(f"a {t.design} target is measured once; a list of times (a time course) is read by "
                             "follow_up, trial, challenge and exposure_cohort targets, a visit schedule by follow_up")
    return when.last


def _time_course(t: Target) -> tuple[float, ...] | None:
    """The times of `measure.at` written as a list (a time course), or None (not a list).

    A visit schedule is a follow-up's; here it is refused.
    """
    if not isinstance(t.measure.at, list):
        return None
    when = read_at(t.measure.at)
    assert when is not None
    if min(when.times) <= 0:
        raise NotExpressible(f"a time course of a {t.design} is measured after it starts; give times after 0 in `at`")
    return when.times


def _course(diffs: list[Estimate]) -> dict[str, Estimate]:
    """Quantities of a time course: the statistic at every time (at_1, ...), earlier and later."""
    q = {f"at_{k + 1}": d for k, d in enumerate(diffs)}
    q["earlier"], q["later"] = diffs[0], diffs[-1]
    return q


def prevalence(t: Target, c: Cohort, seed: int, B: int) -> Outcome:
    obs = _observation(t, c)
    r = read_of(t)
    r.honour(t, _LEVELS | {"sex", "stimulus", "precedes"})
    mask = _group(c, t.population)
    _need(mask, f"patients in population {t.population!r}")
    if t.measure.statistic != "proportion":
        raise NotExpressible(f"a prevalence is a proportion, not {t.measure.statistic!r}")
    if _single_time(t, None) is not None:
        raise NotExpressible("a prevalence is counted at the cross-section t0; a later time needs design follow_up")
    note = ""
    if r.sex is not None:
        sex = _sex(c)
        if not (r.said() & {"event", "percentile", "status", "ever", "precedes"}):  # "women among cases"
            est = estimate(proportion, (sex[mask] == r.sex).astype(float), resamples=B, seed=seed)
            return Outcome(t, "", est, n=_n(**{t.population: mask}), note="share of that sex")
        mask = mask & (sex == r.sex)
        _need(mask, f"{'women' if r.sex else 'men'} in population {t.population!r}")
        note = f"{'women' if r.sex else 'men'} only"
    if r.precedes is not None:
        return _precedence(t, r, c, obs, mask, seed, B)
    if _ever(r, obs):
        est = estimate(proportion, c.ever_case()[mask].astype(float), resamples=B, seed=seed)
    elif r.by_end:
        raise NotExpressible("'by the end' / 'by mid-life' goes with 'ever' (was the observation ever 1)")
    else:
        opts = _options(r, obs)
        ctrl = c.values(obs, _group(c, "controls"), options=opts) if r.percentile is not None else None
        est = _proportion(r, obs, c.values(obs, mask, options=opts), ctrl, seed, B)
    return Outcome(t, "", est, n=_n(**{t.population: mask}), note=note)


def _first(hit: np.ndarray) -> np.ndarray:
    """Index of the first True per row (inf where none), hit shape (patients, times)."""
    any_ = hit.any(axis=1)
    return np.where(any_, np.argmax(hit, axis=1), np.inf)


def _precedence(t: Target, r: Reading, c: Cohort, obs: str, mask: np.ndarray, seed: int, B: int) -> Outcome:
    """Share of people in whom the event of `of` came first: before the first case status, or before
    another instrument's event, on the general cohort's record up to t0.

    People in whom the later event never happened, or who had it already at the first
    record (when its onset cannot be dated), are left out.
    """
    ev = _event(r, obs)
    _, a = c.history(obs, mask)
    first_a = _first(ev(np.nan_to_num(a)) > 0.5)
    if r.precedes == "case":
        first_b = _first(c.history("acr2016_case", mask)[1] == 1)
        what = "first case status"
    else:
        key, op, x = r.precedes  # type: ignore[misc]
        other = _instrument(key, c)
        ops = {">": np.greater, ">=": np.greater_equal, "<": np.less, "<=": np.less_equal}
        first_b = _first(ops[op](c.history(other, mask)[1], x))
        what = f"{other} {op} {x:g}"
    dated = np.isfinite(first_b) & (first_b > 0)
    _need(dated, f"people in {t.population!r} in whom {what} is dated")
    per = (first_a[dated] < first_b[dated]).astype(float)
    est = estimate(proportion, per, resamples=B, seed=seed)
    return Outcome(t, "", est, n=_n(dated=dated), note=f"event of `of` before {what}, on the weekly record to t0")


def case_control(t: Target, c: Cohort, seed: int, B: int) -> Outcome:
    obs = _observation(t, c)
    r = read_of(t)
    r.honour(t, _LEVELS | _COMPARE | {"with", "sex", "stimulus"})
    mask = _group(c, t.population)
    _need(mask, f"patients in population {t.population!r}")
    if _single_time(t, None) is not None:
        raise NotExpressible("a case-control study compares groups at the cross-section t0; a later time needs "
                             "design follow_up")
    opts = _options(r, obs)
    within = np.ones_like(mask)
    if r.sex is not None:  # both groups of one sex
        within = _sex(c) == r.sex
        mask = mask & within
    if t.exposure is not None and t.exposure.predisposition is not None:
        name = c.protocol.predispositions.get(t.exposure.predisposition, t.exposure.predisposition)
        if t.exposure.predisposition == "sex":
            _sex(c)
        if name not in c.model.param_index:
            raise NotExpressible(f"the theory has no parameter for predisposition {t.exposure.predisposition!r} "
                                 f"(looked for {name!r}; map it under `predispositions:` of the protocol)")
        trait = c.param(name)
        binary = set(np.unique(trait)) <= {0.0, 1.0}
        exposed = mask & (trait >= 0.5 if binary else trait > np.median(trait[mask]))
        unexposed = mask & ~exposed
        _need(exposed, "exposed patients")
        if _ever(r, obs):
            outcome = c.ever_case().astype(float)
            xe, xu = outcome[exposed], outcome[unexposed]
        elif r.by_end:
            raise NotExpressible("'by the end' / 'by mid-life' goes with 'ever' (was the observation ever 1)")
        elif obs in BINARY or r.event is not None:
            xe = _event(r, obs)(c.values(obs, exposed, options=opts))
            xu = _event(r, obs)(c.values(obs, unexposed, options=opts))
        else:
            xe, xu = c.values(obs, exposed, options=opts), c.values(obs, unexposed, options=opts)
        est = _compare(t, r, xe, xu, paired=False, seed=seed, B=B)
        return Outcome(t, "", est, _sides(xe, xu), n=_n(exposed=exposed, unexposed=unexposed),
                       note=f"predisposition {name!r} {'= 1' if binary else 'above its median'}")
    if r.ever or r.by_end:
        raise NotExpressible("'ever' in a case-control target needs a predisposition as the exposure")
    if t.measure.statistic == "correlation":
        if r.said() & _COMPARE:
            raise NotExpressible("a correlation within one group has no comparison; drop the direction words")
        return Outcome(t, "", _correlation(t, r, c, obs, mask, seed, B), n=_n(**{t.population: mask}))
    comparator = t.comparator if isinstance(t.comparator, str) else "controls"
    cmask = _group(c, comparator) & within
    _need(cmask, f"patients in comparator {comparator!r}")
    x, y = c.values(obs, mask, options=opts), c.values(obs, cmask, options=opts)
    if t.measure.statistic == "proportion":
        est = _proportion(r, obs, x, y, seed, B)
        return Outcome(t, "", est, n=_n(**{t.population: mask, comparator: cmask}))
    if r.event is not None or (obs in BINARY and r.negative):
        x, y = _event(r, obs)(x), _event(r, obs)(y)
    est = _compare(t, r, x, y, paired=False, seed=seed, B=B)
    return Outcome(t, "", est, _sides(x, y), n=_n(**{t.population: mask, comparator: cmask}))


def _sides(x: np.ndarray, y: np.ndarray, names: tuple[str, str] = ("group", "comparator"),
           seed: int = 0, B: int = 200) -> dict[str, Estimate]:
    """Mean of each side with its interval: the quantities relational accept rules compare."""
    return {names[0]: estimate(proportion, x, resamples=B, seed=seed),
            names[1]: estimate(proportion, y, resamples=B, seed=seed)}


def exposure_cohort(t: Target, c: Cohort, seed: int, B: int) -> Outcome:
    obs = _observation(t, c)
    r = read_of(t)
    r.honour(t, {"status", "horizon", "comparison", "between"})
    if t.exposure is None:
        raise NotExpressible("an exposure cohort needs an `exposure`")
    if obs not in BINARY or t.measure.statistic != "proportion":
        raise NotExpressible("an exposure cohort reports the incidence (proportion) of a 0/1 observation")
    at = read_duration(t.exposure.at, "exposure.at", 0.0) or 0.0
    course = _time_course(t)
    if course is None:
        times = (_horizon(t, r, _single_time(t, None), 365.25),)
    else:  # a time course: the incidence at several times after the exposure, each inside a stated horizon
        times = tuple(_horizon(t, r, x, 365.25) for x in course)
    horizon = max(times)
    base = _group(c, "controls") if t.population == "general" else _group(c, t.population)
    _need(base, "never-ill adults")
    limit = c.protocol.cohort.exposed_patients
    arms = {"exposed": t.exposure}
    if isinstance(t.comparator, Exposure):
        arms["comparator"] = t.comparator
    comps = {k: _exposure_components(c, e, at) for k, e in arms.items()}
    days = at + horizon
    incid: dict[str, np.ndarray] = {}
    over: dict[str, np.ndarray] = {}  # (n, times): the incidence at every time of a time course
    for arm, schedule in comps.items():
        ds = c.follow(base, days=days, purpose=f"{t.id} exposure cohort", limit=limit, schedule=schedule)
        ok = np.asarray(ds.status.values) == 0
        if course is None:
            incid[arm] = _event(r, obs)(np.asarray(measure(ds, c.instrument(obs), time=days).values,
                                                   dtype=float)[ok])
        else:
            v = np.asarray(measure(ds, c.instrument(obs), time=[at + x for x in times]).values, dtype=float)
            over[arm] = _event(r, obs)(v.reshape(len(ok), -1)[ok])
            incid[arm] = over[arm][:, -1]
    q = {k: estimate(proportion, v, resamples=B, seed=seed) for k, v in incid.items()}
    if "comparator" in incid and len(incid["exposed"]) == len(incid["comparator"]):
        x, y = incid["exposed"], incid["comparator"]
        q["ratio"] = estimate(TWO_SAMPLE["ratio"], x, y, paired=True, resamples=B, seed=seed)
        q["difference"] = estimate(TWO_SAMPLE["mean_difference"], x, y, paired=True, resamples=B, seed=seed)
    note = f"incidence {horizon:g} days after exposure in never-ill adults"
    if course is not None:
        q |= _course([estimate(proportion, over["exposed"][:, k], resamples=B, seed=seed) for k in range(len(times))])
        note = "incidence in the exposed at " + ", ".join(f"{x:g}" for x in times) + " days after exposure in " \
            "never-ill adults"
    return Outcome(t, "", q["exposed"], q, n=_n(per_arm=len(incid["exposed"])), note=note)


def _horizon(t: Target, r: Reading, at: float | None, default: float) -> float:
    """The time after t0 a target is observed: `at`, else the horizon said in `of`, else `default`.

    When both are given, `at` must lie in the horizon `of` names.
    """
    if r.horizon is None:
        return default if at is None else at
    lo, hi = r.horizon
    if at is None:
        return (lo + hi) / 2
    if not lo - 1e-6 <= at <= hi + 1e-6:
        raise NotExpressible(f"`at` ({at:g} days) is outside the horizon `of` names ({lo:g}-{hi:g} days)")
    return at


def challenge(t: Target, c: Cohort, seed: int, B: int) -> Outcome:
    obs = _observation(t, c)
    mask = _group(c, t.population)
    _need(mask, f"patients in population {t.population!r}")
    if t.challenge is None:  # a lab measurement compared between groups (no manipulation)
        return case_control(t, c, seed, B)
    r = read_of(t)
    r.honour(t, _COMPARE | {"event", "reactivity", "stimulus"})
    course = _time_course(t)
    if course is None and _single_time(t, None) is not None:
        raise NotExpressible("a challenge is measured at its end (`challenge.for`); drop `measure.at`, or give a "
                             "list of times in it for a time course")
    days = read_duration(t.challenge.for_, "challenge.for", 1.0) or 1.0
    dt = c.protocol.cohort.dt
    if days < 2 * dt:
        raise NotExpressible(f"a challenge of {days * 24:g} hours is shorter than two integration steps "
                             f"({2 * dt * 24:g} h): the theory's states cannot follow it")
    applies, comps = _challenge(c, t.challenge, days)
    opts = _options(r, obs)
    step = min(0.25 if days < 7 else 1.0, days)
    times: tuple[float, ...] = (days,)
    if course is not None:
        if min(course) < dt:
            raise NotExpressible(f"a time of the course ({min(course) * 24:g} h) is shorter than one integration "
                                 f"step ({dt * 24:g} h)")
        times = course
        # a course is read at recorded times: the challenge's own record when every time lies on it
        # (so its end is the same number as without a course), else every integration step
        if not all(abs(x / step - round(x / step)) < 1e-9 for x in times):
            step = dt
    limit = c.protocol.cohort.exposed_patients
    purpose = f"{t.id} challenge"
    if r.reactivity:
        return _reactivity(t, r, c, obs, mask, days, step, applies, comps, opts, seed, B, course)
    if t.comparator is not None:
        raise NotExpressible("a challenge compares the same people challenged and not; a comparator is read for "
                             "reactivity ('change from before to during the challenge')")
    got = {}
    for arm, (a, s) in {"challenged": (applies, comps), "unchallenged": ([], [])}.items():
        ds = c.follow(mask, days=max(days, *times), purpose=purpose, limit=limit, schedule=s, interventions=a,
                      record_every=step)
        # one time is measured as before (a scalar time), so targets without a course keep their numbers
        when = days if course is None else list(times)
        v = np.asarray(measure(ds, c.instrument(obs), time=when, **opts).values, dtype=float)
        got[arm] = v.reshape(v.shape[0], -1)
        if r.event is not None:
            got[arm] = _event(r, obs)(got[arm])
    x, y = got["challenged"], got["unchallenged"]
    diffs = [_compare(t, r, x[:, k], y[:, k], paired=True, seed=seed, B=B) for k in range(len(times))]
    q = _sides(x[:, -1], y[:, -1], ("challenged", "unchallenged"))
    if course is not None:
        q |= _course(diffs)
    said = ", ".join(f"{x * 24:g} h" if x < 1 else f"{x:g} d" for x in times)
    return Outcome(t, "", diffs[-1], q, n=_n(per_arm=len(x)),
                   note=f"same patients challenged and not (common random numbers); measured at {said}"
                        + (f" of a {days:g}-day challenge" if course is not None else ""))


def _reactivity(t: Target, r: Reading, c: Cohort, obs: str, mask: np.ndarray, days: float, step: float,
                applies: list[Apply], comps: list[ScheduleComponent], opts: dict[str, float], seed: int,
                B: int, course: tuple[float, ...] | None = None) -> Outcome:
    """Change of `obs` from before to during the challenge, in the population (and its comparator group).

    "Before" is the measurement at t0, just before the challenge starts; "during" at its
    end (`for`), or at every time of a time course (`course`, days; quantities ``at_1``, ...
    hold the statistic at each time, the sides are those at the last time).
    With a comparator group the statistic compares the changes between the groups; without
    one it compares during with before in the same people.
    """
    groups = {"group": mask}
    if isinstance(t.comparator, str):
        groups["comparator"] = _group(c, t.comparator)
        _need(groups["comparator"], f"patients in comparator {t.comparator!r}")
    change: dict[str, np.ndarray] = {}
    during: dict[str, np.ndarray] = {}
    before: dict[str, np.ndarray] = {}
    for g, m in groups.items():
        ds = c.follow(m, days=days if course is None else max(days, *course), purpose=f"{t.id} reactivity",
                      limit=c.protocol.cohort.exposed_patients, schedule=comps, interventions=applies,
                      record_every=step)
        at = float(ds.time.values[-1]) if course is None else list(course)
        v = np.asarray(measure(ds, c.instrument(obs), time=at, **opts).values, dtype=float)
        during[g] = v.reshape(v.shape[0], -1)
        # before: the cross-section the study starts from (a clamp already holds at the study's first record)
        before[g] = c.values(obs, m, options=opts)[: len(during[g])]
        change[g] = during[g] - before[g][:, None]
    k_times = change["group"].shape[1]
    note = f"change from the start to the end of a {days:g}-day challenge"
    if course is not None:
        note = f"change from the start of a {days:g}-day challenge to " + ", ".join(f"{x:g}" for x in course) + " d"
    if "comparator" in groups:
        diffs = [_compare(t, r, change["group"][:, k], change["comparator"][:, k], paired=False, seed=seed, B=B)
                 for k in range(k_times)]
        q = _sides(change["group"][:, -1], change["comparator"][:, -1])
        if course is not None:
            q |= _course(diffs)
        return Outcome(t, "", diffs[-1], q, n=_n(group=len(change["group"]),
                                                 comparator=len(change["comparator"])), note=note)
    diffs = [_compare(t, r, during["group"][:, k], before["group"], paired=True, seed=seed, B=B)
             for k in range(k_times)]
    q = _sides(during["group"][:, -1], before["group"], ("during", "before"))
    if course is not None:
        q |= _course(diffs)
    return Outcome(t, "", diffs[-1], q, n=_n(group=len(change["group"])), note=note)


def _observed_later(t: Target, c: Cohort, obs: str, mask: np.ndarray, times: tuple[float, ...],
                    history: float = 0.0, opts: dict[str, float] | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Values of `obs` at t0 and at `times` after t0 for the patients in `mask`.

    Times within the general cohort's record are read from it; a longer horizon (decades)
    continues the patients from t0 (at most ``exposed_patients`` of them, fresh noise
    streams fixed by the target id). Returns (at t0 (n,), at times (n, k), the recorded
    0/1 series of a binary observation over the last `history` days before the last
    time (n, m), empty when `history` is 0).
    """
    end = float(c.ds.time.values[-1])
    step = c.protocol.cohort.record_every
    if c.t0 + max(times) <= end + step / 2:
        later = np.stack([c.values(obs, mask, c.t0 + x, options=opts) for x in times], axis=1)
        tail = np.empty((int(mask.sum()), 0))
        if history > 0:
            tt = np.asarray(c.ds.time.values)
            last = c.t0 + max(times)
            if last - history < float(tt[0]) - step / 2:
                raise NotExpressible(f"the last {history / 365.25:g} years before the visit reach back before the "
                                     "simulated cohort starts; raise `cohort.years` in the protocol")
            cols = (tt > last - history + 1e-9) & (tt <= last + 1e-9)
            series = np.asarray(measure(c.ds, c.instrument(obs), time=tt[cols]).values, dtype=float)
            tail = series[mask]
        return c.values(obs, mask, options=opts), later, tail
    limit = c.protocol.cohort.exposed_patients
    ds = c.follow(mask, days=max(times), purpose=f"{t.id} follow-up", limit=limit)
    ok = np.asarray(ds.status.values) == 0
    pos = np.flatnonzero(mask)[:limit]
    base = c.values(obs, mask, options=opts)[: len(pos)][ok]
    later = np.asarray(measure(ds, c.instrument(obs), time=list(times), **(opts or {})).values, dtype=float)
    later = later.reshape(len(pos), -1)[ok]
    tail = np.empty((int(ok.sum()), 0))
    if history > 0:
        tt = np.asarray(ds.time.values)
        last = max(times)
        if last - history < -step / 2:
            raise NotExpressible("the last years before the visit reach back before t0; observe later or "
                                 "shorten the window")
        cols = (tt > last - history + 1e-9) & (tt <= last + 1e-9)
        tail = np.asarray(measure(ds, c.instrument(obs), time=tt[cols]).values, dtype=float)[ok]
    return base, later, tail


def follow_up(t: Target, c: Cohort, seed: int, B: int) -> Outcome:
    obs = _observation(t, c)
    r = read_of(t)
    r.honour(t, _COMPARE | {"event", "status", "horizon", "change", "visits", "last_years", "flare",
                            "flare_definition", "stimulus"})
    mask = _group(c, t.population)
    _need(mask, f"patients in population {t.population!r}")
    default = c.protocol.cohort.follow_up_years * 365.25
    when = read_at(t.measure.at)
    if when is None:
        times: tuple[float, ...] = (_horizon(t, r, None, default),)
    else:
        times = when.times
        _horizon(t, r, when.last, default)
    if r.flare is not None:
        if len(times) > 1:
            raise NotExpressible("flares are counted over one window, from t0 to one time in `at`; a list of "
                                 "times or a visit schedule needs one target per window")
        return _follow_up_flares(t, r, c, obs, mask, times[0], seed, B)
    if when is not None and when.schedule and r.visits is None:
        raise NotExpressible("a visit schedule in `at` needs what is said over the visits in `of`: 'at least one "
                             "visit negative', 'all visits positive' or 'share of visits positive'")
    if r.visits is not None and len(times) < 2:
        raise NotExpressible(f"'{r.visits}' visits needs a schedule of visits in `at` (e.g. 'every 6 months for "
                             "3 years' or a list of times)")
    history = (r.last_years or 0.0) * 365.25
    if history and obs not in BINARY:
        raise NotExpressible("'during the last k years' counts a 0/1 observation (such as acr2016_case)")
    base, later, tail = _observed_later(t, c, obs, mask, times, history, _options(r, obs))
    _need(np.ones(len(base), bool), "patients observed at follow-up")
    q: dict[str, Estimate] = {}
    note = f"re-observed {max(times) / 365.25:.3g} years after t0"
    if t.measure.statistic == "proportion":
        if r.change:
            raise NotExpressible("a proportion is counted at the visit; 'change from baseline' needs a difference "
                                 "statistic")
        if r.percentile is not None:
            raise NotExpressible("a percentile of controls is read in case-control targets")
        ev = _event(r, obs)
        hits = np.stack([ev(later[:, k]) for k in range(later.shape[1])], axis=1)
        if r.last_years:
            per = np.all(tail == 0, axis=1).astype(float) if tail.shape[1] else np.zeros(len(base))
            note += f"; 0 at every record over the last {r.last_years:g} years"
        elif r.visits == "any":
            per = hits.max(axis=1)
        elif r.visits == "all":
            per = hits.min(axis=1)
        elif r.visits == "share":
            per = hits.mean(axis=1)
        else:
            per = hits[:, -1]
        est = estimate(proportion, per, resamples=B, seed=seed)
        if r.visits is None and len(times) > 1:  # a time course: the proportion at every time
            q = {f"at_{k + 1}": estimate(proportion, hits[:, k], resamples=B, seed=seed)
                 for k in range(hits.shape[1])}
        if r.visits is not None:
            note += f"; {len(times)} visits"
    else:
        diffs = [_compare(t, r, later[:, k], base, paired=True, seed=seed, B=B) for k in range(later.shape[1])]
        est = diffs[-1]
        if len(times) > 1:
            q = {f"at_{k + 1}": d for k, d in enumerate(diffs)}
    if q:
        q["earlier"], q["later"] = q["at_1"], q[f"at_{len(times)}"]
    return Outcome(t, "", est, q, n=_n(**{t.population: len(base)}), note=note)


def _follow_up_flares(t: Target, r: Reading, c: Cohort, obs: str, mask: np.ndarray, days: float, seed: int,
                      B: int) -> Outcome:
    """Flares on the recorded trajectories from t0 to `days` after it (one record every
    ``cohort.record_every`` days): within the general cohort's record it is read there, a
    longer window continues the patients from t0 (at most ``exposed_patients``)."""
    _flare_words_only(t, r)
    step = c.protocol.cohort.record_every
    flare_records(r.flare_days or 0.0, step)  # refuse a too coarse record before simulating anything
    end = float(c.ds.time.values[-1])
    if c.t0 + days <= end + step / 2:
        tt = np.asarray(c.ds.time.values, dtype=float)
        cols = (tt > c.t0 + 1e-9) & (tt <= c.t0 + days + 1e-9)
        x = np.asarray(measure(c.ds, c.instrument(obs), time=tt[cols]).values, dtype=float)[mask]
    else:
        ds = c.follow(mask, days=days, purpose=f"{t.id} follow-up flares", limit=c.protocol.cohort.exposed_patients)
        ok = np.asarray(ds.status.values) == 0
        x = np.asarray(measure(ds, c.instrument(obs)).values, dtype=float)[ok][:, 1:]
    if x.shape[1] < 2:
        raise NotExpressible(f"a window of {days:g} days holds {x.shape[1]} record(s); a baseline and a rise over "
                             "it need more (observe longer)")
    _need(np.ones(len(x), bool), "patients observed at follow-up")
    per = flare_values(r, x, step, days)
    want = "proportion" if r.flare == "any" else "mean"
    if t.measure.statistic != want:
        raise NotExpressible(f"the {'share with at least one flare' if want == 'proportion' else 'flare rate'} "
                             f"of one group is a {want}, not {t.measure.statistic!r}")
    est = estimate(proportion if want == "proportion" else mean, per, resamples=B, seed=seed)
    return Outcome(t, "", est, n=_n(**{t.population: len(per)}), note=_flare_note(r, days, step))


def diary(t: Target, c: Cohort, seed: int, B: int) -> Outcome:
    obs = _observation(t, c)
    r = read_of(t)
    r.honour(t, {"with", "flare", "flare_definition"})
    mask = _group(c, t.population)
    _need(mask, f"patients in population {t.population!r}")
    days = read_duration(t.exposure.for_ if t.exposure else None, "exposure.for", 28.0) or 28.0
    if t.exposure is not None and t.exposure.input is not None and \
            t.exposure.input not in {comp.input for comp in c.protocol.everyday}:
        raise NotExpressible(f"a diary records everyday life, and {t.exposure.input!r} is not an everyday input of "
                             "the protocol (`everyday:`); an applied input needs design exposure_cohort or challenge")
    if r.flare is not None:
        return _flares(t, r, c, obs, mask, days, seed, B)
    if t.comparator is not None:
        raise NotExpressible("a diary's correlation or cross-lagged effect is taken within one group; a comparator "
                             "group is read for flares only")
    other = _second_observation(t, r, c)
    if other is None or t.measure.statistic not in ("correlation", "cross_lagged"):
        raise NotExpressible("a diary target is a within-person correlation or cross-lagged effect: give "
                             "`statistic: correlation` (or `cross_lagged`) and `with: OBSERVATION` (and optionally "
                             "`lag: DAYS`), or count flares in `of`")
    ds = c.follow(mask, days=days, purpose=f"{t.id} diary", limit=c.protocol.cohort.diary_patients,
                  record_every=1.0)
    x = np.asarray(measure(ds, c.instrument(obs)).values, dtype=float)[:, 1:]
    y = np.asarray(measure(ds, c.instrument(other)).values, dtype=float)[:, 1:]
    if t.measure.statistic == "cross_lagged":
        if t.measure.lag not in (None, 1):
            raise NotExpressible("cross-lagged effects are read from one report to the next (lag 1)")
        fwd, rev = lagged_sums(y, x), lagged_sums(x, y)
        kw = {"paired": True, "resamples": B, "seed": seed}
        q = {"forward": estimate(cross_lagged, *fwd, **kw), "reverse": estimate(cross_lagged, *rev, **kw),
             "difference": estimate(cross_lagged_difference, *fwd, *rev, **kw)}
        return Outcome(t, "", q["forward"], q, n=_n(patients=len(x)),
                       note=f"within-person cross-lagged effects over {days:g} daily reports: forward {other} -> "
                            f"next-day {obs}, reverse {obs} -> next-day {other}")
    lag = t.measure.lag or 0
    est = _within(x, y, lag, seed, B)
    return Outcome(t, "", est, n=_n(patients=len(x)),
                   note=f"within-person correlation over {days:g} daily reports, lag {lag} d ({other} leads)")


def flare_counts(x: np.ndarray, rise: float, min_days: int) -> np.ndarray:
    """Flares per person in reports x (patients, records): runs of at least `min_days` consecutive
    records at or above the person's own baseline (median of the window) plus `rise`.

    For daily reports `min_days` is the minimum duration in days; for a record every k
    days it is the number of consecutive records that spans the minimum duration
    (:func:`flare_records`).
    """
    above = x >= np.median(x, axis=1, keepdims=True) + rise
    edges = np.diff(np.pad(above.astype(np.int8), ((0, 0), (1, 1))), axis=1)
    counts = np.zeros(len(x))
    for i in range(len(x)):
        starts, ends = np.flatnonzero(edges[i] == 1), np.flatnonzero(edges[i] == -1)
        counts[i] = np.sum(ends - starts >= min_days)
    return counts


def flare_records(min_days: float, step: float) -> int:
    """Consecutive records (one every `step` days) that a flare of at least `min_days` days spans.

    Raises
    ------
    NotExpressible
        when a record is coarser than the minimum duration: a single high record cannot
        tell a flare of that length from a shorter rise.
    """
    if min_days < step - 1e-9:
        raise NotExpressible(f"the trajectories are recorded every {step:g} days, too coarse to see a flare of at "
                             f"least {min_days:g} days (one high record could be a shorter rise); count flares in "
                             "daily reports (design diary), or set `cohort.record_every` of the protocol to at most "
                             f"{min_days:g} days")
    return max(1, int(math.ceil(min_days / step - 1e-9)))


def flare_values(r: Reading, x: np.ndarray, step: float, days: float) -> np.ndarray:
    """Per person: 1/0 for 'at least one flare', or flares per `flare_per` days, in records x
    (patients, records) taken every `step` days over a window of `days` days."""
    assert r.flare_rise is not None and r.flare_days is not None
    n = flare_counts(x, r.flare_rise, flare_records(r.flare_days, step))
    return (n > 0).astype(float) if r.flare == "any" else n / (days / (r.flare_per or 365.25))


def _flare_words_only(t: Target, r: Reading, also: frozenset[str] = frozenset()) -> None:
    """Refuse phrases a flare count would not honour (an event, visits, a direction, ...)."""
    ok = {"flare", "flare_definition", "observation", "magnitude", "population", "horizon", "after", *also}
    bad = [text for kind, text in r.read if kind not in ok]
    if bad:
        raise NotExpressible(f"a count of flares in a {t.design} target cannot also honour "
                             f"{', '.join(map(repr, bad))} in `of`")


def _flare_note(r: Reading, days: float, step: float) -> str:
    what = "share with at least one flare" if r.flare == "any" else "flares per person and period"
    every = "daily reports" if step == 1.0 else f"records every {step:g} days"
    return f"{what}: rise >= {r.flare_rise:g} over own median for >= {r.flare_days:g} d, {days:g} days of {every}"


def _flares(t: Target, r: Reading, c: Cohort, obs: str, mask: np.ndarray, days: float, seed: int,
            B: int) -> Outcome:
    """Flares in daily reports: the share of people with at least one, or flares per unit time.

    With a comparator group (``comparator: controls``) the statistic compares the groups.
    """
    assert r.flare_rise is not None and r.flare_days is not None
    min_days = flare_records(r.flare_days, 1.0)
    if min_days >= days:
        raise NotExpressible(f"a flare of at least {min_days} days needs a longer diary than {days:g} days "
                             "(`exposure.for`)")
    groups = {"group": mask}
    if isinstance(t.comparator, str):
        groups["comparator"] = _group(c, t.comparator)
        _need(groups["comparator"], f"patients in comparator {t.comparator!r}")
    per: dict[str, np.ndarray] = {}
    for g, m in groups.items():
        ds = c.follow(m, days=days, purpose=f"{t.id} flares", limit=c.protocol.cohort.diary_patients,
                      record_every=1.0)
        x = np.asarray(measure(ds, c.instrument(obs)).values, dtype=float)[:, 1:]
        per[g] = flare_values(r, x, 1.0, days)
    stat = t.measure.statistic
    what = "share with at least one flare" if r.flare == "any" else "flares per person and period"
    note = _flare_note(r, days, 1.0)
    if "comparator" in groups:
        est = _compare(t, r, per["group"], per["comparator"], paired=False, seed=seed, B=B)
        return Outcome(t, "", est, _sides(per["group"], per["comparator"]),
                       n=_n(group=len(per["group"]), comparator=len(per["comparator"])), note=note)
    want = "proportion" if r.flare == "any" else "mean"
    if stat != want:
        raise NotExpressible(f"the {what} of one group is a {want}, not {stat!r} (or give a comparator group)")
    est = estimate(proportion if want == "proportion" else mean, per["group"], resamples=B, seed=seed)
    return Outcome(t, "", est, n=_n(patients=len(per["group"])), note=note)


def _within(x: np.ndarray, y: np.ndarray, lag: int, seed: int, B: int) -> Estimate:
    """Within-person correlation of x with y leading by `lag` reports (patients x days)."""
    if lag:
        x, y = x[:, lag:], y[:, :-lag]
    # within-person: centre on each person's mean, then correlate the pooled deviations; the
    # per-person sums of products are what a resample of persons adds up
    xc = x - x.mean(axis=1, keepdims=True)
    yc = y - y.mean(axis=1, keepdims=True)

    def within(xy: np.ndarray, xx: np.ndarray, yy: np.ndarray, axis: int = -1) -> np.ndarray:
        return np.sum(xy, axis=axis) / np.sqrt(np.sum(xx, axis=axis) * np.sum(yy, axis=axis))

    return estimate(within, (xc * yc).sum(axis=1), (xc * xc).sum(axis=1), (yc * yc).sum(axis=1), paired=True,
                    resamples=B, seed=seed)


def trial(t: Target, c: Cohort, seed: int, B: int) -> Outcome:
    obs = _observation(t, c)
    r = read_of(t)
    r.honour(t, _COMPARE | {"change", "responder", "horizon", "flare", "flare_definition", "stimulus"})
    if t.exposure is None or t.exposure.intervention is None:
        raise NotExpressible("a trial target needs `exposure: {intervention: NAME, for: DURATION}`")
    mask = _group(c, t.population)
    _need(mask, f"patients in population {t.population!r}")
    if t.measure.statistic in ("proportion", "odds_ratio", "nnt") and r.responder is None and r.flare is None:
        raise NotExpressible(f"a trial's {t.measure.statistic} counts responders: say the response in `of`, "
                             "e.g. '>= 30 % pain reduction'")
    when = read_at(t.measure.at)
    if when is not None and when.schedule:
        raise NotExpressible("a visit schedule is read by follow-up targets; give a trial's times as a list")
    days = read_duration(t.exposure.for_, "exposure.for", None) or _horizon(t, r, when.last if when else None, 84.0)
    # measured at the end of treatment, or at the times of `at`: a time past `for` is a follow-up after
    # the treatment stopped, a list a time course
    times = when.times if when is not None else (days,)
    if min(times) <= 0:
        raise NotExpressible("a trial is measured after it starts; give times after 0 in `at`")
    arms = {"treated": t.exposure, "comparator": t.comparator if isinstance(t.comparator, Exposure) else None}
    if r.flare is not None:
        if len(times) > 1:
            raise NotExpressible("flares are counted over one window, from the start to one time in `at`")
        return _trial_flares(t, r, c, obs, mask, arms, days, times[0], seed, B)
    opts = _options(r, obs)
    first: dict[str, np.ndarray] = {}
    later: dict[str, np.ndarray] = {}
    for arm, exp in arms.items():
        applies, comps = _challenge(c, exp, days) if exp is not None else ([], [])
        ds = c.follow(mask, days=max(times), purpose=f"{t.id} trial", limit=c.protocol.cohort.exposed_patients,
                      schedule=comps, interventions=applies)
        at = [float(ds.time.values[-1])] if when is None else list(times)
        v = np.asarray(measure(ds, c.instrument(obs), time=[0.0, *at], **opts).values, dtype=float)
        first[arm], later[arm] = v[:, 0], v[:, 1:]
    last = {arm: later[arm][:, -1] for arm in arms}
    note = f"change over {max(times):g} days" + (f", treatment for {days:g}" if max(times) != days else "")
    if r.responder is not None:
        if len(times) > 1:
            raise NotExpressible("responders are counted at one time; give one time in `at`")
        return _responders(t, r, first, last, seed, B, note)
    diffs = [_compare(t, r, later["treated"][:, k] - first["treated"],
                      later["comparator"][:, k] - first["comparator"], paired=True, seed=seed, B=B)
             for k in range(len(times))]
    change = {arm: last[arm] - first[arm] for arm in arms}
    q = _sides(change["treated"], change["comparator"], ("treated", "comparator"))
    if len(times) > 1:
        q |= {f"at_{k + 1}": d for k, d in enumerate(diffs)}
        q["earlier"], q["later"] = diffs[0], diffs[-1]
    return Outcome(t, "", diffs[-1], q, n=_n(per_arm=len(change["treated"])), note=note)


def _trial_flares(t: Target, r: Reading, c: Cohort, obs: str, mask: np.ndarray, arms: dict[str, Exposure | None],
                  days: float, until: float, seed: int, B: int) -> Outcome:
    """Flares in daily reports from the start of a trial to `until`, per arm (same patients in both
    arms, common random numbers): the share with at least one, or flares per period, their
    difference and ratio (and for the share the odds ratio and number needed to treat)."""
    assert r.flare_days is not None
    _flare_words_only(t, r, frozenset({"comparison"}))
    if flare_records(r.flare_days, 1.0) >= until:
        raise NotExpressible(f"a flare of at least {r.flare_days:g} days needs a window longer than {until:g} days")
    per: dict[str, np.ndarray] = {}
    for arm, exp in arms.items():
        applies, comps = _challenge(c, exp, days) if exp is not None else ([], [])
        ds = c.follow(mask, days=until, purpose=f"{t.id} trial", limit=c.protocol.cohort.exposed_patients,
                      schedule=comps, interventions=applies, record_every=1.0)
        per[arm] = flare_values(r, np.asarray(measure(ds, c.instrument(obs)).values, dtype=float)[:, 1:], 1.0, until)
    x, y = per["treated"], per["comparator"]
    one = proportion if r.flare == "any" else mean
    paired = {"paired": True, "resamples": B, "seed": seed}
    q = {"treated": estimate(one, x, resamples=B, seed=seed), "comparator": estimate(one, y, resamples=B, seed=seed),
         "difference": estimate(TWO_SAMPLE["mean_difference"], x, y, **paired),
         "ratio": estimate(TWO_SAMPLE["ratio"], x, y, **paired)}
    if r.flare == "any":
        q["odds_ratio"] = estimate(TWO_SAMPLE["odds_ratio"], x, y, **paired)
        q["nnt"] = estimate(TWO_SAMPLE["nnt"], x, y, **paired)
    if r.reversed:
        raise NotExpressible("flare statistics are taken treated against comparator; write 'drug minus placebo' "
                             "(or leave the order out)")
    stat = t.measure.statistic
    key = {"proportion": "treated", "mean": "treated", "mean_difference": "difference", "ratio": "ratio",
           "odds_ratio": "odds_ratio", "nnt": "nnt"}.get(stat)
    want = "proportion" if r.flare == "any" else "mean"
    if key is None or key not in q or (stat in ("proportion", "mean") and stat != want):
        raise NotExpressible(f"flares in a trial are summarised per arm as a {want}, or between arms as "
                             f"mean_difference or ratio{' (or odds_ratio, nnt)' if r.flare == 'any' else ''}, not "
                             f"{stat!r}")
    note = _flare_note(r, until, 1.0) + f", treatment for {days:g} days"
    return Outcome(t, "", q[key], q, n=_n(per_arm=len(x)), note=note)


def _responders(t: Target, r: Reading, first: dict[str, np.ndarray], last: dict[str, np.ndarray], seed: int,
                B: int, note: str) -> Outcome:
    """Responder proportions per arm, their difference, odds ratio and number needed to treat.

    A responder's score fell by at least the stated fraction of its own baseline (a
    baseline of 0 cannot fall, so is no responder).
    """
    f = r.responder
    assert f is not None
    resp = {}
    for arm in first:
        with np.errstate(divide="ignore", invalid="ignore"):
            drop = np.where(first[arm] > 0, (first[arm] - last[arm]) / first[arm], 0.0)
        resp[arm] = (drop >= f - 1e-12).astype(float)
    x, y = resp["treated"], resp["comparator"]
    paired = {"paired": True, "resamples": B, "seed": seed}
    q = {"treated": estimate(proportion, x, resamples=B, seed=seed),
         "comparator": estimate(proportion, y, resamples=B, seed=seed),
         "difference": estimate(TWO_SAMPLE["mean_difference"], x, y, **paired),
         "odds_ratio": estimate(TWO_SAMPLE["odds_ratio"], x, y, **paired),
         "nnt": estimate(TWO_SAMPLE["nnt"], x, y, **paired)}
    stat = t.measure.statistic
    if r.reversed:
        raise NotExpressible("responder statistics are taken treated against comparator; write 'drug minus "
                             "placebo' (or leave the order out)")
    key = {"proportion": "treated", "mean_difference": "difference", "odds_ratio": "odds_ratio", "nnt": "nnt",
           "ratio": None}.get(stat)
    if stat == "ratio":
        q["ratio"] = estimate(TWO_SAMPLE["ratio"], x, y, **paired)
        key = "ratio"
    if key is None:
        raise NotExpressible(f"responders are summarised as a proportion, mean_difference (of proportions), "
                             f"odds_ratio, ratio or nnt, not {stat!r}")
    return Outcome(t, "", q[key], q, n=_n(per_arm=len(x)), note=f"{note}; responder: >= {f:.0%} reduction")


#: fields each design reads (besides id, title, population, measure and the published side)
_READS = {
    "prevalence": set(), "follow_up": set(), "case_control": {"comparator", "exposure"},
    "exposure_cohort": {"comparator", "exposure"}, "challenge": {"comparator", "challenge"},
    "diary": {"comparator", "exposure"}, "trial": {"comparator", "exposure"},
}


def _unused_fields(t: Target) -> None:
    """A field the design would not read makes the target not expressible (never silently ignored)."""
    given = {k for k in ("comparator", "exposure", "challenge") if getattr(t, k) is not None}
    unused = sorted(given - _READS[t.design])
    if unused:
        raise NotExpressible(f"a {t.design} target does not use {', '.join(map(repr, unused))}; choose the design "
                             "that does (docs/targets.md, How fitts evaluate reproduces each design)")
    if t.design == "case_control" and t.exposure is not None and t.exposure.predisposition is None:
        raise NotExpressible("a case-control target's exposure is a predisposition; an applied input needs design "
                             "exposure_cohort")
    group_comparator = isinstance(t.comparator, str)
    if t.comparator is not None and t.design in ("case_control", "diary") and not group_comparator:
        raise NotExpressible(f"a {t.design} target's comparator is a group (e.g. `comparator: controls`)")
    if t.comparator is not None and t.design in ("trial", "exposure_cohort") and group_comparator:
        raise NotExpressible(f"a {t.design} target's comparator is an arm of its own (an intervention or exposure "
                             "mapping); the comparison group is the same people without it")
    for key in ("exposure", "challenge"):
        exp = getattr(t, key)
        if not isinstance(exp, Exposure):
            continue
        if exp.at is not None and t.design != "exposure_cohort":
            raise NotExpressible(f"`{key}.at` is read by exposure cohorts only; a {t.design} applies it from the "
                                 "start of the study")
        if exp.predisposition is not None and t.design != "case_control":
            raise NotExpressible("a predisposition splits a case-control population; use design case_control")
    if t.design == "diary" and t.exposure is not None:
        e = t.exposure
        if e.clamp is not None or e.intervention is not None or e.predisposition is not None:
            raise NotExpressible("a diary records everyday life: its `exposure` gives `for` and at most the "
                                 "everyday input people live with")
    if t.measure.lag is not None and t.design != "diary":
        raise NotExpressible("`lag` is read by diary targets only")
    if t.measure.with_ is not None and t.measure.statistic not in ("correlation", "cross_lagged"):
        raise NotExpressible(f"`with` pairs two observations in a correlation; {t.measure.statistic!r} uses one")
    if t.design == "diary" and t.measure.at is not None:
        raise NotExpressible("a diary runs over `exposure.for`; drop `measure.at`")


DESIGNS: dict[str, Callable[[Target, Cohort, int, int], Outcome]] = {
    "prevalence": prevalence, "case_control": case_control, "exposure_cohort": exposure_cohort,
    "challenge": challenge, "follow_up": follow_up, "diary": diary, "trial": trial,
}


def run_target(target: Target, cohort: Cohort, *, seed: int = 0, resamples: int | None = None) -> Outcome:
    """Run one target's protocol on a cohort and judge it against its accept band(s)."""
    B = resamples or cohort.protocol.cohort.bootstrap
    try:
        _unused_fields(target)
        out = DESIGNS[target.design](target, cohort, seed, B)
    except NotExpressible as exc:
        return Outcome(target, "not expressible", note=str(exc))
    finally:
        cohort.custom.clear()
    acc = target.accept
    if out.estimate is not None:
        out.quantities.setdefault("value", out.estimate)
    if acc.named:
        missing = [q for q in acc.quantities() if q not in out.quantities]
        if missing:
            have = ", ".join(k for k in out.quantities) or "none"
            return Outcome(target, "not expressible", out.estimate, out.quantities, out.n,
                           f"the protocol does not compute {', '.join(missing)} for this design (it computes "
                           f"{have})")
        checks = [(name, out.quantities[name], band, None) for name, band in acc.bands.items()]
        checks += [(key[:-4], out.quantities[key[:-4]], None, (key[-3:], b)) for key, b in acc.bounds.items()]
        checks += [relation_check(rel, out.quantities) for rel in acc.relations()]
    else:
        checks = [(None, out.estimate, acc.band, None)]
    out.status, why = verdict(checks)
    if out.status == "inconclusive":
        n = len(cohort.ids)
        out.note = "; ".join(filter(None, [out.note, why + resolve_hint(checks, n)]))
    return out


Check = tuple[str | None, Estimate | None, tuple[float, float] | None, tuple[str, float] | None]


def relation_check(rel: Relation, q: dict[str, Estimate]) -> Check:
    """A directional rule as a bound on the difference of its two sides.

    The difference ``left - right`` (of absolute values for "larger/smaller than") must be
    above 0 (or below). Its interval is taken conservatively from the two sides'
    intervals ([left.low - right.high, left.high - right.low]), so the rule is decided
    only when the two intervals do not overlap; otherwise it is inconclusive.
    """
    def side(x: str | float) -> Estimate:
        e = q[x] if isinstance(x, str) else Estimate(float(x), float(x), float(x))
        if not rel.magnitude:
            return e
        ends = sorted(abs(v) for v in (e.low, e.high))
        low = 0.0 if e.low <= 0 <= e.high else ends[0]
        return Estimate(abs(e.value), low, ends[1])

    a, b = side(rel.left), side(rel.right)
    d = Estimate(a.value - b.value, a.low - b.high, a.high - b.low)
    return (rel.text, d, None, ("min" if rel.op == ">" else "max", 0.0))


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
