"""The model language as pydantic models: one class per kind of entry.

A model file is plain data. These classes check the shape and the local rules of each
entry (a prior inside its support, tau > 0, a weight prior on the side of its declared
sign); the rules that need the whole composed model (unknown names, parameter cycles,
expressions) live in :mod:`fitts.spec.validate`.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AllowInfNan, BaseModel, ConfigDict, Field, field_validator, model_validator

Grade = Literal["established", "supported", "plausible", "hypothetical"]
GRADES: tuple[str, ...] = ("established", "supported", "plausible", "hypothetical")
#: model time units per day
TIME_UNITS: dict[str, float] = {"days": 1.0, "hours": 24.0, "minutes": 1440.0}

#: largest magnitude of a number, or of the likely draws of a prior, in a model file
MAX_MAGNITUDE = 1e12
#: standard deviations (or equivalent tail) a prior's draws are checked to
_TAIL_SD = 8.0


def _not_nan(v: float) -> float:
    if math.isnan(v):
        raise ValueError("a bound must be a number or .inf, not NaN")
    return v


#: a bound of an interval: a finite number or +-.inf (never NaN)
Bound = Annotated[float, AllowInfNan(True), AfterValidator(_not_nan)]


def _check_magnitude(v: float, what: str) -> None:
    if abs(v) > MAX_MAGNITUDE:
        raise ValueError(f"{what} {v:g} is out of range: numbers in a model file lie within "
                         f"+-{MAX_MAGNITUDE:g}; rescale the quantity")


def _number_text(v: Any) -> Any:
    """A quantity written as text that is only a number (``"1e308"``, ``"nan"``) is that number,
    so the checks on numbers (finite, within range) apply to it."""
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return v
    return v


class _Entry(BaseModel):
    # NaN and inf are refused in every number except interval bounds (see `Bound`)
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, allow_inf_nan=False)


# --------------------------------------------------------------------------- priors


class _Prior(_Entry):
    """Base of every prior; `support()` is the closed interval the prior lives on."""

    def support(self) -> tuple[float, float]:  # pragma: no cover - abstract
        raise NotImplementedError

    def median_guess(self) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def reach(self) -> float:
        """Largest magnitude the prior's draws can plausibly take (its support, or about
        8 standard deviations into an unbounded tail)."""
        lo, hi = self.support()
        return max(abs(lo), abs(hi))

    @model_validator(mode="after")
    def _bounded_draws(self) -> _Prior:
        r = self.reach()
        if not r <= MAX_MAGNITUDE:
            raise ValueError(f"draws of this prior can reach {r:g}, beyond +-{MAX_MAGNITUDE:g} (they would "
                             "overflow the simulation); give a narrower prior or bounds")
        return self


class FixedPrior(_Prior):
    """A point mass: every patient has `value`."""

    dist: Literal["fixed"]
    value: float

    def support(self) -> tuple[float, float]:
        return (self.value, self.value)

    def median_guess(self) -> float:
        return self.value


class UniformPrior(_Prior):
    dist: Literal["uniform"]
    low: float
    high: float

    @model_validator(mode="after")
    def _order(self) -> UniformPrior:
        if not self.low < self.high:
            raise ValueError(f"uniform prior needs low < high, got low={self.low}, high={self.high}")
        return self

    def support(self) -> tuple[float, float]:
        return (self.low, self.high)

    def median_guess(self) -> float:
        return 0.5 * (self.low + self.high)


class NormalPrior(_Prior):
    """Normal(mean, sd), truncated to `bounds` when given."""

    dist: Literal["normal"]
    mean: float
    sd: float = Field(gt=0)
    bounds: tuple[Bound, Bound] | None = None

    def reach(self) -> float:
        lo, hi = self.support()
        lo = max(lo, self.mean - _TAIL_SD * self.sd)
        hi = min(hi, self.mean + _TAIL_SD * self.sd)
        return max(abs(lo), abs(hi))

    @model_validator(mode="after")
    def _bounds(self) -> NormalPrior:
        if self.bounds is not None:
            lo, hi = self.bounds
            if not lo < hi:
                raise ValueError(f"bounds must be [low, high] with low < high, got {list(self.bounds)}")
            if not lo <= self.mean <= hi:
                raise ValueError(f"mean {self.mean} lies outside bounds {list(self.bounds)}")
        return self

    def support(self) -> tuple[float, float]:
        return self.bounds if self.bounds is not None else (-math.inf, math.inf)

    def median_guess(self) -> float:
        return self.mean


class LogNormalPrior(_Prior):
    """exp(Normal(log(median), sigma)); positive."""

    dist: Literal["lognormal"]
    median: float = Field(gt=0)
    sigma: float = Field(gt=0)

    def support(self) -> tuple[float, float]:
        return (0.0, math.inf)

    def median_guess(self) -> float:
        return self.median

    def reach(self) -> float:
        log_hi = math.log(self.median) + _TAIL_SD * self.sigma
        return math.exp(log_hi) if log_hi < 700 else math.inf


class BetaPrior(_Prior):
    """Beta(a, b) scaled to [low, high] (default [0, 1])."""

    dist: Literal["beta"]
    a: float = Field(gt=0)
    b: float = Field(gt=0)
    low: float = 0.0
    high: float = 1.0

    @model_validator(mode="after")
    def _order(self) -> BetaPrior:
        if not self.low < self.high:
            raise ValueError(f"beta prior needs low < high, got low={self.low}, high={self.high}")
        return self

    def support(self) -> tuple[float, float]:
        return (self.low, self.high)

    def median_guess(self) -> float:
        return self.low + (self.high - self.low) * self.a / (self.a + self.b)


class GammaPrior(_Prior):
    dist: Literal["gamma"]
    shape: float = Field(gt=0)
    scale: float = Field(gt=0)

    def support(self) -> tuple[float, float]:
        return (0.0, math.inf)

    def median_guess(self) -> float:
        return self.shape * self.scale

    def reach(self) -> float:
        return self.scale * (self.shape + _TAIL_SD * math.sqrt(self.shape) + 4 * _TAIL_SD)


class BernoulliPrior(_Prior):
    """1 with probability p, else 0 (a predisposition carried or not)."""

    dist: Literal["bernoulli"]
    p: float = Field(ge=0, le=1)

    def support(self) -> tuple[float, float]:
        return (0.0, 1.0)

    def median_guess(self) -> float:
        return self.p


Prior = Annotated[
    FixedPrior | UniformPrior | NormalPrior | LogNormalPrior | BetaPrior | GammaPrior
    | BernoulliPrior,
    Field(discriminator="dist"),
]
PRIOR_KINDS: tuple[str, ...] = (
    "fixed", "uniform", "normal", "lognormal", "beta", "gamma", "bernoulli",
)

#: A quantity in a model file: a number, an expression over parameters, or a prior.
Value = float | Prior | str


def value_support(value: Value) -> tuple[float, float] | None:
    """Closed interval a value can take, or None for an expression (known only at run time)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return (float(value), float(value))
    if isinstance(value, str):
        return None
    return value.support()


def _check_domain(value: Value, lo: float, hi: float, what: str, hint: str) -> None:
    """Raise ValueError when `value`'s support leaves [lo, hi] (open ends where inf)."""
    sup = value_support(value)
    if sup is None:
        return
    a, b = sup
    if a < lo or b > hi:
        shown = f"[{a:g}, {b:g}]" if a != b else f"{a:g}"
        raise ValueError(f"{what} must lie in [{lo:g}, {hi:g}] but can be {shown}; {hint}")


# --------------------------------------------------------------------------- entries


class NodeSpec(_Entry):
    """A state variable: by default a leaky saturating unit.

    ``dx/dt = (sigmoid(baseline + sum_j w_j x_j + u(t)) - x) / tau + noise * dW``
    """

    label: str | None = None
    description: str | None = None
    units: str = "activation (0-1)"
    group: str | None = None
    tau: Value = 1.0
    baseline: Value = 0.0
    noise: Value = 0.0
    #: expression over states, inputs, parameters, auxiliaries and `t` multiplying the noise
    #: (state-dependent amplitude; evaluated at the start of each step, Itô)
    noise_scale: str | None = None
    initial: Value | None = None
    bounds: tuple[Bound | None, Bound | None] = (0.0, 1.0)
    rate: str | None = None
    #: sign of each state or input a custom rate names directly (when it cannot be derived)
    signs: dict[str, Literal["+", "-"]] | None = None
    source: str | None = None
    grade: Grade | None = None

    _numbers = field_validator("tau", "baseline", "noise", "initial", mode="before")(_number_text)

    @field_validator("signs", mode="before")
    @classmethod
    def _signs(cls, v: Any) -> Any:
        return {k: _parse_sign(x) for k, x in v.items()} if isinstance(v, dict) else v

    @field_validator("tau", "baseline", "noise", "initial")
    @classmethod
    def _finite_size(cls, v: Value, info: Any) -> Value:
        if isinstance(v, int | float) and not isinstance(v, bool):
            _check_magnitude(v, info.field_name)
        return v

    @field_validator("tau")
    @classmethod
    def _tau_positive(cls, v: Value) -> Value:
        sup = value_support(v)
        if sup is not None and sup[0] <= 0:
            raise ValueError(
                f"time constant tau must be > 0 days, but can be {sup[0]:g}; "
                "use a positive number or a prior on (0, inf) such as lognormal"
            )
        return v

    @field_validator("noise")
    @classmethod
    def _noise_nonneg(cls, v: Value) -> Value:
        _check_domain(v, 0.0, math.inf, "noise", "noise is a standard deviation per sqrt(day)")
        return v

    @model_validator(mode="after")
    def _bounds_ordered(self) -> NodeSpec:
        lo, hi = self.bounds
        if lo is not None and hi is not None and not lo < hi:
            raise ValueError(f"bounds must be [low, high] with low < high, got {list(self.bounds)}")
        return self


def _parse_sign(v: Any) -> Any:
    table = {"+": "+", "positive": "+", "1": "+", "+1": "+", "excites": "+",
             "-": "-", "negative": "-", "-1": "-", "inhibits": "-", "−": "-"}
    key = str(v).strip().lower()
    if key in table:
        return table[key]
    raise ValueError(f"sign must be '+' or '-' (or positive/negative), got {v!r}")


class EdgeSpec(_Entry):
    """A signed causal link.

    ``mode: additive`` adds ``weight * x_from`` to the target's drive; ``mode: gating``
    adds ``weight * x_from * x_gate`` (for example nociception gated by central gain).
    """

    from_: str = Field(alias="from")
    to: str
    sign: Literal["+", "-"]
    weight: Value
    mode: Literal["additive", "gating"] = "additive"
    gate: str | None = None
    name: str | None = None
    label: str | None = None
    source: str | None = None
    grade: Grade | None = None
    note: str | None = None

    @field_validator("sign", mode="before")
    @classmethod
    def _sign(cls, v: Any) -> Any:
        return _parse_sign(v)

    _numbers = field_validator("weight", mode="before")(_number_text)

    @field_validator("weight")
    @classmethod
    def _finite_size(cls, v: Value) -> Value:
        if isinstance(v, int | float) and not isinstance(v, bool):
            _check_magnitude(v, "weight")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> EdgeSpec:
        sup = value_support(self.weight)
        if sup is not None:
            lo, hi = sup
            if self.sign == "+" and lo < 0:
                raise ValueError(
                    f"weight prior contradicts the declared sign '+': it can be {lo:g} < 0; "
                    "give a prior on [0, inf) (lognormal, or normal with bounds: [0, .inf])"
                )
            if self.sign == "-" and hi > 0:
                raise ValueError(
                    f"weight prior contradicts the declared sign '-': it can be {hi:g} > 0; "
                    "give a negative prior (uniform with high <= 0, or normal with bounds: [-.inf, 0])"
                )
        if self.mode == "gating" and not self.gate:
            raise ValueError("a gating edge needs `gate: NODE`, the node that multiplies it")
        if self.mode == "additive" and self.gate:
            raise ValueError("`gate` is only meaningful with `mode: gating`")
        return self

    @property
    def id(self) -> str:
        """The edge's name: `name` if given, else 'from -> to'."""
        return self.name or f"{self.from_} -> {self.to}"


class OmissionSpec(_Entry):
    """A claimed link the model deliberately leaves out, with the reason."""

    from_: str = Field(alias="from")
    to: str
    reason: str = Field(min_length=3)
    source: str | None = None


class InputSpec(_Entry):
    """An exogenous time course (stressor, support, ...). Its default level is `default`."""

    label: str | None = None
    description: str | None = None
    units: str = "a.u."
    default: float = 0.0


class ParameterSpec(_Entry):
    """A named quantity: a prior (sampled per patient) or a value (number or expression)."""

    prior: Prior | None = None
    value: float | str | None = None
    bounds: tuple[Bound, Bound] | None = None
    label: str | None = None
    description: str | None = None
    units: str | None = None
    group: str | None = None
    source: str | None = None
    grade: Grade | None = None

    @model_validator(mode="after")
    def _one_of(self) -> ParameterSpec:
        if (self.prior is None) == (self.value is None):
            raise ValueError("give exactly one of `prior` (a distribution) or `value`")
        if self.bounds is not None:
            lo, hi = self.bounds
            if not lo <= hi:
                raise ValueError(f"bounds must be [low, high] with low <= high, got {list(self.bounds)}")
        if isinstance(self.value, int | float):
            _check_magnitude(self.value, "value")
        if self.bounds is not None:
            lo, hi = self.bounds
            if self.prior is not None:
                _check_domain(self.prior, lo, hi, "prior", "the prior lies outside the parameter's bounds")
            elif isinstance(self.value, int | float):
                _check_domain(self.value, lo, hi, "value", "the value lies outside the bounds")
        return self

    @property
    def quantity(self) -> Value:
        return self.prior if self.prior is not None else self.value  # type: ignore[return-value]


# --------------------------------------------------------------------------- schedules


class _Component(_Entry):
    input: str
    start: float = Field(0.0, ge=0, le=MAX_MAGNITUDE)
    end: float | None = Field(None, le=MAX_MAGNITUDE)

    @model_validator(mode="after")
    def _window(self) -> _Component:
        for name in ("level", "from_level", "to_level", "magnitude", "duration", "period"):
            v = getattr(self, name, None)
            if isinstance(v, int | float) and not isinstance(v, bool):
                _check_magnitude(v, name.removesuffix("_level") if name != "to_level" else "to")
        for v in getattr(self, "values", None) or []:
            _check_magnitude(v, "a value of `values`")
        if self.end is not None and self.end <= self.start:
            raise ValueError(f"end ({self.end}) must come after start ({self.start})")
        return self


class StepComponent(_Component):
    """`level` from `start` until `end` (or forever)."""

    kind: Literal["step"]
    level: float


class PulseComponent(_Component):
    """`level` for `duration` days from `start`."""

    kind: Literal["pulse"]
    level: float
    duration: float = Field(gt=0)


class RampComponent(_Component):
    """Linear from `from` at `start` to `to` at `end`, then held at `to`."""

    kind: Literal["ramp"]
    from_level: float = Field(0.0, alias="from")
    to_level: float = Field(alias="to")
    end: float  # type: ignore[assignment]


class DailyComponent(_Component):
    """A repeating pattern: `values` equally spaced over each `period` (default 1 day)."""

    kind: Literal["daily"]
    values: list[float] = Field(min_length=1, max_length=10_000)
    period: float = Field(1.0, gt=0)


class EventsComponent(_Component):
    """Random life events: a Poisson process per patient at `rate_per_year`.

    Each event adds `magnitude` (a number or a prior sampled per event) for `duration` days.
    """

    kind: Literal["events"]
    rate_per_year: float = Field(gt=0, le=10_000)
    magnitude: float | Prior = 1.0
    duration: float = Field(gt=0)


ScheduleComponent = Annotated[
    StepComponent | PulseComponent | RampComponent | DailyComponent | EventsComponent,
    Field(discriminator="kind"),
]


# --------------------------------------------------------------------------- interventions


class ClampAction(_Entry):
    """Hold a state at `value` while the intervention is active."""

    clamp: str
    value: float


class ScaleEdgeAction(_Entry):
    """Multiply an edge's weight by `factor` (0 cuts it)."""

    scale_edge: str
    factor: float = Field(ge=0)


class CutEdgeAction(_Entry):
    cut_edge: str


class ShiftAction(_Entry):
    """Add `by` to a parameter (before derived parameters are computed)."""

    shift: str
    by: float


class SetAction(_Entry):
    """Set a parameter to `to`."""

    set: str
    to: float


class SetStateAction(_Entry):
    """Set a state to `to` once, at the intervention's start (a clamp holds it; this lets go)."""

    set_state: str
    to: float


class InputAction(_Entry):
    """Add an input schedule component, timed relative to the intervention's start."""

    add_input: ScheduleComponent


Action = (ClampAction | ScaleEdgeAction | CutEdgeAction | ShiftAction | SetAction | SetStateAction
          | InputAction)


class InterventionSpec(_Entry):
    label: str | None = None
    description: str | None = None
    actions: list[Action] = Field(min_length=1)
    source: str | None = None
    grade: Grade | None = None


class ObservationSpec(_Entry):
    """A measurement: `expr` over states and parameters, plus Gaussian noise (sd), clipped."""

    expr: str
    units: str
    noise: float = Field(0.0, ge=0)
    bounds: tuple[Bound | None, Bound | None] = (None, None)
    integer: bool = False
    label: str | None = None
    description: str | None = None
    source: str | None = None


# --------------------------------------------------------------------------- auxiliaries, events


class AuxiliarySpec(_Entry):
    """A named expression over states, inputs, parameters, `t` and other auxiliaries.

    Computed once per evaluation of the rates (a local variable of the generated code),
    usable in rates, observations, events and other auxiliaries; recorded on request.
    """

    expr: str | float
    label: str | None = None
    description: str | None = None
    units: str | None = None
    source: str | None = None

    @field_validator("expr", mode="before")
    @classmethod
    def _text(cls, v: Any) -> Any:
        if isinstance(v, bool):
            raise ValueError("an auxiliary is an expression or a number, not true/false")
        return v


class EventSpec(_Entry):
    """A discrete update of states and parameters.

    Exactly one trigger: `at` (a time or a list of times), `every` (a period, first at
    `start`, default one period; up to `end`), or `when` (an expression) crossing the level
    `crosses` (default 0) in `direction` up, down or either. `set` maps each updated state or
    parameter to an expression evaluated just before the event (all right-hand sides see the
    values before this event's updates); `uniform()`, `normal()` and `bernoulli(p)` draw from
    the patient's event stream.
    """

    set: dict[str, str | float] = Field(min_length=1, max_length=1000)
    at: float | list[float] | None = None
    every: float | None = Field(None, gt=0, le=MAX_MAGNITUDE)
    start: float | None = Field(None, ge=0, le=MAX_MAGNITUDE)
    end: float | None = Field(None, gt=0, le=MAX_MAGNITUDE)
    when: str | None = None
    crosses: float | str = 0.0
    direction: Literal["up", "down", "either"] = "up"
    tolerance: float = Field(1e-9, gt=0, le=1.0)
    label: str | None = None
    description: str | None = None
    source: str | None = None

    @field_validator("set", mode="before")
    @classmethod
    def _no_bools(cls, v: Any) -> Any:
        for k, x in (v.items() if isinstance(v, dict) else ()):
            if isinstance(x, bool):
                raise ValueError(f"set.{k}: write a number or an expression, not true/false")
        return v

    @model_validator(mode="after")
    def _one_trigger(self) -> EventSpec:
        given = [k for k in ("at", "every", "when") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one trigger: `at` (times), `every` (a period) or "
                             f"`when` (a condition crossing a level); got {given or 'none'}")
        if self.at is not None:
            times = self.at if isinstance(self.at, list) else [self.at]
            if not times or len(times) > 100_000:
                raise ValueError("`at` needs 1 to 100000 times")
            for v in times:
                if not 0 <= v <= MAX_MAGNITUDE:
                    raise ValueError(f"event time {v:g} must lie in [0, {MAX_MAGNITUDE:g}]")
        if (self.start is not None or self.end is not None) and self.every is None:
            raise ValueError("`start` and `end` belong to a periodic event (`every`)")
        if self.every is not None and self.end is not None and self.end <= self.first:
            raise ValueError(f"end ({self.end}) must come after the first event ({self.first})")
        if self.when is None and ("crosses" in self.model_fields_set
                                  or "direction" in self.model_fields_set):
            raise ValueError("`crosses` and `direction` belong to a state event (`when`)")
        return self

    @property
    def first(self) -> float:
        """Time of the first occurrence of a periodic event (`start`, default one period)."""
        return self.start if self.start is not None else float(self.every or 0.0)

    @property
    def scheduled(self) -> bool:
        """Whether the event fires at times known in advance (`at` or `every`)."""
        return self.when is None

    def times(self, horizon: float) -> list[float]:
        """Occurrence times of a scheduled event in [0, horizon] (days), sorted."""
        if self.at is not None:
            times = self.at if isinstance(self.at, list) else [self.at]
            return sorted(v for v in times if v <= horizon)
        assert self.every is not None
        stop = horizon if self.end is None else min(self.end, horizon)
        n = int((stop - self.first) / self.every + 1e-9) + 1 if stop >= self.first else 0
        # k * every from the first time (not repeated addition): no drift over long runs
        return [self.first + k * self.every for k in range(max(n, 0))]


# --------------------------------------------------------------------------- files


class ExcludeSpec(_Entry):
    nodes: list[str] = []
    edges: list[str] = []
    inputs: list[str] = []
    parameters: list[str] = []
    interventions: list[str] = []
    observations: list[str] = []
    omissions: list[str] = []
    auxiliaries: list[str] = []
    events: list[str] = []


class OverrideSpec(_Entry):
    """Partial entries merged onto included ones (only the given fields change)."""

    nodes: dict[str, dict[str, Any]] = {}
    edges: dict[str, dict[str, Any]] = {}
    inputs: dict[str, dict[str, Any]] = {}
    parameters: dict[str, dict[str, Any]] = {}
    interventions: dict[str, dict[str, Any]] = {}
    observations: dict[str, dict[str, Any]] = {}
    auxiliaries: dict[str, dict[str, Any]] = {}
    events: dict[str, dict[str, Any]] = {}


class IncludeSpec(_Entry):
    """Another model file (`path`, relative to this one) or a built-in `module`."""

    path: str | None = None
    module: str | None = None
    exclude: ExcludeSpec = ExcludeSpec()
    override: OverrideSpec = OverrideSpec()

    @model_validator(mode="after")
    def _one_of(self) -> IncludeSpec:
        if (self.path is None) == (self.module is None):
            raise ValueError("give exactly one of `path` (a file) or `module` (a built-in module)")
        return self


SECTIONS: tuple[str, ...] = (
    "nodes", "inputs", "edges", "omissions", "parameters", "interventions", "observations",
    "auxiliaries", "events",
)


class FileHeader(_Entry):
    """Top level of a model file; the sections are checked entry by entry elsewhere."""

    fitts: int = 1
    name: str | None = None
    description: str | None = None
    #: the unit of the model's time: its rates, tau, noise, `t`, event times, schedule times, dt
    time_unit: Literal["days", "hours", "minutes"] = "days"
    #: the step (in `time_unit`) the model requires: a published per-step scheme; other steps are refused
    dt: float | None = Field(None, gt=0, le=MAX_MAGNITUDE)
    version: str | None = None
    source: str | None = None
    includes: list[IncludeSpec] = []
    schedule: list[ScheduleComponent] = []
    nodes: dict[str, Any] = {}
    inputs: dict[str, Any] = {}
    edges: list[Any] = []
    omissions: list[Any] = []
    parameters: dict[str, Any] = {}
    interventions: dict[str, Any] = {}
    observations: dict[str, Any] = {}
    auxiliaries: dict[str, Any] = {}
    events: dict[str, Any] = {}
