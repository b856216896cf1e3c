"""The published causal claims, and how a model accounts for each of them.

`models/reference/claims.yaml` holds the debate's edge table (the causal claims of
Pinto et al. 2023 and Martínez-Lavín 2023) as data: one row per signed edge, with the theory that asserts it (F, M or
both). A model accounts for a claim either with an edge of the same sign (between the same nodes) or with an
explicit omission and its reason; anything else is reported as missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from fitts.errors import ModelError
from fitts.spec.model import Spec
from fitts.spec.yamlio import load_yaml_file

Status = Literal["edge", "omitted", "missing", "sign differs"]


class Claim(BaseModel):
    """One row of the claims table."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    from_: str = Field(alias="from")
    to: str
    sign: Literal["+", "-"]
    in_: Literal["F", "M", "both"] = Field(alias="in")
    gate: str | None = None

    def asserted_by(self, theory: Literal["F", "M"]) -> bool:
        return self.in_ in (theory, "both")


class _ClaimFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["fitts-claims/1"]
    claims: list[Claim]


@dataclass(frozen=True)
class Coverage:
    """How one model accounts for one claim."""

    claim: Claim
    status: Status
    detail: str  # edge id, omission reason, or what is wrong


def claims_path() -> Path:
    from fitts.spec.load import models_dir

    return models_dir() / "reference" / "claims.yaml"


def load_claims(path: str | Path | None = None) -> list[Claim]:
    """The claims table (default: the debate's, shipped with fitts)."""
    path = Path(path) if path is not None else claims_path()
    data = load_yaml_file(path)
    try:
        return list(_ClaimFile.model_validate(data).claims)
    except Exception as exc:  # pydantic ValidationError: name the file
        raise ModelError(f"invalid claims file: {exc}", hint="see src/fitts/models/reference/claims.yaml") from None


def claim_coverage(spec: Spec, claims: list[Claim] | None = None) -> list[Coverage]:
    """Account for every claim in a model: an edge of the same sign, an omission, or missing."""
    claims = load_claims() if claims is None else claims
    omitted = {(o.from_, o.to): o.reason for o in spec.omissions.values()}
    out = []
    for c in claims:
        edges = [(eid, e) for eid, e in spec.edges.items() if e.from_ == c.from_ and e.to == c.to]
        same = [eid for eid, e in edges if e.sign == c.sign]
        if same:
            out.append(Coverage(c, "edge", same[0]))
        elif edges:
            out.append(Coverage(c, "sign differs", f"edge {edges[0][0]!r} has sign {edges[0][1].sign!r}"))
        elif (c.from_, c.to) in omitted:
            out.append(Coverage(c, "omitted", omitted[(c.from_, c.to)]))
        else:
            out.append(Coverage(c, "missing", "neither an edge nor an omission"))
    return out
