"""Calibrate a theory by history matching, then refine at the scorecard's cohort size.

:func:`run_calibration` is what ``fitts calibrate`` calls. Every simulator evaluation (a
whole scorecard of the theory at one knob setting, on the same virtual patients: common
random numbers) is one task on an executor (this process, local worker processes or
Dask). Finished evaluations are kept in ``runs.parquet`` in the output folder, written
atomically after each one, so an interrupted calibration resumes (``resume=True``)
without redoing them: the designs of the waves and the refinement's steps are
deterministic given the seed and the runs before them.

Stages
------
1. History matching in waves (:mod:`fitts.evaluate.history_matching`) on cohorts of
   ``patients`` virtual adults.
2. Refinement: CMA-ES (Hansen's ``cma``) on the scorecard loss, started from the least
   implausible run, inside the box of the space left (the whole cube when it is empty),
   on cohorts of ``refine_patients`` (default: the protocol's cohort size, the size
   ``fitts evaluate`` uses), so the shipped point holds at that size.
3. Selection: of every evaluation at ``refine_patients`` in the folder (this
   refinement's and those after fewer waves), the ``CONFIRM_CANDIDATES`` that pass the
   most targets (:func:`shipped_rank`, the lower loss breaking ties) are evaluated again
   on other patients (cohort seed + ``CONFIRM_SEED_OFFSET``), and the one passing the
   most targets over both cohorts is shipped (:func:`confirmed_rank`). The loss steers
   CMA-ES (it is smooth) but is not the verdict: it measures point estimates from the
   band centres, so a setting whose estimates sit near the centres with wide Monte-Carlo
   intervals (few cases) can have the lowest loss and almost every target inconclusive.
   And a choice on one cohort picks up that cohort's luck: the second cohort checks it.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fitts.errors import ModelError

from .executors import AbstractExecutor, InlineExecutor
from .experiments import perform_experiments

RUNS_FILE = "runs.parquet"
SETTINGS_FILE = "settings.json"
LEGS_FILE = "legs.json"
#: emulator hyperparameters by training-data key: a resume conditions on them, no refitting
FITS_FILE = "emulator-fits.json"

#: compiled models, targets and protocols per worker process
_CACHE: dict[tuple[str, str, str], Any] = {}


# ---------------------------------------------------------------------- budget
@dataclass(frozen=True)
class Budget:
    """A limit in simulator evaluations or in wall-clock seconds (or none)."""

    evaluations: int | None = None
    seconds: float | None = None

    @classmethod
    def parse(cls, text: str | int | None) -> Budget:
        """``"300"`` (evaluations), ``"2h"``, ``"90m"``, ``"1.5h"``, ``"3600s"``."""
        if text is None or text == "":
            return cls()
        s = str(text).strip().lower()
        m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(h|hours?|m|min|minutes?|s|sec|seconds?)", s)
        if m:
            unit = m.group(2)[0]
            secs = float(m.group(1)) * {"h": 3600.0, "m": 60.0, "s": 1.0}[unit]
            if not 0 < secs < 1e7:
                raise ModelError(f"--budget {text!r}: give a positive time, e.g. '2h' or '90m'")
            return cls(seconds=secs)
        if re.fullmatch(r"\d+", s) and int(s) > 0:
            return cls(evaluations=int(s))
        raise ModelError(f"--budget {text!r} is neither a number of evaluations nor a time",
                         hint="write e.g. --budget 300 (evaluations), --budget 2h or --budget 90m")

    def describe(self) -> str:
        if self.evaluations is not None:
            return f"{self.evaluations} evaluations"
        if self.seconds is not None:
            return f"{self.seconds / 3600:.3g} h"
        return "none"


# ---------------------------------------------------------------------- one evaluation
@dataclass(frozen=True)
class CalibrationJob:
    """A picklable evaluation: the theory's scorecard at given knob values.

    Attributes
    ----------
    model
        A built-in theory name or the absolute path of a model file.
    targets, protocol
        Absolute paths, or None for the packaged ones.
    knobs
        ``(name, low, high)`` of every knob, in order.
    seed
        Cohort seed (the same virtual patients and random numbers in every evaluation).
    model_hash
        Checked when a worker compiles the model.
    """

    model: str
    targets: str | None
    protocol: str | None
    knobs: tuple[tuple[str, float, float], ...]
    seed: int
    model_hash: str
    backend: str = "numba"

    def _loaded(self) -> tuple[Any, Any, Any]:
        key = (self.model, str(self.targets), str(self.protocol))
        if key not in _CACHE:
            from fitts.compile.compiled import compile_model
            from fitts.evaluate.protocol import load_protocol
            from fitts.evaluate.targets import load_targets
            from fitts.spec.load import load_model

            model = compile_model(load_model(self.model))
            if model.model_hash != self.model_hash:
                raise ModelError(f"{self.model} changed while calibrating (hash {model.model_hash}, expected "
                                 f"{self.model_hash})", hint="restart the calibration")
            _CACHE[key] = (model, load_targets(self.targets), load_protocol(self.protocol))
        return _CACHE[key]

    def __call__(self, task: tuple[np.ndarray, int]) -> dict[str, Any]:
        """Evaluate knob values `task[0]` (knob units) on a cohort of `task[1]` patients."""
        from fitts.evaluate.calibrate import Calibration, Knob, scorecard_loss, scorecard_outputs
        from fitts.evaluate.scorecard import evaluate

        values, patients = task
        model, targets, protocol = self._loaded()
        cal = Calibration(model.spec.name, [Knob(name=n, range=(lo, hi), value=float(v))
                                            for (n, lo, hi), v in zip(self.knobs, values, strict=True)])
        t0 = time.perf_counter()
        params, proto = cal.apply(model, protocol, np.arange(patients), self.seed)
        sc = evaluate(model, targets, protocol=proto, patients=patients, seed=self.seed, params=params)
        return {"outputs": scorecard_outputs(sc), "loss": scorecard_loss(sc),
                "status": {o.target.id: o.status for o in sc.outcomes},
                "notes": {o.target.id: o.note for o in sc.outcomes if o.status == "not expressible"},
                "seconds": time.perf_counter() - t0}


@dataclass(frozen=True, eq=False)  # compared and hashed by identity
class _Evaluations:
    """The evaluations of one stage as experiments (:func:`fitts.run.experiments.perform_experiments`):
    a row is a setting of the knobs (knob units), its outcome the evaluation as JSON text."""

    job: CalibrationJob
    patients: int
    name: str = "calibration"
    block_rows: int = 1

    def fingerprint(self) -> dict[str, Any]:
        return {"model": self.job.model, "model_hash": self.job.model_hash, "targets": self.job.targets,
                "protocol": self.job.protocol, "knobs": [list(k) for k in self.job.knobs], "seed": self.job.seed,
                "patients": self.patients}

    def __call__(self, rows: pd.DataFrame, seed: int) -> dict[str, np.ndarray]:
        # the knobs' cohort seed is the job's (the same patients in every evaluation), not the row's
        return {"result": np.array([json.dumps(self.job((values, self.patients)))
                                    for values in rows.to_numpy(dtype=float)], dtype=str)}


def _decoded(text: str) -> dict[str, Any]:
    """An evaluation back from JSON, as :class:`CalibrationJob` returned it (outputs as tuples)."""
    res = json.loads(text)
    res["outputs"] = {k: tuple(v) for k, v in res["outputs"].items()}
    return res


#: evaluations at the scorecard's cohort size re-run on other patients before one is shipped
CONFIRM_CANDIDATES = 3
#: the confirmation cohort's seed is the calibration's plus this (seeds 1 and 2 stay unseen)
CONFIRM_SEED_OFFSET = 1000


def confirmed_rank(candidate: dict[str, Any]) -> tuple[int, float]:
    """Order of preference among confirmed candidates (smaller first): more targets passing
    over both cohorts, then lower loss over both."""
    first, second = shipped_rank(candidate["result"]), shipped_rank(candidate["again"])
    return (first[0] + second[0], first[1] + second[1])


def shipped_rank(result: dict[str, Any]) -> tuple[int, float]:
    """Order of preference among evaluations at the scorecard's cohort size (smaller first):
    more targets passing, then lower loss."""
    return (-sum(s == "pass" for s in result["status"].values()), float(result["loss"]))


# ---------------------------------------------------------------------- the store of runs
class RunStore:
    """Finished evaluations in ``runs.parquet`` (one row each), rewritten atomically."""

    def __init__(self, directory: Path, knob_names: Sequence[str]):
        self.path = directory / RUNS_FILE
        self.knobs = list(knob_names)
        self.rows: dict[tuple[str, int], dict[str, Any]] = {}
        if self.path.exists():
            for r in pd.read_parquet(self.path).to_dict("records"):
                r["outputs"] = json.loads(r["outputs"])
                r["status"] = json.loads(r["status"])
                r["notes"] = json.loads(r["notes"])
                self.rows[(r["stage"], int(r["index"]))] = r

    def get(self, stage: str, index: int, values: np.ndarray, patients: int) -> dict[str, Any] | None:
        r = self.rows.get((stage, index))
        if r is None or int(r["patients"]) != patients:
            return None
        if not np.allclose([r[f"knob:{k}"] for k in self.knobs], values, rtol=0, atol=1e-12):
            return None
        return r

    def put(self, stage: str, index: int, values: np.ndarray, patients: int, result: dict[str, Any],
            unit: np.ndarray | None = None) -> None:
        """Store one evaluation; `unit` is the point on the unit cube the knob `values` came from.

        The unit point is kept as well as the values because ``lo + x (hi - lo)`` does not
        invert exactly in floating point: a resume must train its emulators on the very
        points the first process did, or it refits other emulators.
        """
        from fitts.io.results import save_table

        row = {"stage": stage, "index": index, "patients": patients, "loss": result["loss"],
               "seconds": result["seconds"], "passes": sum(s == "pass" for s in result["status"].values()),
               **{f"knob:{k}": float(v) for k, v in zip(self.knobs, values, strict=True)},
               **({} if unit is None else {f"unit:{k}": float(u) for k, u in zip(self.knobs, unit, strict=True)}),
               "outputs": json.dumps({k: [float(a), float(b)] for k, (a, b) in result["outputs"].items()}),
               "status": json.dumps(result["status"]), "notes": json.dumps(result.get("notes", {}))}
        self.rows[(stage, index)] = {**row, "outputs": result["outputs"], "status": result["status"],
                                     "notes": result.get("notes", {})}
        table = pd.DataFrame([{**r, "outputs": json.dumps({k: list(map(float, v)) for k, v in r["outputs"].items()}),
                               "status": json.dumps(r["status"]), "notes": json.dumps(r["notes"])}
                              for r in self.rows.values()])
        save_table(table, self.path)

    def finished_waves(self, lo: np.ndarray, hi: np.ndarray, patients: int, size: int) -> dict[int, np.ndarray]:
        """Wave number -> its points on the unit cube (in run order), for every wave that is
        complete: `size` runs, or followed by a later wave."""
        waves: dict[int, dict[int, np.ndarray]] = {}
        for (stage, index), r in self.rows.items():
            if stage.startswith("wave ") and int(r["patients"]) == patients:
                x = np.array([r.get(f"unit:{k}", np.nan) for k in self.knobs], dtype=float)
                if not np.all(np.isfinite(x)):  # a store written before unit points were kept
                    x = (np.array([r[f"knob:{k}"] for k in self.knobs], dtype=float) - lo) / (hi - lo)
                waves.setdefault(int(stage.split()[1]), {})[int(index)] = x
        last = max(waves, default=0)
        return {n: np.array([pts[i] for i in range(len(pts))]) for n, pts in waves.items()
                if set(pts) == set(range(len(pts))) and (n < last or len(pts) >= size)}

    def table(self) -> pd.DataFrame:
        """Runs with one column per quantity's value (for users: knobs, loss, outputs)."""
        rows = []
        for r in self.rows.values():
            base = {k: v for k, v in r.items() if k not in ("outputs", "status", "notes")}
            base.update({f"value:{q}": v[0] for q, v in r["outputs"].items()})
            base.update({f"mc_sd:{q}": math.sqrt(v[1]) if v[1] == v[1] else math.nan for q, v in r["outputs"].items()})
            rows.append(base)
        return pd.DataFrame(rows)


def _protocol_hash(protocol: str | Path | None) -> str:
    """The protocol's identity in settings.json: a hash of its file (the built-in one for None),
    so a calibration resumes from any working folder."""
    from fitts.evaluate.protocol import protocol_path

    return hashlib.sha256(Path(protocol or protocol_path()).read_bytes()).hexdigest()[:16]


def _legacy_protocol(value: Any) -> Any:
    """A protocol recorded as a path (settings.json before protocols were hashed) as its hash:
    the file when it is still there, the built-in protocol when it was named as such."""
    if not isinstance(value, str) or len(value) == 16 and all(c in "0123456789abcdef" for c in value):
        return value
    if Path(value).is_file():
        return _protocol_hash(value)
    return _protocol_hash(None) if value.replace("\\", "/").endswith("protocols/default.yaml") else value


def _settings_manifest(directory: Path, manifest: dict[str, Any], resume: bool) -> None:
    from fitts.io.results import save_json

    path = directory / SETTINGS_FILE
    if path.exists():
        old = json.loads(path.read_text())
        old["protocol"] = _legacy_protocol(old.get("protocol"))
        if not resume:
            raise ModelError(f"{directory} already holds a calibration", hint="pass --resume to continue it, "
                             "or choose another --out folder")
        diff = sorted(k for k in set(old) | set(manifest) if old.get(k) != manifest.get(k))
        if set(diff) - _MAY_CHANGE:
            raise ModelError(f"{directory} holds a calibration with other settings ({', '.join(diff)})",
                             hint="resume with the same settings, or choose another --out folder")
        if not diff:
            return
    directory.mkdir(parents=True, exist_ok=True)
    save_json(manifest, path, indent=1, sort_keys=True)


#: settings a resume may change: they decide when the waves stop and what follows them, not
#: what a finished wave simulated (more waves go on from the last; fewer ignore the later ones)
_MAY_CHANGE = {"refine_evaluations", "max_waves"}


class _Legs:
    """The runs of one calibration (legs: the first and each resume) in ``legs.json``, the
    current leg rewritten after every evaluation, so an interrupted leg still counts."""

    def __init__(self, directory: Path):
        self.path = directory / LEGS_FILE
        self.legs = json.loads(self.path.read_text()) if self.path.exists() else []
        self.legs.append({})

    def update(self, seconds: float, computed: int) -> float:
        """Record the current leg; return the wall seconds of all legs so far."""
        from fitts.io.results import save_json

        self.legs[-1] = {"finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                         "seconds": round(seconds, 1), "evaluations_computed": int(computed)}
        save_json(self.legs, self.path, indent=1)
        return float(sum(leg.get("seconds", 0.0) for leg in self.legs))

    def per_hour(self) -> float:
        """Evaluations simulated per wall hour over every leg (NaN before any); a resume that
        only refits stored runs does not read as a rate of zero."""
        seconds = sum(leg.get("seconds", 0.0) for leg in self.legs)
        computed = sum(leg.get("evaluations_computed", 0) for leg in self.legs)
        return computed / seconds * 3600 if seconds > 0 and computed else math.nan


# ---------------------------------------------------------------------- result
@dataclass
class CalibrationRun:
    """Everything a history-matching calibration found (see :func:`run_calibration`)."""

    hm: Any  # HistoryMatch
    knobs: list[Any]  # Knob, fitted
    best: dict[str, Any]  # the shipped evaluation at refine_patients
    refine: list[tuple[list[float], float]]
    stop_reason: str
    evaluations: int
    seconds: float  # wall seconds of every leg (the first run and each resume)
    per_hour: float  # evaluations simulated per wall hour, over every leg
    directory: Path
    not_expressible: dict[str, str] = field(default_factory=dict)
    #: the candidates re-run on other patients: stage, index, passes and loss on both cohorts, chosen
    confirmation: list[dict[str, Any]] = field(default_factory=list)


Progress = Callable[[str, int, int], None]


def run_calibration(model: Any, knobs: Any, *, model_ref: str, directory: str | Path, targets: str | Path | None = None,
                    protocol: str | Path | None = None, patients: int = 1000, refine_patients: int | None = None,
                    settings: Any = None, refine_evaluations: int = 12, budget: Budget | None = None,
                    executor: AbstractExecutor | None = None, resume: bool = False, seed: int = 0,
                    progress: Progress | None = None, log: Callable[[str], None] | None = None) -> CalibrationRun:
    """History matching in waves, then CMA-ES refinement at the scorecard's cohort size.

    Parameters
    ----------
    model, knobs
        The compiled theory and its :class:`~fitts.evaluate.calibrate.Calibration` of knobs.
    model_ref
        How workers load the theory: a built-in name or a model file's absolute path.
    directory
        Output folder: runs, settings, and (written by :func:`save_calibration`) the results.
    patients, refine_patients
        Cohort sizes of the waves and of the refinement (default: the protocol's).
    settings
        :class:`~fitts.evaluate.history_matching.Settings` (``mc_scale`` is set here from the
        cohort sizes).
    refine_evaluations
        CMA-ES evaluations after the waves (0: ship the least implausible wave run, re-run
        at ``refine_patients``).
    budget
        Evaluations or seconds for the whole calibration (the refinement's share is kept).
    progress
        ``progress(stage, done, total)`` after each evaluation.
    """
    from fitts.evaluate.calibrate import quantity_mc_scales, target_quantities
    from fitts.evaluate.history_matching import HistoryMatch, Settings
    from fitts.evaluate.protocol import load_protocol
    from fitts.evaluate.targets import load_targets

    directory = Path(directory)
    executor = executor or InlineExecutor()
    budget = budget or Budget()
    ts = load_targets(targets)
    proto = load_protocol(protocol)
    knobs.check(model, proto)
    n_eval = int(refine_patients or proto.cohort.patients)
    base = settings or Settings()
    settings = replace(base, mc_scale=patients / n_eval, seed=seed)
    names = [k.name for k in knobs.knobs]
    lo = np.array([k.range[0] for k in knobs.knobs], dtype=float)
    hi = np.array([k.range[1] for k in knobs.knobs], dtype=float)
    job = CalibrationJob(model_ref, None if targets is None else str(Path(targets).resolve()),
                         None if protocol is None else str(Path(protocol).resolve()),
                         tuple((n, float(a), float(b)) for n, a, b in zip(names, lo, hi, strict=True)),
                         int(seed), model.model_hash)
    targets_hash = hashlib.sha256(Path(ts.path).read_bytes()).hexdigest()[:16] if ts.path else "packaged"
    manifest = {"theory": model.spec.name, "model_hash": model.model_hash, "targets": targets_hash,
                "protocol": _protocol_hash(protocol), "knobs": [list(k) for k in job.knobs], "patients": patients,
                "refine_patients": n_eval, "seed": seed, "wave_size": settings.wave_size,
                "max_waves": settings.max_waves, "cutoff": settings.cutoff, "measure": settings.measure,
                "discrepancy": settings.discrepancy, "refine_evaluations": refine_evaluations}
    _settings_manifest(directory, manifest, resume)
    store = RunStore(directory, names)
    legs = _Legs(directory)
    started = time.perf_counter()
    done = {"evaluations": 0, "computed": 0, "seconds": 0.0}

    def simulate(points: np.ndarray, stage: str, n: int, shown: tuple[str, int, int] | None = None,
                 cohort_seed: int | None = None) -> list[dict[str, Any]]:
        """Evaluate points (unit cube) not yet in the store; `shown` = (label, done before, total) for
        progress; `cohort_seed` other patients than the calibration's (the confirmation)."""
        units = np.clip(points, 0, 1)
        values = lo + units * (hi - lo)
        results: list[dict[str, Any] | None] = [store.get(stage, i, v, n) for i, v in enumerate(values)]
        todo = [i for i, r in enumerate(results) if r is None]
        finished = len(values) - len(todo)
        label, before, total = shown or (stage, 0, len(values))

        def report() -> None:
            if progress is not None:
                progress(label, before + finished, total)

        report()
        t_batch = time.perf_counter()

        def record(rows: pd.DataFrame, outcomes: dict[str, np.ndarray]) -> None:
            nonlocal finished
            for pos, text in zip(rows.index, outcomes["result"], strict=True):
                i = todo[int(pos)]
                res = _decoded(str(text))
                store.put(stage, i, values[i], n, res, units[i])
                results[i] = res
                finished += 1
                done["computed"] += 1
                legs.update(time.perf_counter() - started, done["computed"])
                report()

        if todo:
            evaluator = _Evaluations(job if cohort_seed is None else replace(job, seed=cohort_seed), n)
            perform_experiments(evaluator, pd.DataFrame(values[todo], columns=names), seed=seed,
                                executor=executor, block_rows=1, on_block=record)
        done["seconds"] += time.perf_counter() - t_batch
        done["evaluations"] += len(values)
        return results  # type: ignore[return-value]

    fits_path = directory / FITS_FILE
    stored_fits = json.loads(fits_path.read_text()) if fits_path.exists() else {}
    hm = HistoryMatch(target_quantities(ts), len(names), settings,
                      mc_scales=quantity_mc_scales(ts, proto, patients, n_eval), fits=stored_fits)

    reserve = refine_evaluations + 1

    def fits(n: int) -> bool:
        if budget.evaluations is not None:
            return done["evaluations"] + n + reserve <= budget.evaluations
        if budget.seconds is not None and done["computed"]:
            per = done["seconds"] / done["computed"]  # wall seconds per evaluation at this parallelism
            refine_cost = reserve * per * n_eval / patients
            return time.perf_counter() - started + n * per + refine_cost <= budget.seconds
        return True

    if not fits(settings.wave_size):
        raise ModelError(f"the budget ({budget.describe()}) does not fit one wave of {settings.wave_size} runs "
                         f"plus {reserve} refinement evaluations", hint="raise --budget or lower --wave-size")

    def on_wave(w: Any) -> None:
        from fitts.io.results import save_json

        if hm.fits != stored_fits:
            save_json(hm.fits, fits_path)
            stored_fits.clear()
            stored_fits.update(hm.fits)
        if log is not None:
            left = 0 if w.points is None else len(w.points)
            aside = f"; set aside: {', '.join(w.set_aside)}" if w.set_aside else ""
            log(f"wave {w.number}: {len(w.runs)} runs, {w.fraction:.3g} of the knob space left "
                f"({left} points found){aside}")

    def wave_runs(x: np.ndarray, stage: str) -> list[dict[str, Any]]:
        return [r["outputs"] for r in simulate(x, stage, patients)]

    # waves a resumed calibration already finished keep their points (the exploration may have changed)
    kept = store.finished_waves(lo, hi, patients, settings.wave_size)
    stop_reason = hm.run(wave_runs, budget=fits, on_wave=on_wave, designs=kept)

    # -- refinement at the scorecard's cohort size
    if not hm.runs:
        raise ModelError(f"no evaluation fitted in the budget ({budget.describe()})", hint="raise --budget")
    best_run = hm.runs[hm.best_runs(1)[0]]
    pts = hm.waves[-1].points if hm.waves else None
    box_lo, box_hi = (np.zeros(len(names)), np.ones(len(names)))
    if pts is not None and len(pts):
        box_lo, box_hi = pts.min(axis=0), pts.max(axis=0)
        box_lo, box_hi = np.minimum(box_lo, best_run.x), np.maximum(box_hi, best_run.x)
    history: list[tuple[list[float], float]] = []
    total = max(refine_evaluations, 1)
    # named by the waves before it: a refinement after more waves never overwrites an earlier one
    stage = f"refine after wave {len(hm.waves)}"
    start = simulate(best_run.x[None, :], stage, n_eval, ("refinement", 0, total))[0]
    history.append(((lo + best_run.x * (hi - lo)).tolist(), start["loss"]))
    if refine_evaluations > 1 and len(names) > 1:
        import cma

        span = np.maximum(box_hi - box_lo, 1e-6)
        z0 = (best_run.x - box_lo) / span
        es = cma.CMAEvolutionStrategy(np.clip(z0, 0, 1).tolist(), 0.25,
                                      {"bounds": [0, 1], "popsize": max(4, 2 * executor.workers), "seed": seed + 7,
                                       "verbose": -9, "maxfevals": refine_evaluations - 1})
        step = 0
        while not es.stop() and len(history) < refine_evaluations:
            zs = es.ask()
            zs = zs[: refine_evaluations - len(history)]
            xs = box_lo + np.clip(np.array(zs), 0, 1) * span
            res = simulate(xs, f"{stage}, step {step}", n_eval, ("refinement", len(history), total))
            step += 1
            losses = [r["loss"] for r in res]
            for x, r in zip(xs, res, strict=True):
                history.append(((lo + x * (hi - lo)).tolist(), r["loss"]))
            if len(zs) < es.popsize:
                break
            es.tell(zs, losses)
    from fitts.evaluate.calibrate import Knob

    # the shipped point: every stored evaluation at the scorecard's cohort size competes (so more
    # waves never ship a point that passes fewer targets than an earlier refinement's); the best
    # few are evaluated again on other patients, and the passes on both cohorts decide
    candidates = sorted(((key, r) for key, r in store.rows.items()
                         if key[0].startswith("refine") and int(r["patients"]) == n_eval),
                        key=lambda item: (shipped_rank(item[1]), item[0]))[:CONFIRM_CANDIDATES]
    confirm_seed = seed + CONFIRM_SEED_OFFSET
    confirmation: list[dict[str, Any]] = []
    for k, ((st, idx), r) in enumerate(candidates):
        values = np.array([r[f"knob:{n}"] for n in names], dtype=float)
        unit = np.array([r.get(f"unit:{n}", np.nan) for n in names], dtype=float)
        if not np.all(np.isfinite(unit)):  # stored before unit points were kept
            unit = (values - lo) / (hi - lo)
        again = simulate(unit[None, :], f"confirm {st} #{idx}", n_eval, ("confirmation", k, len(candidates)),
                         cohort_seed=confirm_seed)[0]
        confirmation.append({"stage": st, "index": int(idx), "values": values, "result": r, "again": again})
    chosen = min(confirmation, key=confirmed_rank)
    best, best_values = chosen["result"], chosen["values"]
    fitted = [Knob(name=k.name, range=k.range, value=float(best_values[i])) for i, k in enumerate(knobs.knobs)]
    expressed = {hm.quantities[q].target for r in hm.runs for q in r.outputs if q in hm.quantities}
    not_expressible = {}
    for t in ts:
        if t.id not in expressed:
            notes = [r.get("notes", {}).get(t.id, "") for r in store.rows.values()]
            not_expressible[t.id] = next((n for n in notes if n), "no evaluation could compute it")
    wall = legs.update(time.perf_counter() - started, done["computed"])
    table = [{"stage": c["stage"], "index": c["index"],
              "passes": -shipped_rank(c["result"])[0], "loss": round(float(c["result"]["loss"]), 3),
              "passes_other_patients": -shipped_rank(c["again"])[0],
              "loss_other_patients": round(float(c["again"]["loss"]), 3), "other_patients_seed": confirm_seed,
              "shipped": c is chosen}
             for c in confirmation]
    return CalibrationRun(hm, fitted, best, history, stop_reason, len(store.rows), wall, legs.per_hour(), directory,
                          not_expressible, table)


# ---------------------------------------------------------------------- reports
def tension_statements(tensions: pd.DataFrame | None, theory: str) -> list[dict[str, Any]]:
    """The empty joint regions of a tension table, in words (one dict per statement)."""
    if tensions is None or tensions.empty:
        return []
    out = []
    alone = set(tensions[(tensions.a == tensions.b) & tensions.impossible].a)
    for r in tensions[tensions.impossible].itertuples():
        if r.a == r.b:
            text = (f"{theory} cannot meet {r.a} anywhere in the knob ranges "
                    f"(no setting of {r.tried} tried is non-implausible for it)")
        elif r.a in alone or r.b in alone:
            continue  # implied by the target that cannot be met alone
        else:
            text = (f"{theory} cannot meet {r.a} and {r.b} together: each is met somewhere in the knob "
                    f"ranges, but no setting of {r.tried} tried is non-implausible for both")
        runs = int(getattr(r, "runs_meeting", 0) or 0)
        if runs:
            text += (f"; {runs} simulated run{'s' if runs > 1 else ''} met "
                     f"{'it' if r.a == r.b else 'both'} within its own Monte-Carlo noise, which the emulators "
                     "read as chance at the runs' cohort size")
        out.append({"targets": sorted({r.a, r.b}), "statement": text, "runs_meeting": runs})
    return out


def save_calibration(run: CalibrationRun, model: Any, *, targets_name: str, knob_names: Sequence[str],
                     patients: int, refine_patients: int, settings: Any) -> dict[str, Path]:
    """Write the calibration folder: calibration.yaml, tables (CSV) and figures (PNG).

    Files
    -----
    calibration.yaml
        The fitted knobs (pass it to ``fitts evaluate --calibration``), the scorecard at the
        shipped point, the waves, the tensions in words and the settings.
    waves.csv, tensions.csv, emulators.csv, runs.csv
        One row per wave; per wave and pair of targets; per wave and quantity (leave-one-out
        diagnostics, emulator precision); per evaluation (knobs, loss, outputs).
    nroy.png, tensions.png
        The space left in 2-D projections and the tension matrix.
    """
    from fitts.evaluate.calibrate import Calibration
    from fitts.io.results import save_table
    from fitts.plot.calibration import nroy_figure, tension_figure
    from fitts.plot.figures import save_figure

    d = run.directory
    hm = run.hm
    paths: dict[str, Path] = {}
    waves = hm.wave_table()
    save_table(waves, d / "waves.csv")
    paths["waves"] = d / "waves.csv"
    tension_rows = [t.assign(wave=w.number) for w in hm.waves if w.tensions is not None for t in [w.tensions]]
    tensions = pd.concat(tension_rows, ignore_index=True) if tension_rows else pd.DataFrame()
    save_table(tensions, d / "tensions.csv")
    paths["tensions"] = d / "tensions.csv"
    em_rows = []
    for w in hm.waves:
        for q, diag in w.loo().items():
            em = w.emulators[q]
            em_rows.append({"wave": w.number, "quantity": q, "runs": len(em.y), "loo_outside_3": diag.outside,
                            "loo_rms_standardised": diag.rmse, "emulator_ratio": w.emulator_ratio.get(q, math.nan),
                            "extra_noise_sd": math.sqrt(em.white),
                            **{f"length:{k}": float(v) for k, v in zip(knob_names, em.length_scales, strict=False)}})
        for q, why in w.skipped.items():
            em_rows.append({"wave": w.number, "quantity": q, "runs": 0, "note": f"not emulated: {why}"})
    save_table(pd.DataFrame(em_rows), d / "emulators.csv")
    paths["emulators"] = d / "emulators.csv"
    save_table(RunStore(d, knob_names).table(), d / "runs.csv")
    paths["runs"] = d / "runs.csv"

    last = hm.waves[-1].tensions if hm.waves else None
    statements = tension_statements(last, model.spec.name)
    partners: dict[str, list[str]] = {}
    unreachable = set()
    for s in statements:
        if len(s["targets"]) == 1:
            unreachable.add(s["targets"][0])
            continue
        a, b = s["targets"]
        partners.setdefault(a, []).append(b)
        partners.setdefault(b, []).append(a)
    verdicts = {}
    for tid, status in run.best["status"].items():
        entry: dict[str, Any] = {"status": status}
        value = run.best["outputs"].get(tid)
        if value is not None:
            entry["simulated"] = round(float(value[0]), 4)
        if tid in unreachable:
            entry["unreachable"] = True  # no knob setting in the ranges meets it
        if tid in partners:
            entry["in_tension_with"] = sorted(partners[tid])
        if tid in hm.set_aside:
            entry["set_aside"] = hm.set_aside[tid]  # matched no more after that wave
        if tid in run.not_expressible:
            entry["note"] = run.not_expressible[tid]
        verdicts[tid] = entry
    passes = sum(v["status"] == "pass" for v in verdicts.values())
    summary = {
        "method": "history matching (emulators: Gaussian processes; implausibility cut-off "
                  f"{settings.cutoff:g} on the {'largest' if settings.measure == 'max' else 'second-largest'} "
                  "target implausibility), then "
                  + (f"CMA-ES refinement ({len(run.refine)} evaluations)" if len(run.refine) > 1 else
                     f"the least implausible run re-run at {refine_patients} patients"),
        "stop_reason": run.stop_reason, "wave_patients": patients, "refine_patients": refine_patients,
        "wave_size": settings.wave_size, "discrepancy": settings.discrepancy,
        "evaluations": run.evaluations, "wall_hours": round(run.seconds / 3600, 3),
        "evaluations_per_hour": None if math.isnan(run.per_hour) else round(run.per_hour, 1),
        "waves": [{k: (None if isinstance(v, float) and math.isnan(v) else
                       (float(f"{v:.4g}") if isinstance(v, float) else v)) for k, v in row.items()}
                  for row in waves.to_dict("records")],
        "set_aside": dict(hm.set_aside),
        "not_expressible": dict(run.not_expressible),
        "confirmation": run.confirmation,
    }
    cal = Calibration(model.spec.name, run.knobs, int(settings.seed), refine_patients, float(run.best["loss"]))
    cal.save(d / "calibration.yaml", model_hash=model.model_hash, targets=targets_name,
             evaluations=run.evaluations,
             scorecard={"passes": passes, "of": len(verdicts), "patients": refine_patients, "targets": verdicts},
             history_matching=summary, tensions=statements)
    paths["calibration"] = d / "calibration.yaml"
    if hm.waves:
        paths["nroy"] = save_figure(nroy_figure(hm, knob_names), d / "nroy.png", dpi=110)
        if last is not None and not last.empty:
            paths["tension_figure"] = save_figure(tension_figure(last), d / "tensions.png", dpi=110)
    return paths
