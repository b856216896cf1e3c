"""The words of a target, read completely or not at all.

A target says some things in words: ``measure.of`` ("criteria-negative 1-2 y after
diagnosis", "less inhibition in FM", ">= 30 % pain reduction") and ``measure.at``
("12 months", "every 6 months for 3 years"). :func:`read_of` and :func:`read_at` read
them with a small, fixed grammar (documented in ``docs/targets.md``). Every word must be
read: a phrase with words the grammar does not know raises :class:`NotExpressible`
quoting those words, so a target is never scored as the nearest statistic the grammar
happens to know (a series of visits as one visit, an episode definition as a threshold,
a subgroup share as a prevalence).

The readers are pure functions of the target; the protocols check what a reading asks
against the design and the theory.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from fitts.observe.instruments import INSTRUMENTS

from .protocol import DAYS_PER
from .targets import Target


class NotExpressible(Exception):
    """The theory (or the protocol) cannot reproduce this target; the message says why."""


#: words that name an instrument in `of` (besides its own name): a word naming a *different*
#: instrument than the target's observation makes the target not expressible
NOUNS: dict[str, tuple[str, ...]] = {
    "pain_nrs": ("pain nrs", "pain intensity", "daily pain", "pain rating", "pain", "nrs"),
    "fiqr": ("fiqr", "fiq", "impact"),
    "wpi": ("widespread pain index", "painful sites", "wpi"),
    "sss": ("symptom severity", "sss"),
    "acr2016_case": ("acr 2016 criteria", "acr criteria", "criteria", "acr"),
    "hrv_rmssd": ("heart-rate variability", "heart rate variability", "rmssd", "hrv"),
    "hrv_lnhf": ("ln hf", "lnhf", "hf power"),
    "pressure_pain_threshold": ("pressure pain threshold", "pain threshold", "pressure threshold", "threshold",
                                "ppt"),
    "pressure_for_equal_pain": ("pressure for the same evoked pain", "pressure for equal pain", "pressure"),
    "evoked_pain_nrs": ("evoked pain rating", "evoked pain", "stimulus pain", "rating"),
    "cpm_effect": ("conditioned pain modulation", "pain inhibition", "inhibition", "cpm"),
    "temporal_summation": ("temporal summation", "wind-up", "windup"),
    "ienfd": ("nerve fibre density", "fibre density", "ienfd"),
    "ienfd_pathology": ("small fibre pathology", "pathology"),
    "psqi": ("sleep quality", "psqi"),
    "fatigue_scale": ("fatigue",),
    "distress_scale": ("distress", "hads"),
    "self_compassion": ("self-compassion", "scs"),
}
#: short names used in the literature -> instrument names (any instrument name works as is)
ALIASES = {"fiq": "fiqr", "nrs": "pain_nrs", "pain": "pain_nrs", "ppt": "pressure_pain_threshold",
           "rmssd": "hrv_rmssd", "hrv": "hrv_rmssd", "cpm": "cpm_effect", "scs": "self_compassion",
           "hads": "distress_scale", "psqi": "psqi", "fatigue": "fatigue_scale"}

#: population words -> the population they name
GROUP_WORDS = {"fm": "fm", "cases": "fm", "patients": "fm", "fibromyalgia": "fm", "controls": "controls",
               "healthy controls": "controls", "control": "controls", "everyone": "general",
               "the general population": "general", "general population": "general", "adults": "general"}
#: words for the group side and the comparator side of a comparison ("drug minus placebo")
GROUP_SIDE = ("fm", "cases", "patients", "exposed", "drug", "treated", "treatment", "active", "intervention",
              "challenged", "deprived", "exercise", "women", "later")
COMPARATOR_SIDE = ("controls", "control", "healthy controls", "unexposed", "placebo", "usual care", "untreated",
                   "unchallenged", "comparator", "sham", "waiting list", "men", "earlier", "baseline")
FILLERS = frozenset({"the", "a", "an", "and"})
#: phrase kinds a target says at most once
_ONCE = ("event", "percentile", "horizon", "with", "responder", "population", "sex", "stimulus", "precedes",
         "visits", "last_years", "status", "comparison", "flare", "flare_definition", "reactivity", "change")

_NUM = r"(\d+(?:\.\d+)?)"
_UNIT = r"(y|yr|yrs|years?|months?|weeks?|days?|nights?|decades?|hours?)"
_UNIT_DAYS = {"y": DAYS_PER["year"], "yr": DAYS_PER["year"], "yrs": DAYS_PER["year"], "decade": 3652.5,
              "hour": 1.0 / 24.0, **DAYS_PER}
_NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
                 "nine": 9, "ten": 10, "twelve": 12, "twenty": 20, "thirty": 30}


def unit_days(unit: str) -> float:
    """Days in one time unit word (``y``, ``months``, ``decade``, ...)."""
    u = unit.lower()
    return _UNIT_DAYS.get(u, _UNIT_DAYS.get(u.rstrip("s"), float("nan")))


@dataclass
class Reading:
    """What the words of `measure.of` ask for (fields left at their defaults were not said).

    Attributes
    ----------
    flip
        A leading *less/lower/fewer/reduced/smaller*, or a comparison written comparator
        first ("placebo minus drug"): the statistic is taken comparator against group.
    event
        ``(op, x)``: a proportion counts values ``op x`` (``>``, ``>=``, ``<``, ``<=``).
    percentile
        ``(below, q)``: a proportion counts values below (or above) the q-th percentile of controls.
    negative
        For a 0/1 observation: True counts 0s (``negative``, ``symptom-free``), False 1s.
    ever, by_end
        ``ever``: was the 0/1 observation ever 1; ``by mid-life``/``by the end``: up to the end of the cohort.
    with_
        The second instrument of a correlation ("with FIQR"), as written.
    population
        A group named in words ("in FM", "among cases"); it must be the target's population.
    horizon
        ``(lo, hi)`` days after t0 ("1-2 y after diagnosis", "10 years later").
    change
        "change": the statistic compares changes (trials, follow-ups).
    responder
        Fraction of pain reduction that makes a responder (">= 30 % pain reduction" -> 0.3).
    visits
        ``any`` (at least one visit), ``all`` (every visit) or ``share`` (share of visits) for a
        visit schedule given in ``at``.
    last_years
        "during the last k years": the 0/1 observation held over the last k years before the visit.
    flare, flare_rise, flare_days, flare_per
        Flares: ``any`` ("at least one flare") or ``rate`` ("flares per year", per `flare_per`
        days); a flare is a rise of `flare_rise` over the person's own baseline lasting at
        least `flare_days` days.
    precedes
        "before first case status" (``case``) or "before NAME > x" (instrument, op, x): the
        event of `of` happened first.
    reactivity
        "change from before to during the challenge": the statistic compares that change.
    stimulus
        A stimulus of fixed intensity ("to 4 kg/cm2"), kg/cm^2.
    sex
        "women" (1) or "men" (0): a share or a subgroup by per-person sex.
    reversed
        A comparison written comparator first ("placebo minus drug", "control / FM"): the
        comparative statistic is taken comparator against group.
    read
        ``(kind, text)`` of every phrase read, in order.
    """

    flip: bool = False
    event: tuple[str, float] | None = None
    percentile: tuple[bool, float] | None = None
    negative: bool | None = None
    ever: bool = False
    by_end: bool = False
    with_: str | None = None
    population: str | None = None
    horizon: tuple[float, float] | None = None
    change: bool = False
    responder: float | None = None
    visits: str | None = None
    last_years: float | None = None
    flare: str | None = None
    flare_rise: float | None = None
    flare_days: float | None = None
    flare_per: float | None = None
    precedes: str | tuple[str, str, float] | None = None
    reactivity: bool = False
    stimulus: float | None = None
    sex: int | None = None
    reversed: bool = False
    read: list[tuple[str, str]] = field(default_factory=list)

    def said(self) -> set[str]:
        """The kinds of phrase read (``event``, ``horizon``, ``comparison``, ...)."""
        return {k for k, _ in self.read}

    def honour(self, target: Target, kinds: Iterable[str]) -> None:
        """Raise unless the design honours every phrase read (by kind)."""
        ok = set(kinds) | {"observation", "magnitude", "population", "between", "after"}
        bad = [text for kind, text in self.read if kind not in ok]
        if bad:
            raise NotExpressible(f"a {target.design} target cannot honour {', '.join(map(repr, bad))} in `of`; "
                                 "see docs/targets.md for what each design reads")


def _norm(text: str) -> str:
    t = text.replace("≥", ">=").replace("≤", "<=").replace("–", "-").replace("—", "-")
    return " " + re.sub(r"\s+", " ", t.strip().lower()) + " "


def _words(text: str) -> list[str]:
    """The words left after reading, punctuation and fillers dropped."""
    out = []
    for w in re.split(r"[\s,;:()]+", text):
        w = w.strip(".|")
        if w and w not in FILLERS:
            out.append(w)
    return out


def _alternatives(words: Iterable[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


def instrument_key(name: str) -> str | None:
    """The instrument a name or alias stands for, or None."""
    key = ALIASES.get(name.lower(), name.lower())
    return key if key in INSTRUMENTS else None


def read_of(target: Target) -> Reading:
    """Read `measure.of` completely.

    Raises
    ------
    NotExpressible
        quoting the words the grammar could not read, or a phrase that contradicts the
        target (a different instrument, a different population, a horizon in a design
        that has none).
    """
    r = Reading()
    of = target.measure.of
    if of is None:
        return r
    text = _norm(of)
    obs = target.measure.observation
    design = target.design

    def take(pattern: str, what: str) -> list[re.Match[str]]:
        nonlocal text
        found = list(re.finditer(pattern, text))
        if found:
            r.read.extend((what, m.group(0).strip()) for m in found)
            text = re.sub(pattern, " | ", text)
        return found

    if take(r"^\s*(less|lower|fewer|reduced|smaller)\b", "direction"):
        r.flip = True
    take(r"^\s*(more|higher|greater|increased|larger)\b", "direction_up")
    take(r",?\s*\bmagnitude\b", "magnitude")
    # episodes and schedules first: their words must not be read as plainer phrases
    for m in take(r"\(?\b(?:a )?rise of " + _NUM + r" (?:points? )?(?:or more )?(?:above|over) (?:the person's |their |"
                  r"its |the )?own baseline (?:lasting|for) (?:at least |>= ?)" + _NUM + r" " + _UNIT + r"\)?",
                  "flare_definition"):
        r.flare_rise = float(m.group(1))
        r.flare_days = float(m.group(2)) * unit_days(m.group(3))
    if take(r"\b(?:the )?(?:share|proportion) (?:of people )?with at least (?:one|1) flare\b|"
            r"\bat least (?:one|1) flare\b", "flare"):
        r.flare = "any"
    for m in take(r"\bflares? per (person-)?" + _UNIT + r"\b", "flare"):
        r.flare, r.flare_per = "rate", unit_days(m.group(2))
    if take(r"\bflares?\b", "flare"):  # a flare without a quantifier: the target says what about flares
        raise NotExpressible("say what is counted about flares: 'at least one flare' or 'flares per year'")
    if take(r"\b(?:change|rise|fall) from before to during (?:the )?(?:challenge|stress test|stressor|task|stimulus)\b"
            r"|\breactivity(?: to (?:the )?(?:challenge|stress test|stressor|task))?\b", "reactivity"):
        r.reactivity = True
    for m in take(r"\b(?:to|at) (?:a )?" + _NUM + r" ?kg/cm(?:2|\^2|²)(?: pressure)?(?: stimulus)?\b", "stimulus"):
        r.stimulus = float(m.group(1))
    for m in take(r"\bat least (one|1) visits? (negative|positive)\b|\b(negative|positive) at least once\b", "visits"):
        r.visits, r.negative = "any", "negative" in m.group(0)
    for m in take(r"\ball visits (negative|positive)\b|\b(negative|positive) at (every|all) visits?\b", "visits"):
        r.visits, r.negative = "all", "negative" in m.group(0)
    for m in take(r"\b(the )?(share|proportion|fraction) of visits (negative|positive)\b", "visits"):
        r.visits, r.negative = "share", "negative" in m.group(0)
    for m in take(r"\b(symptom-free|criteria-negative|negative) (during|throughout|over|in) the last "
                  + _NUM + r" " + _UNIT + r"\b", "last_years"):
        r.negative = True
        r.last_years = float(m.group(3)) * unit_days(m.group(4)) / DAYS_PER["year"]
    for m in take(r"(>=|at least)\s*" + _NUM + r"\s*(%|percent)\s*(pain )?(reduction|improvement|responders?)"
                  r"( in pain| of pain)?( from baseline)?", "responder"):
        r.responder = float(m.group(2)) / 100.0
    for m in take(r"\b" + _NUM + r"(?:\s*-\s*" + _NUM + r")?\s*" + _UNIT + r" (after|from) "
                  r"(diagnosis|baseline|t0|the cross-section|exposure|the exposure|onset)\b|\b"
                  + _NUM + r"\s*" + _UNIT + r" later\b", "horizon"):
        if m.group(1) is not None:
            lo = float(m.group(1))
            hi = float(m.group(2)) if m.group(2) else lo
            days = unit_days(m.group(3))
        else:
            lo = hi = float(m.group(6))
            days = unit_days(m.group(7))
        r.horizon = (lo * days, hi * days)
    if take(r"\bchange (from|since) baseline\b", "change"):
        r.change = True
    if take(r"\b(before|preceding|prior to) (the )?first (case status|case|diagnosis)\b", "precedes"):
        r.precedes = "case"
    nouns = _alternatives(w for ws in NOUNS.values() for w in ws)
    names = _alternatives(list(INSTRUMENTS) + list(ALIASES))
    for m in take(rf"\b(?:before|preceding) ({names}|{nouns}) ?(>=|<=|>|<) ?(-?\d+(?:\.\d+)?)", "precedes"):
        key = instrument_key(m.group(1)) or next(k for k, ws in NOUNS.items() if m.group(1) in ws)
        r.precedes = (key, m.group(2), float(m.group(3)))
    for m in take(r"\b(below|above)\s+the\s+" + _NUM + r"(?:st|nd|rd|th)?\s+percentile\s+of\s+(healthy )?controls\b",
                  "percentile"):
        r.percentile = (m.group(1) == "below", float(m.group(2)))
    for m in take(rf"\bwith ({names})\b", "with"):
        r.with_ = m.group(1)
    # a comparison "A minus|vs|/ B": which side is the group decides the sign
    sides = _alternatives(GROUP_SIDE + COMPARATOR_SIDE)
    for m in take(rf"\b(?P<l>{sides})(?P<ln> (?:{nouns}))?\s*(?:minus|vs\.?|versus|/|over|against)\s*"
                  rf"(?P<r>{sides})(?P<rn> (?:{nouns}))?\b", "comparison"):
        for noun in (m.group("ln"), m.group("rn")):
            if noun:
                _same_instrument(noun, obs)
        left, right = m.group("l"), m.group("r")
        if left in COMPARATOR_SIDE and right in GROUP_SIDE:
            r.reversed = True
        elif not (left in GROUP_SIDE and right in COMPARATOR_SIDE):
            raise NotExpressible(f"cannot tell which side of {m.group(0).strip()!r} is the group and which the "
                                 "comparator; write e.g. 'drug minus placebo' or 'FM / controls'")
    if take(r"\bbetween groups\b", "between"):
        if design not in ("case_control", "challenge", "trial", "exposure_cohort"):
            raise NotExpressible(f"`of` says 'between groups', but a {design} target has one group")
    # "after deprivation": the measurement follows the target's own challenge or exposure
    said = " ".join(filter(None, [_describe(target.challenge), _describe(target.exposure)])).lower()
    for m in list(re.finditer(r"\bafter ([a-z][a-z-]*)\b", text)):
        if m.group(1) in re.findall(r"[a-z][a-z-]*", said) and m.group(1) not in ("the", "a"):
            r.read.append(("after", m.group(0).strip()))
            text = text.replace(m.group(0), " | ", 1)
    if take(r"\b(ever)( a)?( case| cases| ill| diagnosed| positive)?\b", "ever"):
        r.ever = True
    if take(r"\bby (mid-life|midlife|the end( of (the )?(cohort|follow-up))?)\b", "by_end"):
        r.by_end = True
    for m in take(r"\b(criteria-)?(negative|positive)\b|\bsymptom-free\b", "status"):
        r.negative = m.group(0).strip() == "symptom-free" or m.group(2) == "negative"
    for m in take(r"\b(in|within|among)\s+(" + _alternatives(GROUP_WORDS) + r")\b", "population"):
        r.population = GROUP_WORDS[m.group(2)]
    for m in take(r"\b(?:(?:in|among) )?(women|woman|females?|men|man|males?)\b", "sex"):
        r.sex = 1 if m.group(1).startswith(("wom", "fem")) else 0
    for m in take(r"(>=|<=|>|<)\s*(-?\d+(?:\.\d+)?)", "event"):
        r.event = (m.group(1), float(m.group(2)))
    # what is left must name the target's own observation
    for m in take(r"\b(" + nouns + r"|" + _alternatives(INSTRUMENTS) + r")\b", "observation"):
        _same_instrument(m.group(0).strip(), obs)
    left = _words(text)
    if left:
        raise NotExpressible(f"cannot read {' '.join(left)!r} in `of` ({of!r}); the words fitts reads are "
                             "listed in docs/targets.md (What the words in `of` mean)")
    if not r.read:
        raise NotExpressible(f"`of` ({of!r}) says nothing fitts reads; leave it out or say what is summarised")
    for kind in _ONCE:  # two events (or horizons, ...) would leave all but one unscored
        said = [text for k, text in r.read if k == kind]
        if len(said) > 1:
            raise NotExpressible(f"`of` says {' and '.join(map(repr, said))}; a target reads one {kind} "
                                 "(write one target per statement)")
    _check_design(r, target)
    return r


def _describe(exp: object) -> str:
    if exp is None or isinstance(exp, str):
        return ""
    parts = [getattr(exp, k, None) for k in ("kind", "for_", "input", "intervention")]
    clamp = getattr(exp, "clamp", None)
    if clamp is not None:
        parts.append(clamp.state.replace("_", " "))
    return " ".join(str(p) for p in parts if p)


def _same_instrument(words: str, obs: str) -> None:
    """Raise if `words` name an instrument other than `obs` (a noun shared by both is fine)."""
    words = words.strip()
    named = {k for k, ws in NOUNS.items() for w in ws if re.search(rf"\b{re.escape(w)}\b", words)}
    named |= {k for k in INSTRUMENTS if re.search(rf"\b{re.escape(k)}\b", words)}
    if named and obs not in named and instrument_key(obs) not in named:
        raise NotExpressible(f"`of` speaks of {words!r} ({', '.join(sorted(named))}), but the observation is "
                             f"{obs!r}; name the observation the statistic is computed from")


def _check_design(r: Reading, t: Target) -> None:
    """Phrases that only some designs can honour."""
    d = t.design
    if r.population is not None and r.population != t.population:
        raise NotExpressible(f"`of` says the statistic is taken in {r.population!r}, but the target's "
                             f"population is {t.population!r}; write `population: {r.population}`")
    if r.horizon is not None and d not in ("follow_up", "exposure_cohort", "trial"):
        raise NotExpressible(f"`of` gives a time after t0, but a {d} target is observed at t0; use design follow_up")
    if r.change and d not in ("trial", "follow_up"):
        raise NotExpressible(f"`of` says 'change from baseline', but a {d} target compares levels, not changes")
    if r.visits is not None and d != "follow_up":
        raise NotExpressible("a statement over visits needs design follow_up with a visit schedule in `at` "
                             "(e.g. 'every 6 months for 3 years')")
    if r.responder is not None and d != "trial":
        raise NotExpressible("responders (>= N % pain reduction) are counted in trials")
    if r.flare is not None and r.flare_rise is None:
        said = next(text for kind, text in r.read if kind == "flare")
        raise NotExpressible(f"{said!r} needs the flare's definition in `of`, e.g. '(rise of 2 points over own "
                             "baseline for at least 3 days)'")
    if r.flare_rise is not None and r.flare is None:
        raise NotExpressible("a flare definition needs what is counted: 'at least one flare' or 'flares per year'")


@dataclass(frozen=True)
class When:
    """What `measure.at` (or an exposure's `at`/`for`) says: one time, or a schedule of visits.

    ``times`` are days after t0 (one for a single time); ``schedule`` is True for "every
    6 months for 3 years" (visits at 6, 12, ..., 36 months).
    """

    times: tuple[float, ...]
    schedule: bool = False

    @property
    def last(self) -> float:
        return self.times[-1]


def _duration(text: str) -> float | None:
    m = re.fullmatch(r"\s*(" + _NUM[1:-1] + r"|" + "|".join(_NUMBER_WORDS) + r")\s*[- ]?\s*" + _UNIT
                     + r"(?:\s*\([^()]*\))?\s*", text.lower())
    if not m:
        return None
    n = float(_NUMBER_WORDS[m.group(1)]) if m.group(1) in _NUMBER_WORDS else float(m.group(1))
    return n * unit_days(m.group(2))


def read_duration(value: float | str | None, what: str, default: float | None = None) -> float | None:
    """Days in a duration: a number of days or words (``12 months``, ``2 decades``, ``1 night (total)``).

    A parenthetical comment after the duration is allowed; any other words make the
    target not expressible (never the default).
    """
    if value is None:
        return default
    if isinstance(value, int | float):
        return float(value)
    days = _duration(str(value))
    if days is None:
        raise NotExpressible(f"cannot read the time {value!r} in `{what}`; write a number of days or e.g. "
                             "'12 months', '8 weeks', '2 decades' (a visit schedule: 'every 6 months for 3 years')")
    return days


def read_at(value: float | str | list | None, default: float | None = None) -> When | None:
    """Read `measure.at`: a time, a list of times (a time course), or a visit schedule."""
    if value is None:
        return None if default is None else When((default,))
    if isinstance(value, list):
        return When(tuple(float(read_duration(v, "measure.at")) for v in value))  # type: ignore[arg-type]
    if isinstance(value, str):
        m = re.fullmatch(r"\s*every\s+(.+?)\s+for\s+(.+?)\s*", value.lower())
        if m:
            step = read_duration(m.group(1) if re.match(r"\d", m.group(1)) else "1 " + m.group(1), "measure.at")
            span = read_duration(m.group(2), "measure.at")
            assert step is not None and span is not None
            if step <= 0 or span < step:
                raise NotExpressible(f"the visit schedule {value!r} has no visit")
            k = int(span / step + 1e-9)
            return When(tuple(step * (i + 1) for i in range(k)), schedule=True)
    return When((float(read_duration(value, "measure.at")),))  # type: ignore[arg-type]
