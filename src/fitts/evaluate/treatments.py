"""Treatment families: one intervention name per family, the same in every theory.

Each family of treatment acts on one node of the causal graph (soothing, threat
appraisal, sleep, activity, descending inhibition, DRG excitability, sympathetic
tone). A theory that has the node defines the family's intervention under the name
below; a target naming the intervention of a theory that lacks the node is not
expressible, and the reason names the missing node rather than just the name.
"""

from __future__ import annotations

from fitts.compile.compiled import CompiledModel

#: intervention name -> (the node it acts on, the treatment family in words)
FAMILIES: dict[str, tuple[str, str]] = {
    "compassion": ("soothing", "soothing / compassion training (mindfulness, compassion-focused therapy)"),
    "threat_appraisal": ("threat", "threat appraisal (CBT, pain neuroscience education)"),
    "sleep": ("sleep_disturbance", "sleep treatment (CBT for insomnia, sleep hygiene)"),
    "exercise": ("activity", "activity / exercise training"),
    "snri": ("descending_inhibition", "descending inhibition (SNRI such as duloxetine, milnacipran)"),
    "drg_sodium_channel_blockade": ("drg", "DRG excitability (sodium-channel blockade)"),
    "sympathetic_blockade": ("sympathetic", "sympathetic tone (sympathetic blockade)"),
}


def missing_intervention(model: CompiledModel, name: str) -> str:
    """Why a theory cannot apply intervention `name` (it has no intervention of that name).

    Names the node the treatment family acts on when the theory lacks it, and otherwise
    says that the theory has the node but defines no intervention for it.
    """
    have = sorted(model.spec.interventions)
    listed = f" (interventions: {', '.join(have) or 'none'})"
    family = FAMILIES.get(name)
    if family is None:
        return f"the theory has no intervention {name!r}{listed}"
    node, words = family
    if node not in model.state_index:
        return (f"the theory has no {node!r} node, which intervention {name!r} ({words}) acts on; "
                "it makes no claim about this treatment")
    return (f"the theory has a {node!r} node but defines no intervention {name!r} ({words}); add it under "
            f"`interventions:` of the theory{listed}")
