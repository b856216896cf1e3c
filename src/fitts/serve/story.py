"""One patient's story and thresholds: the patient, the stressor timeline, the result, the CLI command.

A patient is the theory's typical patient (every sampled parameter at its prior median),
optionally with its predispositions (the Bernoulli parameters) present, started in the ill
state, or with given parameter values. Everything the browser sends is checked by the
library's own readers: parameter files by :func:`fitts.io.params.read_patient_params`
(the CLI's `--patient-params`), stressors by :func:`fitts.simulate` (the CLI's
`--schedule`).
"""

from __future__ import annotations

import hashlib
import json
import shlex
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from fitts.errors import ModelError
from fitts.serve.workspace import Workspace, write_atomic

PATIENTS = {
    "predisposed": "predisposed (every parameter at its prior median, the theory's predispositions present)",
    "median": "typical (every parameter at its prior median, no predisposition: usually healthy)",
    "typical-ill": "typical ill (the case closest to the medians of the theory's cases after a year of everyday "
                   "life; found once per theory, then cached: the first time takes a minute or more)",
    "given": "given parameters (YAML `name: value`; the others at their prior median)",
}
#: pain (0-1) above which a patient counts as ill, as in the phenomenon tests
HIGH_PAIN = 0.5
#: the integration step of stories and thresholds (days)
DT = 0.05
#: at most this many simulated days in one story
MAX_DAYS = 3650
MAX_STRESSORS = 12


def predispositions(spec: Any) -> list[str]:
    """Parameters with a Bernoulli prior: the theory's predispositions (present or absent)."""
    return [name for name, p in spec.parameters.items() if p.prior is not None and p.prior.dist == "bernoulli"]


@dataclass(frozen=True)
class Patient:
    """A patient of a theory: how it was chosen, the given overrides, and every sampled parameter."""

    kind: str
    overrides: dict[str, float]
    params: dict[str, float]
    description: str


def patient(ws: Workspace, key: str, kind: str, given_text: str = "") -> Patient:
    """The patient `kind` of theory `key` (see :data:`PATIENTS`), chosen as the CLI's `--patient` chooses.

    Raises
    ------
    ModelError, DataError
        An unknown kind, no typical ill patient, or given parameters the CLI's reader refuses
        (named by entry).
    """
    from fitts.analysis.patients import choose_patient
    from fitts.io.params import read_patient_params

    if kind not in PATIENTS:
        raise ModelError(f"unknown patient {kind!r}", hint="choose " + ", ".join(PATIENTS))
    m = ws.compiled(key)
    if kind != "given":
        chosen = choose_patient(m, kind)
        return Patient(kind, {}, dict(chosen.params), chosen.description)
    path = ws.stories / "given.yaml"
    write_atomic(path, given_text or "{}\n")
    over = read_patient_params(path, m.param_index)
    chosen = choose_patient(m, "median")
    return Patient(kind, over, {**chosen.params, **over},
                   f"prior-median patient of {m.spec.name} with the given values of {', '.join(over) or 'nothing'}")


def stressor_rows(form: dict[str, list[str]]) -> list[dict[str, Any]]:
    """Stressor rows of the story form (parallel lists input/start/length/size); empty rows skipped.

    Numbers that do not parse are kept as text, so that the schedule validator names them.
    """
    def num(text: str) -> float | str:
        try:
            return float(text)
        except ValueError:
            return text

    cols = [form.get(k, []) for k in ("input", "start", "length", "size")]
    rows = []
    for inp, start, length, size in zip(*cols, strict=False):
        if not inp.strip() or not (start.strip() or length.strip() or size.strip()):
            continue
        rows.append({"input": inp.strip(), "kind": "pulse", "start": num(start), "duration": num(length),
                     "level": num(size)})
    if len(rows) > MAX_STRESSORS:
        raise ModelError(f"{len(rows)} stressors: at most {MAX_STRESSORS}")
    return rows


def _check_days(days: float) -> float:
    if not np.isfinite(days) or days <= 0 or days > MAX_DAYS:
        raise ModelError(f"days {days:g} out of range", hint=f"give 1 to {MAX_DAYS} days")
    return float(round(days / DT) * DT)


def events(t: np.ndarray, pain: np.ndarray, stressor_end: float) -> dict[str, Any]:
    """Onset, persistence after the stressors end, and recovery, read from pain (0-1) over days."""
    high = pain > HIGH_PAIN
    onset = float(t[np.argmax(high)]) if high.any() else None
    persists = bool(high[-1]) and onset is not None and float(t[-1]) > stressor_end
    recovery = None
    if onset is not None and not high[-1]:
        last = int(np.flatnonzero(high)[-1])
        recovery = float(t[min(last + 1, len(t) - 1)])
    if onset is None:
        text = f"pain never rose above {HIGH_PAIN:g}: no onset"
    elif persists:
        text = (f"onset on day {onset:g}; pain still above {HIGH_PAIN:g} at day {t[-1]:g}, "
                f"{t[-1] - stressor_end:g} days after the last stressor ended: it persists")
    else:
        text = f"onset on day {onset:g}; recovery on day {recovery:g}"
    return {"onset": onset, "persists": persists, "recovery": recovery, "text": text,
            "final_pain": float(pain[-1])}


def _files(ws: Workspace, p: Patient, schedule: list[dict[str, Any]]) -> tuple[Path, Path]:
    """Write the patient (every sampled parameter) and schedule files the equivalent CLI command reads."""
    blob = json.dumps([p.params, schedule], sort_keys=True).encode()
    folder = ws.stories / hashlib.sha256(blob).hexdigest()[:12]
    pp = write_atomic(folder / "patient.yaml", f"# {p.description}\n" + yaml.safe_dump(p.params, sort_keys=False))
    sp = write_atomic(folder / "schedule.yaml", yaml.safe_dump(schedule, sort_keys=False))
    return pp, sp


def run_story(ws: Workspace, key: str, kind: str, rows: list[dict[str, Any]], *, days: float = 500.0,
              given_text: str = "", noise: bool = False, seed: int = 0, backend: str = "numpy") -> dict[str, Any]:
    """Simulate one patient through a stressor timeline.

    Parameters
    ----------
    backend
        ``numpy`` or ``numba`` (same results; numba is fast once its kernel is compiled).

    Returns
    -------
    dict
        ``spec`` (Vega-Lite JSON of the states over days), ``events`` (:func:`events`),
        ``command`` (the equivalent `fitts simulate` line, run in the workspace folder),
        ``files`` (workspace-relative names of the patient and schedule files), ``seconds``.
    """
    from fitts.sim.simulate import simulate

    t0 = time.perf_counter()
    days = _check_days(days)
    p = patient(ws, key, kind, given_text)
    m = ws.compiled(key)
    ds = simulate(m, patients=1, days=days, dt=DT, seed=seed, noise=noise, schedule=rows, params=p.params,
                  backend=backend, command="fitts serve: patient story")
    seconds = time.perf_counter() - t0
    t = ds.time.values
    traj = ds.trajectory.values[0]  # (time, state)
    end = max((r["start"] + r["duration"] for r in rows), default=0.0)
    ev = events(t, traj[:, m.state_index["pain"]], end) if "pain" in m.state_index else {
        "text": "the theory has no pain state", "onset": None, "persists": False, "recovery": None}
    pp, sp = _files(ws, p, rows)
    rel = lambda q: str(q.relative_to(ws.root))  # noqa: E731
    cmd = ["fitts", "simulate", ws.cli_name(key), "--patients", "1", "--days", f"{days:g}", "--dt", f"{DT:g}",
           "--backend", backend, "--patient-params", rel(pp), "--schedule", rel(sp), "--out", "story.nc"]
    cmd += ["--seed", str(seed)] if noise else ["--no-noise"]
    return {"spec": story_chart(t, traj, list(m.states), rows, m.spec.name, p.kind), "events": ev,
            "command": shlex.join(cmd), "files": [rel(pp), rel(sp)], "seconds": round(seconds, 2),
            "theory": m.spec.name, "backend": backend, "patient": p.description}


def story_chart(t: np.ndarray, traj: np.ndarray, states: list[str], rows: list[dict[str, Any]],
                theory: str, kind: str) -> dict[str, Any]:
    """Vega-Lite spec: pain with the ill line and stressor windows on top; every state below."""
    step = max(1, len(t) // 400)
    idx = np.arange(0, len(t), step)
    values = [{"day": float(t[i]), "state": s, "value": round(float(traj[i, j]), 4)}
              for j, s in enumerate(states) for i in idx]
    windows = [{"start": r["start"], "end": r["start"] + r["duration"], "stressor": f"{r['input']} {r['level']:g}"}
               for r in rows]
    shade = {"data": {"values": windows}, "mark": {"type": "rect", "opacity": 0.25, "color": "#ff9800"},
             "encoding": {"x": {"field": "start", "type": "quantitative"}, "x2": {"field": "end"},
                          "tooltip": [{"field": "stressor"}, {"field": "start"}, {"field": "end"}]}}
    pain = {"layer": [
        shade,
        {"transform": [{"filter": "datum.state === 'pain'"}], "mark": {"type": "line", "color": "#c62828"},
         "encoding": {"x": {"field": "day", "type": "quantitative", "title": "day"},
                      "y": {"field": "value", "type": "quantitative", "title": "pain (0-1)",
                            "scale": {"domain": [0, 1]}},
                      "tooltip": [{"field": "day"}, {"field": "value", "format": ".3f"}]}},
        {"data": {"values": [{"y": HIGH_PAIN}]}, "mark": {"type": "rule", "strokeDash": [4, 4], "color": "#555"},
         "encoding": {"y": {"field": "y", "type": "quantitative"}}},
    ], "width": "container", "height": 170, "title": f"{theory}: {PATIENTS[kind].split(' (')[0]} patient"}
    pick = {"name": "pick", "select": {"type": "point", "fields": ["state"]}, "bind": "legend"}
    others = {"layer": [shade, {
        "mark": {"type": "line"}, "params": [pick],
        "encoding": {"x": {"field": "day", "type": "quantitative", "title": "day"},
                     "y": {"field": "value", "type": "quantitative", "title": "activation (0-1)"},
                     "color": {"field": "state", "type": "nominal", "legend": {"orient": "bottom", "columns": 8}},
                     "opacity": {"condition": {"param": "pick", "value": 1}, "value": 0.12},
                     "tooltip": [{"field": "state"}, {"field": "day"}, {"field": "value", "format": ".3f"}]}}],
        "width": "container", "height": 220, "title": "all states (click the legend to pick one)"}
    return {"$schema": "https://vega.github.io/schema/vega-lite/v6.json", "data": {"values": values},
            "vconcat": [pain, others], "resolve": {"scale": {"color": "independent"}}}


def run_thresholds(ws: Workspace, key: str, kind: str, *, param: str = "psychosocial_stress",
                   span: tuple[float, float] = (-2.0, 4.0), given_text: str = "", state: str = "pain"
                   ) -> dict[str, Any]:
    """The hysteresis curve of one patient (`fitts bifurcate`): branches, folds, onset and recovery.

    Returns
    -------
    dict
        ``spec`` (Vega-Lite), ``onset``, ``recovery``, ``width``, ``notes``, ``command``, ``seconds``.
    """
    from fitts.analysis.continuation import continuation

    lo, hi = span
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi and hi - lo <= 100):
        raise ModelError(f"range {lo:g} to {hi:g} is not usable", hint="give A < B, at most 100 apart")
    t0 = time.perf_counter()
    m = ws.compiled(key)
    if state not in m.state_index:
        raise ModelError(f"the theory has no state {state!r}")
    p = patient(ws, key, kind, given_text)
    cont = continuation(m, param, (lo, hi), params=p.params)
    th = cont.thresholds()
    df = cont.table()
    seconds = time.perf_counter() - t0
    values = []
    run, last = 0, None
    for r in df.itertuples():
        if last is not None and (r.branch, r.stable) != last:
            run += 1  # a new piece wherever the branch changes or its stability flips (at a fold)
            if r.branch == last[0]:  # start the new piece at the fold, so the curve stays joined
                values.append({**values[-1], "segment": run, "stability": "stable" if r.stable else "unstable"})
        last = (r.branch, r.stable)
        values.append({"branch": int(r.branch), "segment": run, "point": len(values), "x": float(r.value),
                       "y": float(getattr(r, state)), "stability": "stable" if r.stable else "unstable"})
    rules = [{"x": v, "what": f"{name} {v:.3g}"} for name, v in (("onset", th.onset), ("recovery", th.recovery))
             if v is not None]
    spec = {"$schema": "https://vega.github.io/schema/vega-lite/v6.json", "width": "container", "height": 320,
            "title": f"{m.spec.name}: steady states of the {PATIENTS[kind].split(' (')[0]} patient",
            "layer": [
                {"data": {"values": values}, "mark": {"type": "line", "point": False},
                 "encoding": {"x": {"field": "x", "type": "quantitative", "title": f"{param} (sustained level)"},
                              "y": {"field": "y", "type": "quantitative", "title": f"{state} (0-1)"},
                              "detail": {"field": "segment"}, "order": {"field": "point"},
                              "strokeDash": {"field": "stability", "type": "nominal",
                                             "scale": {"domain": ["stable", "unstable"],
                                                       "range": [[1, 0], [5, 4]]}},
                              "color": {"field": "stability", "type": "nominal",
                                        "scale": {"domain": ["stable", "unstable"], "range": ["#1f5fbf", "#888"]}},
                              "tooltip": [{"field": "x", "format": ".3f"}, {"field": "y", "format": ".3f"},
                                          {"field": "stability"}]}},
                {"data": {"values": rules}, "mark": {"type": "rule", "color": "#ff8f00", "strokeWidth": 2},
                 "encoding": {"x": {"field": "x", "type": "quantitative"}, "tooltip": [{"field": "what"}]}},
                {"data": {"values": rules}, "mark": {"type": "text", "align": "left", "dx": 4, "dy": -140,
                                                     "color": "#e65100"},
                 "encoding": {"x": {"field": "x", "type": "quantitative"}, "text": {"field": "what"}}},
            ]}
    cmd = ["fitts", "bifurcate", ws.cli_name(key), "--param", param, "--range", f"{lo:g}", f"{hi:g}"]
    if kind == "given":
        pp, _ = _files(ws, p, [])
        cmd += ["--patient", "median", "--patient-params", str(pp.relative_to(ws.root))]
    else:
        cmd += ["--patient", kind]
    cmd += ["--out", "thresholds.png"]
    return {"spec": spec, "onset": th.onset, "recovery": th.recovery, "width": th.width, "notes": cont.notes,
            "patient": p.description,
            "command": shlex.join(cmd), "seconds": round(seconds, 2), "points": len(values)}
