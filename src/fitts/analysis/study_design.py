"""Which diary study tells two theories apart: search a space of candidate designs.

A candidate design is a diary study (patients N, days D, prompts a day P, which measures)
with an optional challenge mid-diary: a pulse on an input both theories have (a stressor
of `level` for `duration` days from day D // 2) or an intervention both declare (from day
D // 2 to the end). Its cost is participants x days (N x D).

Method
------
For every challenge and diary length, both theories are simulated (independent seeds) for
``replicates`` x N_max patients; each replicate study is a block of N_max of them, and a
smaller study takes the first N of its block. Each patient gives features per measure:
the mean and the within-person sd before the challenge, the response to the challenge
(mean during the challenge and two days after, minus the mean before), and within-person
lagged slopes between measures (per patient, ``y_t`` on ``x_{t-1}`` and ``y_{t-1}``, at
the prompt level when P > 1, else the day level).

A replicate study of theory A (N patients) is tested against the prediction of theory B,
the pooled patients of B's other replicates, and vice versa: per feature a Welch t-test,
Bonferroni over the design's features; the study tells the theories apart when any
feature rejects at `alpha`. The *power* of a design is the fraction of replicate studies
(both directions) that do. When the theories are the same, every test is a test of a
true null, and the power stays at or below `alpha` (up to Monte-Carlo error).

Designs are ranked by power, then by cost, then by burden (prompts a day, number of
measures), then by separation; those over the budget are not simulated.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fitts.analysis.scenarios import ModelHandle
from fitts.analysis.within_person import Measures, diary_measures, lagged_pairs, occasions
from fitts.compile.compiled import CompiledModel
from fitts.errors import DataError
from fitts.observe.diary import DiaryDesign, resolve_measures, simulate_diaries
from fitts.run.executors import AbstractExecutor
from fitts.run.experiments import perform_experiments
from fitts.sim.simulate import Apply


@dataclass(frozen=True)
class Challenge:
    """A challenge given mid-diary.

    Attributes
    ----------
    name
        ``none``, ``pulse:INPUT`` or ``intervention:NAME``.
    components
        Input components (dicts, times in diary days from the challenge start).
    intervention
        Name of an intervention both models declare, applied from the start to the end.
    duration
        Days the challenge lasts (its response window is this plus two days).
    """

    name: str
    components: tuple[dict[str, Any], ...] = ()
    intervention: str | None = None
    duration: float = 0.0

    def timed(self, start: float) -> tuple[list[dict[str, Any]], list[Apply]]:
        comps = []
        for c in self.components:
            c = dict(c)
            c["start"] = float(c.get("start", 0.0)) + start
            comps.append(c)
        applies = [Apply(self.intervention, start=start)] if self.intervention else []
        return comps, applies


NO_CHALLENGE = Challenge("none")


def candidate_challenges(model_a: CompiledModel, model_b: CompiledModel, *, level: float = 1.0,
                         duration: float = 3.0, inputs: Sequence[str] | None = None) -> list[Challenge]:
    """No challenge, a pulse on each input both models have, each intervention both declare."""
    shared = [i for i in model_a.inputs if i in model_b.input_index]
    if inputs is not None:
        bad = [i for i in inputs if i not in shared]
        if bad:
            raise DataError(f"challenge input {bad[0]!r} is not an input of both models (shared: {', '.join(shared)})")
        shared = list(inputs)
    out = [NO_CHALLENGE]
    for i in shared:
        out.append(Challenge(f"pulse:{i}", ({"input": i, "kind": "pulse", "duration": duration,
                                             "level": level},), duration=duration))
    for name in model_a.spec.interventions:
        if name in model_b.spec.interventions:
            out.append(Challenge(f"intervention:{name}", intervention=name, duration=duration))
    return out


@dataclass(frozen=True)
class DesignSpace:
    """The candidate designs: every combination within the budget.

    Attributes
    ----------
    patients, days, prompts
        Grids of participants, diary days and prompts a day.
    challenges
        Challenges (default: :func:`candidate_challenges`).
    measure_sets
        Sets of measures (names); default: all common measures, and each one alone.
    budget
        Maximum participants x days (None: no limit).
    """

    patients: tuple[int, ...] = (10, 20, 50)
    days: tuple[int, ...] = (14, 28)
    prompts: tuple[int, ...] = (1, 3)
    challenges: tuple[Challenge, ...] | None = None
    measure_sets: tuple[tuple[str, ...], ...] | None = None
    budget: float | None = None

    def __post_init__(self) -> None:
        for name in ("patients", "days", "prompts"):
            v = getattr(self, name)
            if not v or any(int(x) != x or x < 1 for x in v):
                raise DataError(f"design space {name} must be positive whole numbers, got {v}")
        if min(self.patients) < 3:
            raise DataError("a design needs at least 3 patients")
        if self.budget is not None and self.budget < min(self.patients) * min(self.days):
            raise DataError(f"budget {self.budget:g} participant-days is below the cheapest design "
                            f"({min(self.patients)} x {min(self.days)})")

    def affordable(self, n: int, d: int) -> bool:
        return self.budget is None or n * d <= self.budget + 1e-9


def _per_patient_slopes(diary: pd.DataFrame, cause: str, effect: str, level: str, occ: pd.DataFrame,
                        ms: Measures) -> pd.Series:
    """Per-patient within-person slope of effect_t on cause_{t-1}, adjusting for effect_{t-1}."""
    df = lagged_pairs(diary, cause, effect, level, occ=occ, measures=ms)
    if df.empty:
        return pd.Series(dtype=float)
    g = df.groupby("patient")
    c = df[["y", "y_lag", "x_lag"]] - g[["y", "y_lag", "x_lag"]].transform("mean")
    sums = pd.DataFrame({"patient": df["patient"], "xx": c.x_lag ** 2, "zz": c.y_lag ** 2,
                         "xz": c.x_lag * c.y_lag, "xy": c.x_lag * c.y, "zy": c.y_lag * c.y}).groupby("patient").sum()
    det = sums.xx * sums.zz - sums.xz ** 2
    slope = (sums.xy * sums.zz - sums.zy * sums.xz) / det.where(det > 1e-12)
    return slope


def patient_features(diary: pd.DataFrame, *, challenge_start: float | None, response_days: float,
                     measures: Sequence[str] | None = None) -> pd.DataFrame:
    """Features per patient of a diary (index: patient; columns ``kind:measure``).

    ``mean:M`` and ``sd:M`` (before the challenge, or over the diary), ``response:M`` (with a
    challenge) and ``slope:X->Y`` for ordered pairs of momentary measures (prompt level when
    there are several prompts a day; else the day level, nightly measures included).
    """
    ms = diary_measures(diary)
    names = [*ms.momentary, *ms.nightly] if measures is None else list(measures)
    d = diary[diary["measure"].astype(str).isin(names)].dropna(subset=["value"])
    d = d.assign(measure=d["measure"].astype(str))
    pre = d if challenge_start is None else d[d["time"] < challenge_start]
    feats = [pre.groupby(["patient", "measure"])["value"].mean().unstack().add_prefix("mean:"),
             pre.groupby(["patient", "measure"])["value"].std().unstack().add_prefix("sd:")]
    if challenge_start is not None:
        during = d[(d["time"] >= challenge_start) & (d["time"] < challenge_start + response_days)]
        resp = during.groupby(["patient", "measure"])["value"].mean().unstack() - \
            pre.groupby(["patient", "measure"])["value"].mean().unstack()
        feats.append(resp.add_prefix("response:"))
    n_prompts = int(diary.loc[diary["prompt"] > 0, "prompt"].max()) if (diary["prompt"] > 0).any() else 0
    level = "prompt" if n_prompts > 1 else "day"
    lv = [m for m in (ms.momentary if level == "prompt" else (*ms.nightly, *ms.momentary)) if m in names]
    if len(lv) > 1:
        occ = occasions(diary, level)
        for x, y in itertools.permutations(lv, 2):
            feats.append(_per_patient_slopes(diary, x, y, level, occ, ms).rename(f"slope:{x}->{y}").to_frame())
    out = pd.concat(feats, axis=1)
    out.columns = [str(c) for c in out.columns]
    return out


def _welch_p(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Two-sided Welch t-test p-values per column (NaN ignored), shapes (n, k) and (m, k)."""
    from scipy import stats

    nx_ = np.sum(np.isfinite(x), axis=0)
    nr = np.sum(np.isfinite(ref), axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx, mr = np.nanmean(x, axis=0), np.nanmean(ref, axis=0)
        vx, vr = np.nanvar(x, axis=0, ddof=1), np.nanvar(ref, axis=0, ddof=1)
        se2 = vx / nx_ + vr / nr
        t = (mx - mr) / np.sqrt(se2)
        df = se2 ** 2 / ((vx / nx_) ** 2 / (nx_ - 1) + (vr / nr) ** 2 / (nr - 1))
        p = 2 * stats.t.sf(np.abs(t), df)
    ok = (nx_ >= 3) & (nr >= 3) & (se2 > 0)
    return np.where(ok, p, np.nan)


def _power(fa: pd.DataFrame, fb: pd.DataFrame, block: int, n: int, cols: list[str], alpha: float
           ) -> tuple[float, float, int, str]:
    """Power of N-patient studies (both directions), mean best |standardised difference|, the
    number of features, and the feature that separates the theories most (largest mean
    |standardised difference| over the replicate studies)."""
    cols = [c for c in cols if c in fa.columns and c in fb.columns]
    if not cols:
        return 0.0, 0.0, 0, ""
    rep_a = fa.index.to_numpy() // block
    rep_b = fb.index.to_numpy() // block
    slot_a = fa.index.to_numpy() % block
    slot_b = fb.index.to_numpy() % block
    A, B = fa[cols].to_numpy(float), fb[cols].to_numpy(float)
    reps = sorted(set(rep_a) & set(rep_b))
    hits, tests, effect = 0, 0, []
    per_feature = np.zeros(len(cols))
    for r in reps:
        for X, rx, sx, Y, ry in ((A, rep_a, slot_a, B, rep_b), (B, rep_b, slot_b, A, rep_a)):
            study = X[(rx == r) & (sx < n)]
            ref = Y[ry != r]
            p = _welch_p(study, ref)
            k = int(np.sum(np.isfinite(p)))
            if k == 0:
                tests += 1
                continue
            hits += bool(np.nanmin(p) < alpha / k)
            tests += 1
            with np.errstate(invalid="ignore", divide="ignore"):
                d = (np.nanmean(study, axis=0) - np.nanmean(ref, axis=0)) / np.nanstd(ref, axis=0, ddof=1)
            if np.isfinite(d).any():
                effect.append(float(np.nanmax(np.abs(d))))
                per_feature += np.nan_to_num(np.abs(d))
    top = cols[int(np.argmax(per_feature))] if per_feature.any() else ""
    return hits / max(tests, 1), float(np.mean(effect)) if effect else 0.0, len(cols), top


@dataclass(frozen=True, eq=False)  # compared and hashed by identity (holds dicts, tables)
class DiaryFeatures:
    """Evaluator of the experiments: per row (challenge, diary days, theory 0/1), the diaries of
    every replicate's patients at each prompt density, as per-patient features.

    Theory ``k`` is simulated at the experiment's seed + k (independent patients), patients
    ``0 .. patients-1`` (replicate blocks), with the challenge from day ``days // 2``. Returns
    records ``row, prompts, patient, feature, value`` (every patient x feature, NaN kept).
    """

    models: tuple[ModelHandle, ModelHandle]
    challenges: tuple[Challenge, ...]
    template: DiaryDesign
    momentary: tuple[str, ...]
    nightly: tuple[str, ...]
    prompts: tuple[int, ...]
    patients: int
    schedule: tuple[dict[str, Any], ...] | None
    backend: str
    name: str = "diary-features"
    block_rows: int = 1

    @property
    def model(self) -> ModelHandle:
        portable = all(m.portable for m in self.models)
        return self.models[0] if portable else next(m for m in self.models if not m.portable)

    def fingerprint(self) -> dict[str, Any]:
        return {"models": [[m.ref, m.model_hash] for m in self.models],
                "challenges": [[c.name, [dict(x) for x in c.components], c.intervention, c.duration]
                               for c in self.challenges],
                "template": self.template.to_dict(), "momentary": list(self.momentary),
                "nightly": list(self.nightly), "prompts": list(self.prompts), "patients": self.patients,
                "schedule": None if self.schedule is None else [dict(c) for c in self.schedule],
                "backend": self.backend}

    def __call__(self, rows: pd.DataFrame, seed: int) -> pd.DataFrame:
        parts = []
        for row, c, days, k in zip(rows.index, rows["challenge"], rows["days"], rows["theory"], strict=True):
            ch = self.challenges[int(c)]
            start = float(int(days) // 2) if ch.name != "none" else None
            comps, applies = ch.timed(start or 0.0)
            designs = [DiaryDesign(**{**self.template.__dict__, "days": int(days), "prompts": int(p),
                                      "prompt_hours": None, "measures": self.momentary, "nightly": self.nightly})
                       for p in self.prompts]
            tables = simulate_diaries(self.models[int(k)].get(), designs, patients=np.arange(self.patients),
                                      seed=seed + int(k), schedule=self.schedule,
                                      challenge=comps if ch.name != "none" else (),
                                      interventions=applies if ch.name != "none" else (), backend=self.backend)
            for p, t in zip(self.prompts, tables, strict=True):
                f = patient_features(t, challenge_start=start, response_days=ch.duration + 2.0)
                n_pat, n_feat = f.shape
                parts.append(pd.DataFrame({
                    "row": np.full(n_pat * n_feat, int(row)), "prompts": np.full(n_pat * n_feat, int(p)),
                    "patient": np.repeat(f.index.to_numpy(np.int64), n_feat),
                    "feature": np.tile(np.asarray(f.columns, dtype=str), n_pat),
                    "value": f.to_numpy(float).ravel()}))
        return pd.concat(parts, ignore_index=True)


def _features_by_row(records: pd.DataFrame | None) -> dict[tuple[int, int], pd.DataFrame]:
    """Records of :class:`DiaryFeatures` -> {(row, prompts): features (index patient, one column each)}."""
    out: dict[tuple[int, int], pd.DataFrame] = {}
    if records is None:
        return out
    for (row, p), g in records.groupby(["row", "prompts"], sort=False):
        patients = pd.unique(g["patient"])
        features = pd.unique(g["feature"])
        values = g["value"].to_numpy(float).reshape(len(patients), len(features))
        out[(int(row), int(p))] = pd.DataFrame(values, index=pd.Index(patients, name="patient"),
                                               columns=[str(f) for f in features])
    return out


def _executor(executor: AbstractExecutor | None, ev: DiaryFeatures) -> AbstractExecutor | None:
    """`executor`, refused for a model that worker processes cannot load."""
    from fitts.run.executors import InlineExecutor

    if executor is not None and not isinstance(executor, InlineExecutor) and not ev.model.portable:
        raise DataError("a model built from text cannot be loaded in worker processes; save it to a .yaml "
                        "file and pass its path, or run in this process (--workers 1)")
    return executor


@dataclass(frozen=True)
class DesignResult:
    """Ranked designs and the settings of the search."""

    table: pd.DataFrame
    settings: dict[str, Any]

    @property
    def top(self) -> pd.Series:
        return self.table.iloc[0]


def discriminating_designs(
    model_a: CompiledModel,
    model_b: CompiledModel,
    space: DesignSpace | None = None,
    *,
    replicates: int = 20,
    seed: int = 0,
    alpha: float = 0.05,
    diary: DiaryDesign | None = None,
    schedule: Iterable[dict[str, Any]] | None = None,
    challenge_level: float = 1.0,
    challenge_duration: float = 3.0,
    backend: str = "numba",
    progress: Callable[[int, int], None] | None = None,
    executor: AbstractExecutor | None = None,
    directory: str | Path | None = None,
    resume: bool = False,
) -> DesignResult:
    """Rank candidate diary studies by their probability of telling two theories apart.

    Parameters
    ----------
    model_a, model_b
        The two theories (compiled).
    space
        The candidate designs (default :class:`DesignSpace()`).
    replicates
        Replicate studies per design and theory (>= 3); power has Monte-Carlo sd about
        sqrt(p(1-p) / (2 x replicates)).
    seed
        Theory A uses `seed`, theory B `seed + 1` (independent patients).
    alpha
        Family-wise level of a study's test.
    diary
        Template of the diary (missingness, noise, burn-in, jitter; days, prompts and
        measures are set by the space). Default :class:`DiaryDesign()`.
    schedule
        Everyday inputs (default: the diary's :func:`~fitts.observe.diary.everyday_schedule`).
    challenge_level, challenge_duration
        Size (input units) and length (days) of the input-pulse challenges.
    progress
        Called as ``progress(done, total)`` after each simulation.
    executor, directory, resume
        Where the simulations run (one experiment per challenge, diary length and theory,
        :class:`DiaryFeatures`), the run store and whether to resume it (see
        :func:`fitts.run.experiments.perform_experiments`).

    Returns
    -------
    DesignResult
        ``table``: one row per design with ``rank, challenge, measures, patients, days,
        prompts, cost, power, effect`` (mean best standardised difference), ``features``,
        ``top_feature`` (the feature that separates the theories most: ``mean:M`` a
        baseline level, ``sd:M`` variability, ``response:M`` the response to the challenge,
        ``slope:X->Y`` a within-person coupling), ``separates_by`` (that kind, in words:
        ``baseline level`` for a design that tells the theories apart mainly by a level),
        ``power_beyond_levels`` (the same studies without the ``mean:`` features); sorted
        by power (descending), then cost.
    """
    space = space or DesignSpace()
    if replicates < 3:
        raise DataError(f"replicates must be >= 3, got {replicates}")
    template = diary or DiaryDesign()
    challenges = list(space.challenges) if space.challenges is not None else candidate_challenges(
        model_a, model_b, level=challenge_level, duration=challenge_duration)
    # measures both theories express (momentary and nightly, as the template resolves them)
    mom_a, night_a = resolve_measures(model_a, template)
    mom_b, night_b = resolve_measures(model_b, template)
    momentary = tuple(m for m in mom_a if m in mom_b)
    nightly = tuple(m for m in night_a if m in night_b)
    if not momentary:
        raise DataError("the two theories share no momentary diary measure")
    common = (*momentary, *nightly)
    sets = list(space.measure_sets) if space.measure_sets is not None else \
        [common, *((m,) for m in common)] if len(common) > 1 else [common]
    for s in sets:
        bad = [m for m in s if m not in common]
        if bad:
            raise DataError(f"measure {bad[0]!r} is not a diary measure of both theories ({', '.join(common)})")
    days_grid = [d for d in sorted(set(space.days)) if any(space.affordable(n, d) for n in space.patients)]
    block = max(space.patients)
    prompts = tuple(sorted(set(space.prompts)))
    ev = DiaryFeatures((ModelHandle.of(model_a), ModelHandle.of(model_b)), tuple(challenges), template, momentary,
                       nightly, prompts, replicates * block, None if schedule is None else tuple(schedule), backend)
    grid = [(c, d, k) for c in range(len(challenges)) for d in days_grid for k in (0, 1)]
    design = pd.DataFrame(grid, columns=["challenge", "days", "theory"])
    total = len(grid)

    def rows_done(n: int, _planned: int) -> None:
        if progress is not None:
            progress(n, total)

    res = perform_experiments(ev, design, seed=seed, executor=_executor(executor, ev), directory=directory,
                              resume=resume, progress=rows_done)
    feats = _features_by_row(res.records)
    rows = []
    for i, (c, days, k) in enumerate(grid):
        if k == 1:
            continue
        ch = challenges[c]
        for p in prompts:
            fa, fb = feats[(i, p)], feats[(i + 1, p)]
            for mset in sets:
                cols = [col for col in fa.columns if _feature_uses(col, mset)]
                for n in sorted(set(space.patients)):
                    if not space.affordable(n, days):
                        continue
                    power, effect, nf, top = _power(fa, fb, block, n, cols, alpha)
                    # the same studies judged without the baseline levels (mean:M): how much of the
                    # power is more than a difference in level
                    dynamic = [col for col in cols if not col.startswith("mean:")]
                    beyond = _power(fa, fb, block, n, dynamic, alpha)[0] if dynamic else 0.0
                    rows.append({"challenge": ch.name, "measures": "+".join(mset), "patients": n, "days": days,
                                 "prompts": p, "cost": n * days, "power": power, "effect": effect,
                                 "features": nf, "top_feature": top, "power_beyond_levels": beyond,
                                 "separates_by": _separates_by(top)})
    if not rows:
        raise DataError("no candidate design fits the budget")
    # ties in power go to the cheaper design, then to the lighter one for participants (fewer
    # prompts, fewer measures), then to the larger separation
    table = pd.DataFrame(rows)
    table["_n_measures"] = table["measures"].str.count(r"\+") + 1
    table = table.sort_values(["power", "cost", "prompts", "_n_measures", "effect"],
                              ascending=[False, True, True, True, False], kind="stable")
    table = table.drop(columns="_n_measures").reset_index(drop=True)
    table.insert(0, "rank", np.arange(1, len(table) + 1))
    settings = {"model_a": model_a.spec.name, "model_b": model_b.spec.name, "model_a_hash": model_a.model_hash,
                "model_b_hash": model_b.model_hash, "replicates": replicates, "seed": seed, "alpha": alpha,
                "budget": space.budget, "challenge_level": challenge_level,
                "challenge_duration": challenge_duration, "diary": template.to_dict()}
    return DesignResult(table, settings)


#: what each kind of feature compares between the theories
FEATURE_KINDS = {"mean": "baseline level", "sd": "variability", "response": "challenge response",
                 "slope": "within-person coupling"}


def _separates_by(feature: str) -> str:
    """The kind of difference a feature measures (``baseline level`` for ``mean:M``)."""
    return FEATURE_KINDS.get(feature.partition(":")[0], "nothing") if feature else "nothing"


def _feature_uses(column: str, measures: Sequence[str]) -> bool:
    """Whether a feature column uses only the given measures."""
    kind, _, rest = column.partition(":")
    if kind == "slope":
        x, _, y = rest.partition("->")
        return x in measures and y in measures
    return rest in measures
