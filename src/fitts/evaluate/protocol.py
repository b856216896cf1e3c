"""Study protocols: how each target design is reproduced on a virtual population.

A protocol file (format ``fitts-protocol/1``; the built-in one is
``models/protocols/default.yaml``) fixes what a target file leaves to words: the size and
length of the general cohort, the everyday stressors every virtual adult lives with, what
an exposure ``kind`` such as "neck injury" means as input time courses, the value of a
level word such as ``high`` for a clamped state, and which model parameter a
predisposition named in a target stands for. Errors name the file, line and entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from fitts.errors import Location, ModelError, did_you_mean, display_path
from fitts.spec.schema import ScheduleComponent
from fitts.spec.yamlio import data_file_error, load_yaml_file

FORMAT = "fitts-protocol/1"
DAYS_PER = {"night": 1.0, "day": 1.0, "week": 7.0, "month": 30.4375, "year": 365.25}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CohortSettings(_Model):
    """Size and timing of the simulated studies."""

    patients: int = Field(8000, ge=10, description="virtual adults in the general cohort")
    years: float = Field(10.0, gt=0, le=100, description="simulated adult life, years")
    follow_up_years: float = Field(1.5, gt=0, description="t0 (the cross-section) lies this long before the end")
    dt: float = Field(0.05, gt=0, le=1, description="integration step, days")
    record_every: float = Field(7.0, gt=0, description="days between recorded states")
    exposed_patients: int = Field(3000, ge=10, description="never-ill adults per arm of an exposure study")
    diary_patients: int = Field(300, ge=5, description="cases per diary study")
    bootstrap: int = Field(400, ge=50, description="bootstrap resamples for the Monte-Carlo interval")


class ExposureDef(_Model):
    """What an exposure kind means: input components timed from the exposure (days)."""

    description: str
    components: list[ScheduleComponent] = Field(min_length=1)


class Protocol(_Model):
    """A whole protocol file."""

    format: str
    description: str | None = None
    cohort: CohortSettings = CohortSettings()
    everyday: list[ScheduleComponent] = Field(default_factory=list)
    exposures: dict[str, ExposureDef] = Field(default_factory=dict)
    levels: dict[str, float] = Field(default_factory=lambda: {"high": 0.95, "low": 0.05})
    predispositions: dict[str, str] = Field(default_factory=dict)
    source: str | None = Field(None, exclude=True)

    # ------------------------------------------------------------------ lookups
    def exposure(self, kind: str | None) -> ExposureDef | None:
        """The definition of an exposure `kind` (text before its first colon), or None."""
        if kind is None:
            return None
        key = kind.split(":", 1)[0].strip().lower()
        for name, item in self.exposures.items():
            if name.lower() == key:
                return item
        return None

    def level(self, value: float | str) -> float:
        """A clamp value: a number, or a level word of :attr:`levels`."""
        if isinstance(value, int | float):
            return float(value)
        key = str(value).strip().lower()
        if key not in self.levels:
            raise KeyError(f"unknown level {value!r}." + did_you_mean(key, self.levels))
        return self.levels[key]

    def with_changes(self, changes: Mapping[str, float]) -> Protocol:
        """A copy with knobs ``everyday.<i>.<field>`` (``rate_per_year``, ``level``, ``magnitude.median``,
        ...) or ``exposures.<kind>.<i>.<field>`` set; used by calibration."""
        data = self.model_dump(mode="python")
        for path, value in changes.items():
            parts = path.split(".")
            node: Any = data
            try:
                if parts[0] == "exposures":
                    node = node["exposures"][parts[1]]["components"]
                    parts = parts[2:]
                else:
                    node = node[parts[0]]
                    parts = parts[1:]
                for p in parts[:-1]:
                    node = node[int(p)] if isinstance(node, list) else node[p]
                if isinstance(node, list):
                    raise KeyError(parts[-1])
                if parts[-1] not in node:
                    raise KeyError(parts[-1])
                node[parts[-1]] = float(value)
            except (KeyError, IndexError, ValueError, TypeError):
                raise ModelError(f"protocol knob {path!r} names nothing in the protocol",
                                 hint="write everyday.<n>.<field> (n from 0) or exposures.<kind>.<n>.<field>, "
                                      "e.g. everyday.1.rate_per_year") from None
        return Protocol.model_validate({**data, "source": self.source})


def protocol_path() -> Path:
    """The built-in protocol file."""
    from fitts.spec.load import models_dir

    return models_dir() / "protocols" / "default.yaml"


def load_protocol(path: str | Path | None = None) -> Protocol:
    """Read and validate a protocol file (default: the built-in protocol)."""
    p = Path(path) if path is not None else protocol_path()
    shown = display_path(p)
    data = load_yaml_file(p)
    here = Location(shown, getattr(data, "line", None) or 1)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ModelError(f"not a protocol file: expected `format: {FORMAT}` at the top", here,
                         "start from the built-in protocol (fitts/models/protocols/default.yaml)")
    try:
        return Protocol.model_validate({**data, "source": shown})
    except ValidationError as exc:
        raise data_file_error(exc, data, shown, here, "see docs/targets.md (protocol files) for the fields") from None
