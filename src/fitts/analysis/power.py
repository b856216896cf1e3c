"""Power and recovery curves: how often a diary study recovers each true link of a theory.

For every replicate, the theory's patients are simulated once for the longest diary
(``max(days)``, independent patients per replicate: ids ``r * max(patients) + 0..``) and read
at every prompt density; a study with N patients and D days takes the first N patients of
the replicate and its first D days. Each study is analysed with the lagged multilevel model
and/or PCMCI (:mod:`fitts.analysis.within_person`) and compared with the true graph; a
true link is *recovered* when it is found (p < alpha) with its true sign. Its recovery rate
over replicates is the power of that design for that link.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fitts.analysis.scenarios import ModelHandle
from fitts.analysis.within_person import compare_with_truth, lagged_mlm, pcmci_links, true_links
from fitts.compile.compiled import CompiledModel
from fitts.errors import DataError
from fitts.observe.diary import DiaryDesign, resolve_measures, simulate_diaries
from fitts.run.executors import AbstractExecutor
from fitts.run.experiments import perform_experiments

METHODS = ("mlm", "pcmci")


@dataclass(frozen=True)
class PowerResult:
    """Recovery per design and link (``table``), per replicate (``replicates``), settings."""

    table: pd.DataFrame
    replicates: pd.DataFrame
    settings: dict[str, Any]


def _subset(diary: pd.DataFrame, ids: np.ndarray, days: int) -> pd.DataFrame:
    return diary[diary["patient"].isin(ids) & (diary["day"] < days)]


@dataclass(frozen=True, eq=False)  # compared and hashed by identity (holds dicts, tables)
class ReplicateStudies:
    """Evaluator of the experiments: one replicate per row, every design of the grid analysed.

    Row ``r`` simulates the patients ``r * block + 0 .. block-1`` at the experiment's seed
    for the longest diary at every prompt density and returns one record per (design,
    level, method, true link) with ``recovered``.
    """

    model: ModelHandle
    designs: tuple[DiaryDesign, ...]
    cells: tuple[tuple[int, int, int, str], ...]
    block: int
    momentary: tuple[str, ...]
    nightly: tuple[str, ...]
    methods: tuple[str, ...]
    alpha: float
    random_slope: bool
    schedule: tuple[dict[str, Any], ...] | None
    backend: str
    name: str = "diary-power"
    block_rows: int = 1

    def fingerprint(self) -> dict[str, Any]:
        return {"model": self.model.ref, "model_hash": self.model.model_hash,
                "designs": [d.to_dict() for d in self.designs], "cells": [list(c) for c in self.cells],
                "block": self.block, "methods": list(self.methods), "alpha": self.alpha,
                "random_slope": self.random_slope, "schedule": None if self.schedule is None else
                [dict(c) for c in self.schedule], "backend": self.backend}

    def __call__(self, rows: pd.DataFrame, seed: int) -> pd.DataFrame:
        model = self.model.get()
        truth = true_links(model, self.momentary, self.nightly)
        direct = truth[truth["kind"] == "direct"]
        out = []
        for r in rows["replicate"].to_numpy(int):
            ids = r * self.block + np.arange(self.block)
            prompts = [d.prompts for d in self.designs]
            tables = dict(zip(prompts, simulate_diaries(model, list(self.designs), patients=ids, seed=seed,
                                                        schedule=self.schedule, backend=self.backend), strict=True))
            for rec in self._analyse(model, tables, ids, truth, direct):
                out.append({"row": int(r), "replicate": int(r), **rec})
        cols = ["row", "replicate", "level", "method", "cause", "effect", "patients", "days", "prompts", "recovered"]
        return pd.DataFrame(out, columns=cols)

    def _analyse(self, model: CompiledModel, tables: dict[int, pd.DataFrame], ids: np.ndarray, truth: pd.DataFrame,
                 direct: pd.DataFrame) -> list[dict[str, Any]]:
        rows = []
        for n, d, p, level in self.cells:
            sub = _subset(tables[p], ids[:n], d)
            names = self.momentary if level == "prompt" else (*self.nightly, *self.momentary)
            links = direct[direct["cause"].isin(names) & direct["effect"].isin(names)]
            for method in self.methods:
                if links.empty:
                    continue
                if method == "mlm":
                    res = lagged_mlm(sub, level=level, alpha=self.alpha, random_slope=self.random_slope,
                                     pairs=list(zip(links["cause"], links["effect"], strict=True)))
                else:
                    try:
                        res = pcmci_links(sub, level=level, alpha=self.alpha)
                    except DataError:
                        res = None
                if res is None:
                    cmp = links.assign(status="missed")
                else:
                    cmp = compare_with_truth(model, res, method=method, truth=truth)
                    cmp = links[["cause", "effect"]].merge(cmp, on=["cause", "effect"], how="left")
                    cmp["status"] = cmp["status"].fillna("missed")
                for link in cmp.itertuples():
                    rows.append({"level": level, "method": method, "cause": link.cause, "effect": link.effect,
                                 "patients": n, "days": d, "prompts": p, "recovered": link.status == "recovered"})
        return rows


def _executor(executor: AbstractExecutor | None, ev: Any) -> AbstractExecutor | None:
    """`executor`, refused for a model that worker processes cannot load."""
    from fitts.run.executors import InlineExecutor

    if executor is not None and not isinstance(executor, InlineExecutor) and not ev.model.portable:
        raise DataError("a model built from text cannot be loaded in worker processes; save it to a .yaml "
                        "file and pass its path, or run in this process (--workers 1)")
    return executor


def recovery_curves(
    model: CompiledModel,
    *,
    patients: Sequence[int] = (20, 50),
    days: Sequence[int] = (14, 28),
    prompts: Sequence[int] = (3, 5),
    replicates: int = 5,
    levels: Sequence[str] = ("prompt", "day"),
    methods: Sequence[str] = METHODS,
    alpha: float = 0.05,
    seed: int = 0,
    diary: DiaryDesign | None = None,
    schedule: Sequence[dict[str, Any]] | None = None,
    random_slope: bool = False,
    backend: str = "numba",
    progress: Callable[[int, int], None] | None = None,
    executor: AbstractExecutor | None = None,
    directory: str | Path | None = None,
    resume: bool = False,
) -> PowerResult:
    """Recovery of each true link over a grid of patients x days x prompts a day.

    Parameters
    ----------
    model
        The theory (compiled).
    patients, days, prompts
        Grids of the design (prompts a day >= 2 for the prompt level).
    replicates
        Independent studies per design.
    levels
        ``prompt`` and/or ``day`` analyses (see :mod:`fitts.analysis.within_person`).
    methods
        ``mlm`` and/or ``pcmci``.
    diary
        Template diary (missingness, noise, measures, burn-in); days and prompts are set here.
    random_slope
        Random slopes in the multilevel models (slower; off by default for the grid).
    progress
        Called as ``progress(done, total)`` in analysed studies, after each replicate.
    executor, directory, resume
        Where the replicates run (one experiment each, :class:`ReplicateStudies`), the run
        store and whether to resume it (see :func:`fitts.run.experiments.perform_experiments`).

    Returns
    -------
    PowerResult
        ``table``: ``level, method, cause, effect, sign, patients, days, prompts, cost,
        recovery`` (fraction of replicates), ``replicates``; sorted by link then design.
    """
    bad = [m for m in methods if m not in METHODS]
    if bad:
        raise DataError(f"unknown method {bad[0]!r} (methods: {', '.join(METHODS)})")
    if replicates < 1:
        raise DataError("replicates must be >= 1")
    template = diary or DiaryDesign()
    momentary, nightly = resolve_measures(model, template)
    truth = true_links(model, momentary, nightly)
    direct = truth[truth["kind"] == "direct"]
    if direct.empty:
        raise DataError(f"model {model.spec.name!r} has no direct link between the diary measures "
                        f"({', '.join((*momentary, *nightly))}); nothing to recover")
    block = max(patients)
    designs = tuple(DiaryDesign(**{**template.__dict__, "days": int(max(days)), "prompts": int(p),
                                   "prompt_hours": None}) for p in sorted(set(prompts)))
    cells = list(itertools.product(sorted(set(patients)), sorted(set(days)), sorted(set(prompts)), levels))
    cells = [c for c in cells if not (c[3] == "prompt" and c[2] < 2)]
    ev = ReplicateStudies(ModelHandle.of(model), designs, tuple(cells), block, tuple(momentary), tuple(nightly),
                          tuple(methods), alpha, random_slope, None if schedule is None else tuple(schedule), backend)

    def rows_done(n: int, _planned: int) -> None:
        if progress is not None:
            progress(n * len(cells), replicates * len(cells))

    res = perform_experiments(ev, pd.DataFrame({"replicate": np.arange(replicates)}), seed=seed,
                              executor=_executor(executor, ev), directory=directory, resume=resume,
                              progress=rows_done)
    rows = [] if res.records is None else res.records.drop(columns="row")
    reps = pd.DataFrame(rows)
    if len(reps) and not reps["recovered"].dtype == bool:
        reps["recovered"] = reps["recovered"].astype(bool)
    if reps.empty:
        raise DataError("no true link can be analysed at the chosen levels and prompts")
    key = ["level", "method", "cause", "effect", "patients", "days", "prompts"]
    table = reps.groupby(key, sort=False)["recovered"].agg(["mean", "size"]).reset_index()
    table = table.rename(columns={"mean": "recovery", "size": "replicates"})
    table = table.merge(direct[["cause", "effect", "sign"]], on=["cause", "effect"], how="left")
    table.insert(table.columns.get_loc("patients"), "sign", table.pop("sign"))
    table["cost"] = table["patients"] * table["days"]
    table = table.sort_values(key).reset_index(drop=True)
    settings = {"model_name": model.spec.name, "model_hash": model.model_hash, "seed": seed,
                "replicates": replicates, "alpha": alpha, "random_slope": random_slope,
                "diary": template.to_dict()}
    return PowerResult(table, reps, settings)
