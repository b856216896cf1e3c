"""`Spec`: a composed, validated model as immutable plain data."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from fitts.errors import Location
from fitts.spec.schema import (
    TIME_UNITS,
    AuxiliarySpec,
    EdgeSpec,
    EventSpec,
    InputSpec,
    InterventionSpec,
    NodeSpec,
    ObservationSpec,
    OmissionSpec,
    ParameterSpec,
    ScheduleComponent,
)

#: node fields that become per-patient parameters named `<field>.<node>`
NODE_QUANTITIES: tuple[str, ...] = ("tau", "baseline", "noise", "initial")


def _frozen(d: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(d))


@dataclass(frozen=True)
class Spec:
    """A theory: nodes, inputs, signed edges, parameters and the rest, composed from modules.

    Build one with :func:`fitts.load_model`; every mapping is read-only and keeps the
    order of the model file. `locations[(section, name)]` says where an entry was written.
    """

    name: str
    description: str | None
    nodes: Mapping[str, NodeSpec]
    inputs: Mapping[str, InputSpec]
    edges: Mapping[str, EdgeSpec]
    omissions: Mapping[str, OmissionSpec]
    parameters: Mapping[str, ParameterSpec]
    interventions: Mapping[str, InterventionSpec]
    observations: Mapping[str, ObservationSpec]
    schedule: tuple[ScheduleComponent, ...] = ()
    files: tuple[str, ...] = ()
    locations: Mapping[tuple[str, str], Location] = field(default_factory=dict)
    #: built-in theories this model includes by name (a variant's parents), outermost first
    parents: tuple[str, ...] = ()
    #: named expressions (in file order; validated acyclic)
    auxiliaries: Mapping[str, AuxiliarySpec] = field(default_factory=dict)
    #: discrete updates of states and parameters, in file order (the order of simultaneous events)
    events: Mapping[str, EventSpec] = field(default_factory=dict)
    #: the step the model requires, in its time unit (declared `dt:` of the model file), or None
    dt: float | None = None
    #: the unit of the model's own times and rates (`time_unit:`): days, hours or minutes
    time_unit: str = "days"

    def __post_init__(self) -> None:
        for name in ("nodes", "inputs", "edges", "omissions", "parameters", "interventions",
                     "observations", "locations", "auxiliaries", "events"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able content (no file names or lines): what the hash is taken of."""
        def dump(section: Mapping[str, Any]) -> dict[str, Any]:
            return {k: v.model_dump(mode="json", by_alias=True, exclude_none=True)
                    for k, v in section.items()}

        out = {
            "name": self.name,
            "nodes": dump(self.nodes),
            "inputs": dump(self.inputs),
            "edges": dump(self.edges),
            "omissions": dump(self.omissions),
            "parameters": dump(self.parameters),
            "interventions": dump(self.interventions),
            "observations": dump(self.observations),
            "schedule": [c.model_dump(mode="json", by_alias=True) for c in self.schedule],
        }
        # sections added to the language later enter the hash only when used, so the hash
        # of every model written without them is what it was
        for name in ("auxiliaries", "events"):
            if getattr(self, name):
                out[name] = dump(getattr(self, name))
        if self.dt is not None:
            out["dt"] = self.dt
        if self.time_unit != "days":
            out["time_unit"] = self.time_unit
        return out

    @property
    def time_factor(self) -> float:
        """Model time units per day (1 for days, 24 for hours, 1440 for minutes)."""
        return TIME_UNITS[self.time_unit]

    @property
    def dt_days(self) -> float | None:
        """The step the model requires, in days (None: any), rounded to 15 significant digits so
        that 1.2 hours is the 0.05 days it means (1.2 / 24 is 0.049999999999999996 in floats, and
        steps would then fall just short of the times of schedules and events)."""
        return None if self.dt is None else float(f"{self.dt / self.time_factor:.15g}")

    @property
    def content_hash(self) -> str:
        """sha256 (16 hex digits) of the model's content; stored with every result."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def location(self, section: str, name: str) -> Location:
        return self.locations.get((section, name), Location(self.files[0] if self.files else None))

    def auto_parameter_names(self) -> list[str]:
        """Names of the per-node and per-edge quantities (`tau.threat`, `weight.a -> b`)."""
        names = [f"{q}.{n}" for n in self.nodes for q in NODE_QUANTITIES]
        names += [f"weight.{e}" for e in self.edges]
        return names
