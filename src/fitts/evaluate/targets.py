"""Explanatory targets: published numbers a theory should reproduce, read from YAML.

A target file (format ``fitts-targets/1``, described in ``docs/targets.md``) lists
targets, each with its study design, the population simulated, the exposure or
challenge applied, the measure and statistic, the published value and the *accept*
band a theory's simulated statistic must land in. The format is part of the product:
users write their own target files, and every error names the file, the line, the
target id and the field.

The calibration set of the built-in theories ships with the package
(``models/targets/calibration.yaml``); :func:`load_targets` with no argument reads it.

Accept bands
------------
``accept`` is written either as one band ``[lo, hi]`` (the simulated statistic must
satisfy ``lo <= x <= hi``) or as a mapping of named checks, all of which must hold::

    accept: {exposed: [0.10, 0.30], ratio_min: 3}

In a mapping, a key ending in ``_min`` or ``_max`` is a one-sided bound (a single
number) on the quantity named by the rest of the key (``ratio_min: 3`` means
``ratio >= 3``); any other key is a band ``[lo, hi]`` on the quantity of that name.
Bands and bounds are inclusive. The names are quantities the evaluator computes for
the target (for an exposure cohort: ``exposed``, ``comparator``, ``ratio`` =
exposed / comparator, ``difference`` = exposed - comparator); see
:func:`accept_passes`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Strict,
    Tag,
    ValidationError,
    model_serializer,
    model_validator,
)

from fitts.errors import Location, ModelError, did_you_mean, display_path
from fitts.spec.yamlio import line_at, load_yaml_file, locate

FORMAT = "fitts-targets/1"

Design = Literal["prevalence", "case_control", "exposure_cohort", "challenge", "diary", "trial", "follow_up"]
Statistic = Literal["proportion", "odds_ratio", "hedges_g", "smd", "ratio", "mean_difference", "correlation",
                    "nnt", "mean", "cross_lagged"]
Grade = Literal["A", "B", "C"]
DESIGNS: tuple[str, ...] = get_args(Design)
STATISTICS: tuple[str, ...] = get_args(Statistic)
GRADES: tuple[str, ...] = get_args(Grade)
#: populations with a fixed meaning; any other text names an exposure group
POPULATIONS: tuple[str, ...] = ("general", "fm", "controls")
#: suffixes that turn a key of a named `accept` mapping into a one-sided bound
BOUND_SUFFIXES: tuple[str, ...] = ("_min", "_max")

_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be blank")
    return text


def _ordered(band: tuple[float, float]) -> tuple[float, float]:
    lo, hi = band
    if lo > hi:
        raise ValueError(f"lower end {lo:g} is above upper end {hi:g}; write [lo, hi] with lo <= hi")
    return band


#: a finite number (an integer is accepted; a quoted number or a boolean is not)
Number = Annotated[float, Strict(), Field(allow_inf_nan=False)]
#: free text, not blank
Text = Annotated[str, Strict(), AfterValidator(_not_blank)]
#: a name from the theory's vocabulary (`physical_trauma`, `acr2016_case`, ...)
Name = Annotated[str, Strict(), Field(pattern=_NAME_PATTERN)]
#: a closed interval [lo, hi] with lo <= hi
Band = Annotated[tuple[Number, Number], AfterValidator(_ordered)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Clamp(_Model):
    """Hold a state at a value (a number or a level word such as ``high``)."""

    state: Name
    value: Number | Text


class Exposure(_Model):
    """The input applied to a group: an exposure, a comparator's exposure or a challenge.

    Give at least one of ``input`` (an input of the theory, applied at ``at``), ``intervention`` (an
    intervention of the theory, for a trial arm),
    ``predisposition`` (a trait parameter) or ``clamp`` (a state held at a value).
    ``kind`` describes in words what the input stands for; ``for`` says how long.
    """

    input: Name | None = None
    intervention: Name | None = None
    kind: Text | None = None
    at: Number | Text | None = None
    predisposition: Name | None = None
    clamp: Clamp | None = None
    for_: Text | None = Field(default=None, alias="for")

    @model_validator(mode="after")
    def _something_applied(self) -> Exposure:
        if self.input is None and self.predisposition is None and self.clamp is None and self.intervention is None:
            raise ValueError("give at least one of `input`, `intervention`, `predisposition` or `clamp`")
        return self


def _exposure_or_group(value: Any) -> str:
    return "Group" if isinstance(value, str) else "Exposure"


#: a comparator is either a population (``controls``) or an exposure of its own
Comparator = Annotated[
    Annotated[Exposure, Tag("Exposure")] | Annotated[Text, Tag("Group")],
    Discriminator(_exposure_or_group),
]


class Measure(_Model):
    """What is observed and which statistic summarises it."""

    observation: Name
    statistic: Statistic
    of: Text | None = None
    at: Number | Text | Annotated[list[Number | Text], Field(min_length=1)] | None = None
    with_: Name | None = Field(default=None, alias="with")
    lag: Annotated[int, Field(ge=0, le=30)] | None = None
    reads: Annotated[dict[Name, Number], Field(min_length=1)] | None = None
    noise: Annotated[float, Strict(), Field(ge=0, allow_inf_nan=False)] | None = None

    @model_validator(mode="after")
    def _noise_needs_reads(self) -> Measure:
        if self.noise is not None and self.reads is None:
            raise ValueError("`noise` is the measurement error of a stated combination; give `reads` too")
        return self


#: words for the sides of a relation -> the quantity the evaluator computes
SIDE_NAMES = {"cases": "group", "fm": "group", "patients": "group", "group": "group", "controls": "comparator",
              "control": "comparator", "comparator": "comparator", "placebo": "comparator",
              "treatment": "treated", "treated": "treated", "drug": "treated", "challenged": "challenged",
              "unchallenged": "unchallenged"}
_RELATION_WORDS = {"above": (">", False), "below": ("<", False), "higher than": (">", False),
                   "lower than": ("<", False), ">": (">", False), "<": ("<", False),
                   "larger than": (">", True), "smaller than": ("<", True)}
_QUANTITY = r"(-?\d+(?:\.\d+)?|[a-z_][a-z0-9_]*)"


@dataclass(frozen=True)
class Relation:
    """A directional accept rule: ``left op right`` on two quantities (or a quantity and a number).

    ``magnitude`` compares absolute values ("forward larger than reverse"). Written as
    "lower in cases", "treated above comparator", "earlier below later", "value below 0",
    "forward larger than reverse".
    """

    left: str | float
    op: str  # "<" or ">"
    right: str | float
    magnitude: bool
    text: str

    def names(self) -> tuple[str, ...]:
        return tuple(x for x in (self.left, self.right) if isinstance(x, str))

    def holds(self, simulated: Mapping[str, float]) -> bool:
        def v(x: str | float) -> float:
            y = float(simulated[x]) if isinstance(x, str) else float(x)
            return abs(y) if self.magnitude else y
        a, b = v(self.left), v(self.right)
        return bool(a > b if self.op == ">" else a < b)


def parse_relation(text: str) -> Relation:
    """Read one directional accept rule (see :class:`Relation`); ValueError says what is accepted."""
    t = " ".join(str(text).lower().split())
    m = re.fullmatch(r"(lower|higher|smaller|larger) in (cases|fm|patients|treated|treatment|challenged)", t)
    if m:
        side = SIDE_NAMES[m.group(2)]
        other = {"group": "comparator", "treated": "comparator", "challenged": "unchallenged"}[side]
        op = "<" if m.group(1) in ("lower", "smaller") else ">"
        return Relation(side, op, other, m.group(1) in ("smaller", "larger"), text)
    words = "|".join(re.escape(w) for w in sorted(_RELATION_WORDS, key=len, reverse=True))
    m = re.fullmatch(_QUANTITY + r" (" + words + r") " + _QUANTITY, t)
    if not m:
        raise ValueError(f"cannot read the rule {text!r}; write 'lower in cases', 'A above B', 'A below B', "
                         "'A larger than B' (magnitudes) or 'A below 0'")

    def side(x: str) -> str | float:
        try:
            return float(x)
        except ValueError:
            return SIDE_NAMES.get(x, x)

    op, magnitude = _RELATION_WORDS[m.group(2)]
    left, right = side(m.group(1)), side(m.group(3))
    if not isinstance(left, str) and not isinstance(right, str):
        raise ValueError(f"the rule {text!r} compares two numbers; name a quantity")
    return Relation(left, op, right, magnitude, text)


class Accept(BaseModel):
    """The band(s) a simulated statistic must land in to pass.

    Written either as ``[lo, hi]`` (:attr:`band`) or as a mapping whose keys ending in
    ``_min``/``_max`` are one-sided bounds (:attr:`bounds`, keyed as written) and whose
    other keys are named bands (:attr:`bands`). Serialises back to the written form.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    band: Band | None = None
    bands: dict[str, Band] = Field(default_factory=dict)
    bounds: dict[str, Number] = Field(default_factory=dict)
    holds: tuple[str, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _from_written(cls, data: Any) -> Any:
        if isinstance(data, list | tuple):
            return {"band": data}
        if isinstance(data, str):
            return {"holds": (data,)}
        if isinstance(data, Mapping):
            if not data:
                raise ValueError("give a band [lo, hi] or a mapping of named bands and bounds")
            bands: dict[str, Any] = {}
            bounds: dict[str, Any] = {}
            holds: Any = ()
            for key, value in data.items():
                key = str(key)
                if key == "holds":
                    holds = (value,) if isinstance(value, str) else value
                    if not isinstance(holds, list | tuple) or not all(isinstance(h, str) for h in holds):
                        raise ValueError("`holds` is a rule in words or a list of them, e.g. 'lower in cases'")
                elif key.endswith(BOUND_SUFFIXES):
                    if not key[:-4]:
                        raise ValueError(f"bound {key!r} names no quantity; write e.g. ratio{key[-4:]}")
                    bounds[key] = value
                else:
                    bands[key] = value
            return {"bands": bands, "bounds": bounds, "holds": tuple(holds)}
        raise ValueError(f"expected a band [lo, hi], a rule in words or a mapping of named bands, got {data!r}")

    @model_validator(mode="after")
    def _consistent(self) -> Accept:
        for rule in self.holds:
            parse_relation(rule)
        for name in {k[:-4] for k in self.bounds}:
            lo, hi = self.bounds.get(f"{name}_min"), self.bounds.get(f"{name}_max")
            if lo is not None and hi is not None and lo > hi:
                raise ValueError(f"{name}_min ({lo:g}) is above {name}_max ({hi:g})")
        return self

    @model_serializer
    def _written(self) -> list[float] | dict[str, Any] | str:
        if self.band is not None:
            return list(self.band)
        if self.holds and not self.bands and not self.bounds and len(self.holds) == 1:
            return self.holds[0]  # type: ignore[return-value]
        extra = {"holds": list(self.holds)} if self.holds else {}
        return {**{k: list(v) for k, v in self.bands.items()}, **self.bounds, **extra}

    @property
    def named(self) -> bool:
        """True for a mapping of named bands and bounds, False for a single band."""
        return self.band is None

    def quantities(self) -> tuple[str, ...]:
        """Names a simulated mapping must provide (empty for a single band)."""
        names = list(self.bands) + [k[:-4] for k in self.bounds]
        names += [n for r in self.relations() for n in r.names()]
        return tuple(dict.fromkeys(names))

    def relations(self) -> tuple[Relation, ...]:
        """The directional rules (``holds``), read."""
        return tuple(parse_relation(h) for h in self.holds)

    def passes(self, simulated: float | Mapping[str, float]) -> bool:
        """Whether `simulated` satisfies every band and bound (inclusive); NaN never passes."""
        if not self.named:
            if isinstance(simulated, Mapping) or isinstance(simulated, bool):
                raise TypeError(f"this accept is a single band; pass one number, not {simulated!r}")
            lo, hi = self.band  # type: ignore[misc]
            return bool(lo <= float(simulated) <= hi)
        if not isinstance(simulated, Mapping):
            raise TypeError(
                "this accept names several quantities; pass a mapping with "
                + ", ".join(repr(q) for q in self.quantities())
            )
        missing = [q for q in self.quantities() if q not in simulated]
        if missing:
            raise KeyError(
                "simulated values lack " + ", ".join(repr(q) for q in missing)
                + "; this accept needs " + ", ".join(repr(q) for q in self.quantities())
            )
        ok = all(lo <= float(simulated[name]) <= hi for name, (lo, hi) in self.bands.items())
        for key, bound in self.bounds.items():
            x = float(simulated[key[:-4]])
            ok = ok and (x >= bound if key.endswith("_min") else x <= bound)
        return bool(ok and all(r.holds(simulated) for r in self.relations()))


class Target(_Model):
    """One published number a theory should reproduce (one entry of a target file)."""

    id: Annotated[str, Strict(), Field(pattern=_ID_PATTERN)]
    title: Text
    design: Design
    population: Text
    exposure: Exposure | None = None
    comparator: Comparator | None = None
    challenge: Exposure | None = None
    measure: Measure
    value: Number | None = None
    interval: Band | None = None
    comparator_value: Number | None = None
    accept: Accept
    grade: Grade
    source: Text
    protocol: Text

    @model_validator(mode="after")
    def _comparator_value_needs_comparator(self) -> Target:
        if self.comparator_value is not None and self.comparator is None:
            raise ValueError("`comparator_value` is given but there is no `comparator`")
        return self

    def to_data(self) -> dict[str, Any]:
        """The target as plain YAML-ready data in its written form (unset fields left out)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class _Header(_Model):
    format: str
    description: Text | None = None
    targets: list[Any]


@dataclass(frozen=True)
class TargetSet:
    """The targets of one file, in file order, looked up by id (``targets["B09"]``)."""

    targets: tuple[Target, ...]
    path: str | None = None
    description: str | None = None
    _by_id: dict[str, Target] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_id: dict[str, Target] = {}
        for t in self.targets:
            if t.id in by_id:
                raise ModelError(f"duplicate target id {t.id!r}", Location(self.path, None, f"target '{t.id}'"))
            by_id[t.id] = t
        object.__setattr__(self, "_by_id", by_id)

    def __getitem__(self, id: str) -> Target:
        try:
            return self._by_id[id]
        except KeyError:
            where = f" in {self.path}" if self.path else ""
            raise KeyError(f"no target {id!r}{where}.{did_you_mean(str(id), self._by_id)} "
                           f"Ids: {', '.join(self._by_id)}") from None

    def __contains__(self, id: object) -> bool:
        return id in self._by_id

    def __iter__(self) -> Iterator[Target]:
        return iter(self.targets)

    def __len__(self) -> int:
        return len(self.targets)

    def ids(self) -> tuple[str, ...]:
        """Target ids in file order."""
        return tuple(self._by_id)


def calibration_path() -> Path:
    """The packaged calibration targets of the built-in theories."""
    from fitts.spec.load import models_dir

    return models_dir() / "targets" / "calibration.yaml"


def load_targets(path: str | Path | None = None) -> TargetSet:
    """Read and validate a target file (default: the packaged calibration targets).

    Raises
    ------
    ModelError
        naming the file, line, target and field of the first problem found.
    """
    p = Path(path) if path is not None else calibration_path()
    shown = display_path(p)
    data = load_yaml_file(p)
    return _parse(data, shown)


# --------------------------------------------------------------------------- parsing


def _parse(data: Any, shown: str | None) -> TargetSet:
    here = Location(shown, getattr(data, "line", None) or 1)
    if not isinstance(data, dict):
        raise ModelError("a target file is a mapping with `format:` and `targets:`", here,
                         f"start the file with `format: {FORMAT}`, then `targets:` and a list of targets")
    fmt = data.get("format")
    if fmt is None:
        raise ModelError("missing required field 'format'", here, f"write `format: {FORMAT}` at the top")
    if fmt != FORMAT:
        raise ModelError(f"unsupported format {fmt!r}; this version of fitts reads {FORMAT!r}",
                         Location(shown, line_at(data, "format")),
                         f"write `format: {FORMAT}`" if isinstance(fmt, str) and fmt.startswith("fitts-targets")
                         else "is this a target file? see docs/targets.md")
    try:
        header = _Header.model_validate(data)
    except ValidationError as exc:
        raise _explain(exc, data, Location(shown), _Header) from None
    raw_targets = data["targets"]
    if not header.targets:
        raise ModelError("the file lists no targets", Location(shown, line_at(data, "targets")),
                         "add at least one target under `targets:`")

    targets: list[Target] = []
    first_line: dict[str, int | None] = {}
    for i, item in enumerate(raw_targets):
        line = line_at(raw_targets, i)
        raw_id = item.get("id") if isinstance(item, dict) else None
        entry = f"target '{raw_id}'" if isinstance(raw_id, str) else f"target #{i + 1}"
        loc = Location(shown, line, entry)
        if not isinstance(item, dict):
            raise ModelError(f"each target must be a mapping of fields, got {item!r}", loc,
                             "start each target with `- id: ...` followed by its fields")
        try:
            target = Target.model_validate(item)
        except ValidationError as exc:
            raise _explain(exc, item, loc, Target) from None
        if target.id in first_line:
            raise ModelError(
                f"duplicate target id {target.id!r} (first written on line {first_line[target.id]})",
                Location(shown, line_at(item, "id"), entry),
                "ids are stable references used in code and reports; give each target its own id",
            )
        first_line[target.id] = line_at(item, "id")
        targets.append(target)
    return TargetSet(tuple(targets), shown, header.description)




#: pydantic puts union members in error locations; they are not written in the file
_NOT_WRITTEN = {"Exposure", "Group", "float", "str"}


def _written_path(loc: tuple[Any, ...]) -> list[str | int]:
    """The part of a pydantic error location that names keys written in the file."""
    out: list[str | int] = []
    for part in loc:
        if isinstance(part, str) and (part in _NOT_WRITTEN or "[" in part):
            continue
        if out == ["accept"] and part in ("band", "bands", "bounds"):
            continue  # Accept's own fields: the file has `accept: [lo, hi]` or `accept: {name: ...}`
        out.append({"for_": "for", "with_": "with"}.get(part, part) if isinstance(part, str) else part)
    return out




def _model_at(root: type[BaseModel], path: list[str | int]) -> type[BaseModel] | None:
    """The model class whose fields live at `path` (for listing allowed fields)."""
    models: dict[str, type[BaseModel]] = {
        "measure": Measure, "exposure": Exposure, "comparator": Exposure, "challenge": Exposure, "clamp": Clamp,
    }
    cls: type[BaseModel] | None = root
    for part in path:
        cls = models.get(str(part)) if cls is not None else None
    return cls


_SOURCE_HINT = "every target needs a citation (`source`) and, in words, how to reproduce it (`protocol`)"
_CHOICES: dict[str, tuple[str, ...]] = {"design": DESIGNS, "statistic": STATISTICS, "grade": GRADES}


def _explain(exc: ValidationError, data: Any, location: Location, root: type[BaseModel]) -> ModelError:
    """Turn a pydantic error into a ModelError naming the field, its line and what to write."""
    errors = exc.errors(include_url=False)
    # an unknown field is usually a misspelt known one: report it before the "missing" it causes
    errors.sort(key=lambda e: e.get("type") != "extra_forbidden")
    err = errors[0]
    path = _written_path(tuple(err.get("loc", ())))
    field_path = ".".join(str(p) for p in path)
    kind = err.get("type", "")
    msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
    hint: str | None = None
    last = str(path[-1]) if path else ""
    if kind == "extra_forbidden":
        cls = _model_at(root, path[:-1])
        allowed = [f.alias or n for n, f in cls.model_fields.items()] if cls is not None else []
        msg = f"unknown field {last!r}." + did_you_mean(last, allowed)
        field_path = ".".join(str(p) for p in path[:-1])
        if allowed:
            hint = "allowed fields: " + ", ".join(allowed)
    elif kind == "missing":
        msg = f"missing required field {last!r}"
        field_path = ".".join(str(p) for p in path[:-1])
        if last in ("source", "protocol"):
            hint = _SOURCE_HINT
    elif kind == "literal_error" and last in _CHOICES:
        got = err.get("input")
        msg = f"unknown {last} {got!r}." + did_you_mean(str(got), _CHOICES[last])
        hint = f"{last} is one of: " + ", ".join(_CHOICES[last])
    else:
        # a value a union rejected on every branch: say all that would have been accepted
        same = [str(e.get("msg", "")) for e in errors if _written_path(tuple(e.get("loc", ()))) == path]
        if len(same) > 1:
            msg = " or ".join(dict.fromkeys(m.removeprefix("Input should be ") for m in same))
            msg = f"expected {msg}, got {err.get('input')!r}"
        if path[:1] == ["accept"] and kind == "tuple_type":
            msg = f"a named band is [lo, hi], got {err.get('input')!r}"
            hint = f"for a one-sided bound write {last}_min: or {last}_max: with one number"
        elif path[:1] == ["accept"]:
            hint = ("write accept: [lo, hi], or a mapping of named bands [lo, hi] and bounds "
                    "(keys ending in _min/_max, one number each), e.g. {exposed: [0.1, 0.3], ratio_min: 3}")
        elif kind == "string_pattern_mismatch":
            hint = ("ids are letters, digits, '_', '.', '-' (e.g. B35a)" if last == "id"
                    else "names are letters, digits and '_' and do not start with a digit")
        elif kind == "string_type" and last == "id":
            hint = "quote an id that looks like a number: id: '01'"
        elif last in ("source", "protocol"):
            hint = _SOURCE_HINT
    text = f"{field_path + ': ' if field_path else ''}{msg}"
    line = locate(data, path) or location.line
    return ModelError(text, Location(location.file, line, location.entry), hint)


def accept_passes(target: Target | Accept, simulated: float | Mapping[str, float]) -> bool:
    """Whether a simulated statistic lands in a target's accept band(s).

    For a single band ``[lo, hi]`` pass one number: it passes when ``lo <= x <= hi``.
    For a named accept pass a mapping of quantity -> simulated value: every named band
    must contain its quantity and every bound must hold (``<name>_min: b`` means
    ``simulated[name] >= b``, ``<name>_max: b`` means ``simulated[name] <= b``); extra
    quantities are ignored. Bands and bounds are inclusive; NaN never passes.

    Raises
    ------
    TypeError
        a mapping for a single band, or a number for a named accept.
    KeyError
        the mapping lacks a quantity the accept names.
    """
    accept = target.accept if isinstance(target, Target) else target
    return accept.passes(simulated)
