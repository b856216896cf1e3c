"""Trial files (format ``fitts-trial/1``): read, validate and check against the theory.

A trial file is YAML validated like a model file: every error names the file, the line
and the entry, and says what to write instead. See ``docs/trials.md`` for the format and
``models/trials/example.yaml`` for an example.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from fitts.compile.compiled import CompiledModel, compile_model
from fitts.errors import FittsError, Location, ModelError, did_you_mean, display_path, excerpt
from fitts.observe.instruments import expressible
from fitts.population.recruit import RULES, Recruitment, everyday_schedule
from fitts.population.sample import PopulationSpec
from fitts.sim.simulate import Apply
from fitts.spec.files import check_path_text, is_readable_file
from fitts.spec.load import builtin_theories, load_model
from fitts.spec.schema import InterventionSpec, ScaleEdgeAction, ScheduleComponent, ShiftAction
from fitts.spec.yamlio import data_file_error, line_at, load_yaml_file, locate

FORMAT = "fitts-trial/1"


#: longest trial period (treatment, follow-up, run-in), days (100 years)
MAX_DAYS = 36_500.0


class _Model(BaseModel):
    # every number of a trial file is finite (no .inf, no NaN)
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class InterventionUse(_Model):
    """One intervention of an arm: a model intervention, its window and dose."""

    name: str = Field(description="an intervention of the theory")
    start: float = Field(0.0, ge=0, le=MAX_DAYS, description="days after randomisation")
    end: float | None = Field(None, ge=0, le=MAX_DAYS,
                              description="days after randomisation (default: end of treatment)")
    dose: float = Field(1.0, gt=0, le=1000, description="multiplies shifts; edge factors are raised to this power")


class ArmSpec(_Model):
    name: str = Field(min_length=1)
    interventions: list[InterventionUse] = []
    allocation: float = Field(1.0, gt=0, le=1000, description="allocation ratio")
    control: bool = False
    description: str | None = None


class CorrelationSpec(_Model):
    between: tuple[str, str]
    rho: float = Field(gt=-1, lt=1)


class PopulationSettings(_Model):
    recruit: Literal["all", "cases", "controls"] = "cases"
    run_in_days: float = Field(364.0, gt=0, le=MAX_DAYS, description="everyday life before screening, days")
    everyday: str | list[ScheduleComponent] = Field(
        "default", description="`default` (the built-in protocol's stressors), a protocol file, or components")
    prevalence: dict[str, float] = {}
    correlation: list[CorrelationSpec] = []
    max_screened: int | None = Field(None, ge=1, le=10**9, description="stop screening after this many candidates")


class Randomisation(_Model):
    seed: int = Field(0, ge=0, lt=2**63, description="seed of arm allocation and dropout")


class DropoutSpec(_Model):
    rate_per_year: float = Field(0.0, ge=0, le=1000, description="baseline dropout hazard, per year")
    pain_weight: float = Field(0.0, ge=0, le=100, description="log hazard ratio per NRS point of pain above baseline")


class OutcomeSpec(_Model):
    responders: list[float] = Field([0.3, 0.5], description="fractions of pain reduction defining responders")
    subtypes: Literal["predisposition", "none"] = "predisposition"

    @model_validator(mode="after")
    def _fractions(self) -> OutcomeSpec:
        for f in self.responders:
            if not 0 < f <= 1:
                raise ValueError(f"a responder threshold is a fraction of pain reduction in (0, 1], not {f}")
        return self


class TrialSpec(_Model):
    """A trial file, as validated data."""

    format: Literal["fitts-trial/1"]
    name: str
    description: str | None = None
    theory: str
    seed: int = Field(0, ge=0, lt=2**63, description="seed of the virtual patients")
    patients: int = Field(ge=2, le=10_000_000, description="patients randomised")
    population: PopulationSettings = PopulationSettings()
    arms: list[ArmSpec] = Field(min_length=2)
    randomisation: Randomisation = Randomisation()
    duration_days: float = Field(gt=0, le=MAX_DAYS, description="treatment period, days")
    follow_up_days: float = Field(0.0, ge=0, le=MAX_DAYS, description="follow-up after treatment, days")
    assess_every_days: float = Field(7.0, ge=0.01, le=MAX_DAYS, description="days between visits")
    dt: float = Field(0.05, gt=0, le=1, description="integration step, days")
    dropout: DropoutSpec = DropoutSpec()
    outcomes: OutcomeSpec = OutcomeSpec()
    source: str | None = None

    @model_validator(mode="after")
    def _arms(self) -> TrialSpec:
        names = [a.name for a in self.arms]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"arm names must be unique; {excerpt(dup[0])} is used twice")
        if sum(a.control for a in self.arms) > 1:
            raise ValueError("at most one arm may be the control (`control: true`)")
        for what, v in (("duration_days", self.duration_days), ("follow_up_days", self.follow_up_days)):
            k = v / self.assess_every_days
            if k > 100_000:
                raise ValueError(f"{what} ({v:g}) holds more than 100000 visits; assess less often")
            if abs(k - round(k)) > 1e-9:
                raise ValueError(f"{what} ({v:g}) must be a whole number of visits "
                                 f"(assess_every_days = {self.assess_every_days:g})")
        return self

    @property
    def control(self) -> int:
        """Index of the control arm (the one marked `control`, else the first)."""
        return next((i for i, a in enumerate(self.arms) if a.control), 0)

    @property
    def days(self) -> float:
        return self.duration_days + self.follow_up_days


@dataclass(frozen=True)
class TheoryCalibration:
    """A calibration as a trial applies it (see
    :func:`fitts.evaluate.calibrate.trial_calibration`): the prior knobs of the theory and
    the everyday stressors of the calibrated built-in protocol.

    Attributes
    ----------
    prior_knobs
        ``("prior:PARAM.FIELD", value)`` pairs (see :meth:`CompiledModel.with_prior_knobs`).
    everyday
        Everyday stressors replacing the built-in protocol's in a trial that uses them
        (``everyday: default``); None: unchanged.
    source
        Where the calibration came from (a file), for the record.
    """

    prior_knobs: tuple[tuple[str, float], ...] = ()
    everyday: tuple[Any, ...] | None = None
    source: str = ""

    def key(self) -> str:
        """A content hash (two equal calibrations give the same key)."""
        data = [[list(k) for k in self.prior_knobs],
                None if self.everyday is None else [c.model_dump(mode="json") for c in self.everyday]]
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]

    def apply(self, trial: Trial) -> Trial:
        """The trial on the calibrated theory."""
        spec = trial.spec
        if self.everyday is not None and spec.population.everyday == "default":
            spec = spec.model_copy(update={"population": spec.population.model_copy(
                update={"everyday": list(self.everyday)})})
        return Trial(spec, trial.model.with_prior_knobs(self.prior_knobs), trial.model_ref, trial.path)


class Trial:
    """A validated trial with its compiled theory and resolved population settings."""

    def __init__(self, spec: TrialSpec, model: CompiledModel, model_ref: str, path: str | None = None):
        self.spec, self.model, self.model_ref, self.path = spec, model, model_ref, path
        pop = spec.population
        everyday = everyday_schedule(pop.everyday) if isinstance(pop.everyday, str) else list(pop.everyday)
        self.population = PopulationSpec(dict(pop.prevalence),
                                         tuple((c.between[0], c.between[1], c.rho) for c in pop.correlation))
        self.recruitment = Recruitment(pop.recruit, pop.run_in_days, spec.dt, spec.assess_every_days,
                                       tuple(everyday))
        self.everyday = tuple(everyday)

    def applies(self, arm: int) -> list[Apply]:
        """The arm's interventions as :class:`Apply` (doses folded into the actions)."""
        out = []
        for use in self.spec.arms[arm].interventions:
            base = self.model.spec.interventions[use.name]
            end = self.spec.duration_days if use.end is None else use.end
            out.append(Apply(use.name, use.start, end, spec=dosed(base, use.dose)))
        return out


def dosed(spec: InterventionSpec, dose: float) -> InterventionSpec:
    """An intervention at `dose`: shifts times dose, edge factors to the power dose."""
    if dose == 1.0:
        return spec
    actions = []
    for a in spec.actions:
        if isinstance(a, ShiftAction):
            actions.append(a.model_copy(update={"by": a.by * dose}))
        elif isinstance(a, ScaleEdgeAction):
            actions.append(a.model_copy(update={"factor": a.factor ** dose}))
        else:
            raise ModelError(f"a dose other than 1 needs shift or scale_edge actions, and this intervention has "
                             f"{type(a).__name__.removesuffix('Action').lower()}",
                             hint="use dose: 1, or define a stronger intervention in the model")
    return spec.model_copy(update={"actions": actions})


def _validation_error(exc: ValidationError, data: Any, shown: str | None, here: Location) -> ModelError:
    return data_file_error(exc, data, shown, here, "see docs/trials.md for the fields of a trial file "
                           "(example: fitts/models/trials/example.yaml)")


def load_trial(path: str | Path, theory: str | None = None) -> Trial:
    """Read a trial file, validate it and check it against its theory.

    Parameters
    ----------
    theory
        Replaces the file's `theory` (a built-in name or a model file).

    Raises
    ------
    ModelError
        Naming the file, line and entry of the first problem and what to write instead.
    """
    p = check_path_text(path, what="trial file")
    shown = display_path(p)
    data = load_yaml_file(p, what="trial file")
    here = Location(shown, 1)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ModelError(f"not a trial file: expected `format: {FORMAT}` at the top", here,
                         "start from the example trial (fitts/models/trials/example.yaml)")
    try:
        spec = TrialSpec.model_validate({**data, "source": shown})
    except ValidationError as exc:
        raise _validation_error(exc, data, shown, here) from None
    theory_loc = Location(shown, line_at(data, "theory"), "theory")
    ref = theory or spec.theory
    if ref not in builtin_theories():
        check_path_text(ref, theory_loc if theory is None else Location(entry="--theory"), "theory file")
        cand = p.parent / ref
        if is_readable_file(cand):  # a path is relative to the trial file
            ref = str(cand.resolve())
    try:
        model = compile_model(load_model(ref))
    except FittsError as exc:
        raise ModelError(f"theory {excerpt(ref if theory else spec.theory)}: {exc}",
                         theory_loc if theory is None else Location(shown, None, "--theory")) from None
    spec = _resolve_everyday(spec, p, data, shown)
    trial = _checked(spec, model, ref, data, shown)
    return trial


def _resolve_everyday(spec: TrialSpec, path: Path, data: Any, shown: str | None) -> TrialSpec:
    """`population.everyday` as components: ``default`` is the built-in protocol; any other
    text names a protocol file (``format: fitts-protocol/1``) relative to the trial file,
    which must exist and validate; anything else is refused."""
    everyday = spec.population.everyday
    if not isinstance(everyday, str) or everyday == "default":
        return spec
    from fitts.evaluate.protocol import load_protocol

    loc = Location(shown, locate(data, ["population", "everyday"]), "population.everyday")
    check_path_text(everyday, loc, "protocol file")
    target = path.parent / everyday
    try:
        protocol = load_protocol(target)
    except ModelError as exc:
        raise ModelError(f"everyday: {excerpt(everyday)} is not a usable protocol file: {exc}", loc,
                         "give `default`, a list of schedule components, or the path (relative to the trial "
                         "file) of a protocol file with `format: fitts-protocol/1`") from None
    population = spec.population.model_copy(update={"everyday": list(protocol.everyday)})
    return spec.model_copy(update={"population": population})


def _checked(spec: TrialSpec, model: CompiledModel, ref: str, data: Any, shown: str | None) -> Trial:
    """Check the trial's names and times against the theory."""
    for outcome in ("pain_nrs", "fiqr"):
        ok, reason = expressible(model.states, outcome)
        if not ok:
            raise ModelError(f"theory {excerpt(model.spec.name)} cannot measure the trial outcome "
                             f"{outcome!r}: {reason}",
                             Location(shown, line_at(data, "theory"), "theory"),
                             "run trials on a theory with pain, fatigue, sleep and activity states")
    known = model.spec.interventions
    for i, arm in enumerate(spec.arms):
        for j, use in enumerate(arm.interventions):
            loc = Location(shown, locate(data, ["arms", i, "interventions", j]) or locate(data, ["arms", i]),
                           f"arms[{i}] ({excerpt(arm.name, 40)}) interventions[{j}]")
            if use.name not in known:
                raise ModelError(f"unknown intervention {excerpt(use.name)} for theory {excerpt(model.spec.name)}."
                                 + did_you_mean(use.name, known), loc,
                                 "interventions of the theory: " + (", ".join(known) or "(none)"))
            end = spec.duration_days if use.end is None else use.end
            if not use.start < end <= spec.days + 1e-9:
                raise ModelError(f"intervention {use.name!r} runs from day {use.start:g} to day {end:g}; it must "
                                 f"start before it ends and end by day {spec.days:g} (treatment + follow-up)", loc)
            for t in (use.start, end):
                if abs(t / spec.dt - round(t / spec.dt)) > 1e-6:
                    raise ModelError(f"intervention {use.name!r}: day {t:g} is not a whole number of steps "
                                     f"(dt = {spec.dt:g})", loc)
    pop_loc = Location(shown, line_at(data, "population"), "population")
    try:
        trial = Trial(spec, model, ref, shown)
        trial.population.matrix(model)
        trial.recruitment.check(model)
    except ModelError as exc:
        raise exc.at(pop_loc) from None
    for i, arm in enumerate(spec.arms):
        try:
            trial.applies(i)
        except ModelError as exc:
            raise exc.at(Location(shown, locate(data, ["arms", i]), f"arms[{i}] ({excerpt(arm.name, 40)})")) from None
    return trial


__all__ = ["FORMAT", "RULES", "Trial", "TrialSpec", "load_trial"]
