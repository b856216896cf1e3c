"""Which loop holds which patient: loop and mechanism knock-outs from the ill state.

Protocol
--------
1. *Tip.* N virtual patients are sampled from the theory's priors and simulated
   deterministically (no noise) under the standard stressor: ``psychosocial_stress`` at
   level 2.0 from day 30 for 120 days (as in ``tests/test_phenomena.py``). A patient is
   *ill* when pain at day `tip_days` (default 300, 150 days after the stressor ended) is
   above `threshold` (default 0.5 on the 0-1 pain activation; the built-in theories are
   bistable, with ill patients near 0.8-0.95 and healthy ones below 0.1).
2. *Cut.* Every ill patient is restarted from its ill state (its states at `tip_days`,
   set through the ``initial.*`` parameters) with some edges' weights set to 0
   (``weight.<edge id>`` parameters; a gating edge's weight removes both its links), and
   followed for `follow_days` without stressor or noise. The patient *recovers* when pain
   stays below `threshold` over the last `settle_days` of that period. All patients and
   all cuts of one analysis run in one vectorised simulation.
3. *Control.* The same restart without a cut: patients who recover without any cut are
   not held by a loop (not yet at a steady state) and are reported as ``transient``.

Cuts
----
Mechanism group *G* (states whose ``group`` is in :data:`MECHANISMS` [G]): every edge
from a state into a state of the group is cut, so the group's states relax to their
resting level and every loop through the group is broken, while the group still passes
its resting output on. ``central+emotional`` is the union of ``emotional`` (groups
emotion and brain) and ``central``.

Loop *L*, necessity: the loop's *specific* edge is cut, the edge of the loop that lies on
the fewest elementary loops of the model (ties: the first along the loop). This breaks
*L* and as few other loops as possible. *L* is **necessary** for a patient when that cut
cures.

Loop *L*, sufficiency: every edge between states is cut except the loop's own edges and
the shortest path from the loop to ``pain`` (its read-out). *L* is **sufficient** for a
patient when the patient stays ill with *L* alone.

Subtypes (from the group cuts): ``central-dominant``, cured by cutting
central+emotional but not peripheral; ``peripheral-dominant``, the reverse;
``mixed-interlocked``, cured by either cut (both engines needed); ``mixed-redundant``, by
neither alone but by both together (either engine suffices); ``other``, not cured even by
both (held by autonomic, sleep or behaviour loops); ``transient``, recovers without a cut.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from fitts.analysis.graph import Loop, elementary_loops, gate_edge_id
from fitts.compile.compiled import CompiledModel
from fitts.errors import ModelError, did_you_mean
from fitts.sim.sample import start_at

#: mechanism groups -> node `group` values they cover
MECHANISMS: dict[str, tuple[str, ...]] = {
    "emotional": ("emotion", "brain"),
    "autonomic": ("autonomic",),
    "central": ("central",),
    "peripheral": ("peripheral",),
    "sleep_behaviour": ("sleep_behaviour",),
    "central+emotional": ("emotion", "brain", "central"),
    "central+peripheral": ("emotion", "brain", "central", "peripheral"),
}
SUBTYPES = ("central-dominant", "peripheral-dominant", "mixed-interlocked", "mixed-redundant",
            "other", "transient")
#: days between the recorded points of the follow-up (pain is checked on this grid)
RECORD_EVERY = 5.0
STANDARD_STRESSOR: tuple[dict[str, Any], ...] = (
    {"input": "psychosocial_stress", "kind": "pulse", "start": 30.0, "duration": 120.0,
     "level": 2.0},
)


@dataclass(frozen=True)
class Attribution:
    """Result of :func:`attribute`.

    Attributes
    ----------
    patients
        One row per ill patient: ``patient``, ``pain`` (at the ill state), ``subtype``,
        ``cured_<group>`` (bool) per mechanism cut, ``necessary_loops`` and
        ``sufficient_loops`` (loop indices, ``;``-separated), ``n_necessary``,
        ``n_sufficient``.
    loops
        One row per analysed loop: ``loop`` (index into ``elementary_loops``), ``name``,
        ``polarity``, ``length``, ``cut_edge`` (its specific edge), ``necessary_share`` and
        ``sufficient_share`` (fractions of the ill, non-transient patients).
    groups
        One row per mechanism cut: ``group``, ``cut_edges`` (count), ``cured_share``.
    shares
        Subtype -> fraction of the ill patients (including ``transient``).
    n_sampled, n_ill
        Patients sampled and patients ill after the stressor.
    settings
        The protocol's settings (threshold, days, seed, ...), for the record.
    """

    patients: pd.DataFrame
    loops: pd.DataFrame
    groups: pd.DataFrame
    shares: pd.Series
    n_sampled: int
    n_ill: int
    settings: dict[str, Any]


def _edge_of_link(spec: Any) -> dict[str, str]:
    """Link id (edge id or gate edge id) -> model edge id."""
    out = {eid: eid for eid in spec.edges}
    for eid, e in spec.edges.items():
        if e.mode == "gating" and e.gate:
            out[gate_edge_id(eid, e.gate)] = eid
    return out


def group_cuts(model: CompiledModel) -> dict[str, frozenset[str]]:
    """Edges cut per mechanism group present in the model (edges from a state into the group).

    Returns
    -------
    dict
        Group name -> edge ids; groups with no state in the model are left out.
    """
    spec = model.spec
    out: dict[str, frozenset[str]] = {}
    for name, groups in MECHANISMS.items():
        members = {n for n, node in spec.nodes.items() if node.group in groups}
        if not members:
            continue
        out[name] = frozenset(eid for eid, e in spec.edges.items()
                              if e.to in members and e.from_ in spec.nodes)
    return out


def specific_edges(model: CompiledModel, loops: Sequence[Loop]) -> list[str]:
    """The specific edge of each loop: the one on the fewest elementary loops of the model."""
    link_edge = _edge_of_link(model.spec)
    count: dict[str, int] = {}
    for lp in elementary_loops(model.spec):
        for eid in {link_edge[k] for k in lp.edges}:
            count[eid] = count.get(eid, 0) + 1
    out = []
    for lp in loops:
        edges = list(dict.fromkeys(link_edge[k] for k in lp.edges))
        out.append(min(edges, key=lambda e: (count.get(e, 0), edges.index(e))))
    return out


def sufficiency_cut(model: CompiledModel, loop: Loop, readout: str = "pain") -> frozenset[str]:
    """Edges cut to test whether `loop` alone sustains the ill state.

    Every edge between states is cut except the loop's edges and those of the shortest path
    (fewest edges) from a state of the loop to `readout`.
    """
    spec = model.spec
    link_edge = _edge_of_link(spec)
    keep = {link_edge[k] for k in loop.edges}
    if readout in spec.nodes and readout not in loop.nodes:
        g = nx.DiGraph()
        for eid, e in spec.edges.items():
            if e.from_ in spec.nodes and not g.has_edge(e.from_, e.to):
                g.add_edge(e.from_, e.to, id=eid)
        best: list[str] | None = None
        for n in loop.nodes:
            try:
                path = nx.shortest_path(g, n, readout)
            except (nx.NetworkXNoPath, nx.NodeNotFound):
                continue
            if best is None or len(path) < len(best):
                best = path
        if best is not None:
            keep |= {g[u][v]["id"] for u, v in zip(best[:-1], best[1:], strict=True)}
    return frozenset(eid for eid, e in spec.edges.items()
                     if e.from_ in spec.nodes and eid not in keep)


def tip(model: CompiledModel, patients: int, *, seed: int = 0, params: Mapping[str, Any] | None = None,
        stressor: Sequence[Mapping[str, Any]] = STANDARD_STRESSOR, tip_days: float = 300.0,
        dt: float = 0.05, backend: str = "numba", readout: str = "pain",
        progress: Callable[[float], None] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Step 1: simulate N patients under the stressor, deterministically, to `tip_days`.

    Returns
    -------
    ids : numpy.ndarray
        Patient ids, shape (N,).
    X : numpy.ndarray
        States at `tip_days`, shape (N, n_states).
    P : numpy.ndarray
        Parameters, shape (N, n_params).
    """
    from fitts.sim.simulate import simulate

    if readout not in model.state_index:
        raise ModelError(f"the model {model.spec.name!r} has no state {readout!r} to read the ill "
                         "state from." + did_you_mean(readout, model.states),
                         hint="pass readout=<state>")
    ds = simulate(model, patients=patients, days=tip_days, dt=dt, seed=seed, noise=False,
                  schedule=list(stressor), params=dict(params or {}), record_every=tip_days,
                  backend=backend, progress=progress)  # type: ignore[arg-type]
    return ds.patient.values, ds.trajectory.values[:, -1, :], ds.params.values


def run_cuts(model: CompiledModel, ids: np.ndarray, X: np.ndarray, P: np.ndarray,
             cuts: Sequence[frozenset[str]], *, seed: int = 0, follow_days: float = 365.0,
             settle_days: float = 60.0, threshold: float = 0.5, dt: float = 0.05,
             backend: str = "numba", readout: str = "pain",
             progress: Callable[[float], None] | None = None) -> np.ndarray:
    """Step 2: restart patients from their states with each cut; who recovers?

    Parameters
    ----------
    ids, X, P
        Patient ids (n,), their states (n, n_states) and parameters (n, n_params), as from
        :func:`tip`.
    cuts
        Edge id sets to cut (weights set to 0); an empty set is the control.

    Returns
    -------
    numpy.ndarray
        Recovered, bool, shape (n_cuts, n): pain below `threshold` over the last
        `settle_days` of `follow_days`.
    """
    from fitts.sim.simulate import simulate

    n, k = len(ids), len(cuts)
    if n == 0 or k == 0:
        return np.zeros((k, n), dtype=bool)
    if not 0 < settle_days <= follow_days:
        raise ModelError(f"settle_days ({settle_days}) must lie in (0, follow_days={follow_days}]")
    pidx = model.param_index
    over: dict[str, np.ndarray] = start_at(model, np.tile(X, (k, 1)))
    touched = sorted(set().union(*cuts))
    for eid in touched:
        if f"weight.{eid}" not in pidx:
            raise ModelError(f"cannot cut unknown edge {eid!r}." + did_you_mean(eid, model.spec.edges))
        vals = np.tile(P[:, pidx[f"weight.{eid}"]], k)
        for c, cut in enumerate(cuts):
            if eid in cut:
                vals[c * n:(c + 1) * n] = 0.0
        over[f"weight.{eid}"] = vals
    # every other sampled or derived row as it was in the ill state (same ids and seed give
    # the same samples; derived rows are re-derived from them)
    record_every = RECORD_EVERY
    days = follow_days
    for what, v in (("follow_days", follow_days), ("settle_days", settle_days)):
        if abs(v / record_every - round(v / record_every)) > 1e-9:
            raise ModelError(f"{what} ({v:g}) must be a multiple of {record_every:g} days",
                             hint=f"round {what} to a multiple of {record_every:g}")
    ds = simulate(model, patients=np.tile(ids, k), days=days, dt=dt, seed=seed, noise=False,
                  params=over, record_every=record_every, backend=backend,  # type: ignore[arg-type]
                  progress=progress)
    pain = ds.trajectory.sel(state=readout).values  # (n*k, time)
    late = ds.time.values >= days - settle_days - 1e-9
    ok = (pain[:, late] < threshold).all(axis=1)
    return ok.reshape(k, n)


def attribute(model: CompiledModel, patients: int = 200, *, seed: int = 0,
              params: Mapping[str, Any] | None = None, threshold: float = 0.5,
              tip_days: float = 300.0, follow_days: float = 365.0, settle_days: float = 60.0,
              max_length: int | None = 4, dt: float = 0.05, backend: str = "numba",
              readout: str = "pain", progress: Callable[[float], None] | None = None) -> Attribution:
    """Tip N sampled patients, then find which loops and mechanisms hold each ill patient.

    See the module docstring for the protocol, the cuts and the subtypes.

    Parameters
    ----------
    model
        A compiled model with the input ``psychosocial_stress`` and the state `readout`.
    patients
        Number of patients sampled from the priors (ids 0..N-1).
    seed
        Seed of the sampled parameters.
    params
        Parameter values overriding the priors for every patient.
    threshold
        Pain level (0-1 activation) above which a patient is ill.
    tip_days, follow_days, settle_days
        Day the ill state is read; length of the follow-up after a cut; final window that
        must stay below `threshold` for a recovery (days).
    max_length
        Only loops up to this length are analysed one by one (None: all loops); mechanism
        groups always cover every loop.
    dt
        Integration step, days.
    progress
        Called with the patient-days just simulated (for a progress bar); the total is
        :func:`attribution_work`.

    Returns
    -------
    Attribution
    """
    if "psychosocial_stress" not in model.inputs:
        raise ModelError(f"the model {model.spec.name!r} has no input 'psychosocial_stress' for the "
                         "standard stressor", hint="inputs: " + (", ".join(model.inputs) or "(none)"))
    if patients < 1:
        raise ModelError(f"patients must be >= 1, got {patients}")
    ids, X, P = tip(model, patients, seed=seed, params=params, tip_days=tip_days, dt=dt,
                    backend=backend, readout=readout, progress=progress)
    pain = X[:, model.state_index[readout]]
    ill = pain > threshold
    ids_i, X_i, P_i = ids[ill], X[ill], P[ill]

    loops = [lp for lp in elementary_loops(model.spec) if max_length is None or lp.length <= max_length]
    all_loops = elementary_loops(model.spec)
    loop_index = {lp: i for i, lp in enumerate(all_loops)}
    specific = specific_edges(model, loops)
    groups = group_cuts(model)
    cut_sets: dict[frozenset[str], int] = {frozenset(): 0}

    def slot(edges: frozenset[str]) -> int:
        return cut_sets.setdefault(edges, len(cut_sets))

    g_slot = {name: slot(edges) for name, edges in groups.items()}
    nec_slot = [slot(frozenset({e})) for e in specific]
    suf_slot = [slot(sufficiency_cut(model, lp, readout)) for lp in loops]
    cured = run_cuts(model, ids_i, X_i, P_i, list(cut_sets), seed=seed, follow_days=follow_days,
                     settle_days=settle_days, threshold=threshold, dt=dt, backend=backend,
                     readout=readout, progress=progress)

    transient = cured[0]
    rows = []
    for p in range(len(ids_i)):
        row: dict[str, Any] = {"patient": int(ids_i[p]), "pain": float(pain[ill][p])}
        for name, s in g_slot.items():
            row[f"cured_{name}"] = bool(cured[s, p])
        row["subtype"] = _subtype(row, bool(transient[p]))
        nec = [loop_index[lp] for lp, s in zip(loops, nec_slot, strict=True) if cured[s, p]]
        suf = [loop_index[lp] for lp, s in zip(loops, suf_slot, strict=True) if not cured[s, p]]
        if transient[p]:
            nec, suf = [], []
        row.update(necessary_loops=";".join(map(str, nec)), sufficient_loops=";".join(map(str, suf)),
                   n_necessary=len(nec), n_sufficient=len(suf))
        rows.append(row)
    cols = ["patient", "pain", "subtype", *[f"cured_{g}" for g in g_slot], "necessary_loops",
            "sufficient_loops", "n_necessary", "n_sufficient"]
    table = pd.DataFrame(rows, columns=cols)
    held = ~transient
    n_held = int(held.sum())
    loop_rows = []
    for lp, e, sn, ss in zip(loops, specific, nec_slot, suf_slot, strict=True):
        loop_rows.append({
            "loop": loop_index[lp], "name": str(lp), "polarity": lp.polarity, "length": lp.length,
            "cut_edge": e,
            "necessary_share": float(cured[sn, held].mean()) if n_held else float("nan"),
            "sufficient_share": float((~cured[ss, held]).mean()) if n_held else float("nan"),
        })
    group_rows = [{"group": name, "cut_edges": len(groups[name]),
                   "cured_share": float(cured[s, held].mean()) if n_held else float("nan")}
                  for name, s in g_slot.items()]
    counts = table["subtype"].value_counts() if len(table) else pd.Series(dtype=int)
    shares = pd.Series({s: (float(counts.get(s, 0)) / len(table) if len(table) else float("nan"))
                        for s in SUBTYPES}, name="share")
    settings = dict(model=model.spec.name, model_hash=model.model_hash, patients=patients, seed=seed,
                    threshold=threshold, tip_days=tip_days, follow_days=follow_days,
                    settle_days=settle_days, max_length=max_length, dt=dt, readout=readout,
                    stressor=list(STANDARD_STRESSOR), cuts=len(cut_sets))
    return Attribution(patients=table, loops=pd.DataFrame(loop_rows), groups=pd.DataFrame(group_rows),
                       shares=shares, n_sampled=patients, n_ill=int(ill.sum()), settings=settings)


def _subtype(row: Mapping[str, Any], transient: bool) -> str:
    if transient:
        return "transient"
    c = row.get("cured_central+emotional", row.get("cured_central", False))
    p = row.get("cured_peripheral", False)
    both = row.get("cured_central+peripheral", False)
    if c and not p:
        return "central-dominant"
    if p and not c:
        return "peripheral-dominant"
    if c and p:
        return "mixed-interlocked"
    if both:
        return "mixed-redundant"
    return "other"


def attribution_work(model: CompiledModel, patients: int, *, tip_days: float = 300.0,
                     follow_days: float = 365.0, max_length: int | None = 4,
                     ill_fraction: float = 1.0) -> float:
    """Upper bound of the patient-days :func:`attribute` simulates (for a progress bar total).

    With ``ill_fraction=1`` every sampled patient is assumed ill; the bar then ends early.
    """
    loops = [lp for lp in elementary_loops(model.spec) if max_length is None or lp.length <= max_length]
    cuts = {frozenset()} | set(group_cuts(model).values())
    cuts |= {frozenset({e}) for e in specific_edges(model, loops)}
    cuts |= {sufficiency_cut(model, lp) for lp in loops if "pain" in model.state_index}
    return patients * tip_days + patients * ill_fraction * len(cuts) * follow_days


__all__ = ["MECHANISMS", "SUBTYPES", "Attribution", "attribute", "attribution_work", "group_cuts",
           "run_cuts", "specific_edges", "sufficiency_cut", "tip"]
