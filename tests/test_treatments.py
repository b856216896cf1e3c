"""Treatment families: the same intervention name in every theory that has the node."""

from __future__ import annotations

import pytest

from fitts import load_model
from fitts.evaluate.treatments import FAMILIES, missing_intervention


@pytest.mark.parametrize("theory", ["fitts", "sympathetic_drg", "integrated"])
def test_every_family_whose_node_exists_is_an_intervention(theory: str) -> None:
    spec = load_model(theory)
    for name, (node, _) in FAMILIES.items():
        if node in spec.nodes:
            assert name in spec.interventions, f"{theory} has the {node} node but no {name!r} intervention"


class _Model:
    """Just what missing_intervention reads of a compiled model."""

    def __init__(self, states: list[str], interventions: list[str]) -> None:
        self.state_index = {s: i for i, s in enumerate(states)}
        self.spec = type("Spec", (), {"interventions": {k: None for k in interventions}})()


def test_the_reason_names_the_missing_node_or_the_missing_intervention() -> None:
    no_drg = _Model(["pain", "threat"], ["placebo"])
    assert "no 'drg' node" in missing_intervention(no_drg, "drg_sodium_channel_blockade")  # type: ignore[arg-type]
    assert "has a 'threat' node but defines no intervention 'threat_appraisal'" in missing_intervention(
        no_drg, "threat_appraisal")  # type: ignore[arg-type]
    assert "interventions: placebo" in missing_intervention(no_drg, "acupuncture")  # type: ignore[arg-type]
