"""Experiments: a design of input rows, an evaluator, an aligned table of inputs and outcomes.

This is the one place where an analysis hands a grid of runs to the executors (as the
EMA workbench's ``perform_experiments`` does for exploratory models). An experiment is

- a **design**: a table with one row per experiment and one column per factor (parameter
  values, predispositions, scenario values such as a stressor's level or an
  intervention's start, a replicate number, ...); row ``i`` is experiment ``i``;
- an **evaluator**: a picklable callable ``evaluator(rows, seed)`` that computes the
  outcomes of a block of rows (``rows`` is the design's slice, its index the row ids)
  and returns either one value per row (a mapping of arrays of length ``len(rows)``, or a
  DataFrame indexed like `rows`) or *records* (a tidy DataFrame with a ``row`` column,
  any number of records per row: a replicate study's recovered links, the features of a
  simulated cohort), and a ``fingerprint()`` (JSON-able: everything its outcomes depend
  on besides the rows and the seed);
- a **seed**: every row's randomness must depend only on the seed and the row id (a
  simulation uses the row id as the virtual patient's id, whose streams are
  counter-based; an evaluator that needs one integer seed per row uses
  :func:`row_seed`), so a row's outcomes do not depend on the executor, the block it was
  computed in or the order the blocks finished.

:func:`perform_experiments` cuts the design into blocks of rows, computes them on an
executor (this process, local processes or Dask) through :func:`fitts.run.jobs.run_job`,
and, given a ``directory``, keeps every finished block there (the run store: a manifest
with the fingerprint of the evaluator, the design and the seed, and one ``.npz`` per
block), so an interrupted run resumes (``resume=True``) without recomputing them.

Like :mod:`fitts.run.executors` and :mod:`fitts.run.jobs`, this module imports no domain
layer: any analysis may hand it work.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from fitts.errors import ModelError

from .executors import AbstractExecutor
from .jobs import JobRun, load_chunk, run_job

#: prefixes of the arrays a block stores: one value per row, and records
_OUT, _REC = "out:", "rec:"


class Evaluator(Protocol):
    """What :func:`perform_experiments` needs of an evaluator (see the module docstring).

    Attributes
    ----------
    name
        Shown in messages and stored in the run store's manifest.
    block_rows
        Rows computed together by default (a vectorised simulation wants hundreds; a
        replicate study one).
    """

    name: str
    block_rows: int

    def fingerprint(self) -> dict[str, Any]:
        """Everything the outcomes depend on besides the rows and the seed (JSON-able)."""
        ...

    def __call__(self, rows: pd.DataFrame, seed: int) -> Mapping[str, np.ndarray] | pd.DataFrame:
        """Outcomes of `rows` (index: row ids)."""
        ...


def row_seed(seed: int, row: int | np.ndarray) -> np.ndarray:
    """An integer seed per row, a function of (`seed`, row id) only, shape like `row`.

    Drawn from NumPy's ``SeedSequence((seed, row))`` so that neighbouring rows get
    unrelated seeds; in [0, 2**31).
    """
    rows = np.atleast_1d(np.asarray(row, dtype=np.int64))
    out = np.array([np.random.SeedSequence((int(seed), int(r))).generate_state(1, np.uint32)[0] >> 1
                    for r in rows], dtype=np.int64)
    return out if np.ndim(row) else out[:1]


def design_hash(design: pd.DataFrame) -> str:
    """Content hash of a design (columns, dtypes, values and row ids)."""
    h = hashlib.sha256()
    h.update(repr([(str(c), str(t)) for c, t in design.dtypes.items()]).encode())
    h.update(np.asarray(pd.util.hash_pandas_object(design, index=True).values).tobytes())
    return h.hexdigest()[:16]


def _as_array(values: Any) -> np.ndarray:
    """A column as an array the run store can hold without pickling (text as unicode)."""
    a = np.asarray(values)
    if a.dtype == object or isinstance(getattr(values, "dtype", None), pd.StringDtype) or a.dtype.kind == "U":
        return np.asarray([str(v) for v in values], dtype=str)
    return a


@dataclass(frozen=True, eq=False)  # compared and hashed by identity (holds dicts, tables)
class ExperimentJob:
    """The design and the evaluator as a job of :func:`fitts.run.jobs.run_job` (ids = row ids)."""

    evaluator: Any
    design: pd.DataFrame
    seed: int
    name: str = "experiments"
    #: screening (see :func:`screen_experiments`): rows wanted, and what keeps a row
    wanted: int | None = None
    rule: str = "rows"
    #: whether a block may keep fewer rows than it has (else only failed rows are replaced)
    keeps_some: bool = True

    @property
    def screens(self) -> bool:
        return self.wanted is not None and self.keeps_some

    @property
    def patients(self) -> int:
        return len(self.design) if self.wanted is None else self.wanted

    @property
    def max_screened(self) -> int:
        return len(self.design)

    def fingerprint(self) -> dict[str, Any]:
        if self.wanted is not None:  # candidates are ids only: a store can be continued for more of them
            return {"evaluator": self.evaluator.name, "settings": self.evaluator.fingerprint(),
                    "screening": self.rule, "seed": int(self.seed)}
        return {"evaluator": self.evaluator.name, "settings": self.evaluator.fingerprint(),
                "design": design_hash(self.design), "rows": len(self.design),
                "columns": [str(c) for c in self.design.columns], "seed": int(self.seed)}

    def __call__(self, chunk: tuple[int, int]) -> dict[str, np.ndarray]:
        rows = self.design.iloc[chunk[0]:chunk[1]]
        res = self.evaluator(rows, self.seed)
        if self.wanted is not None:
            if not isinstance(res, Mapping) or "patient" not in res:
                raise ModelError(f"a screening evaluator ({self.evaluator.name!r}) must return the kept row ids "
                                 "as `patient`")
            return {k: np.asarray(v) for k, v in res.items()}
        data: dict[str, np.ndarray] = {"patient": np.arange(chunk[0], chunk[1], dtype=np.int64)}
        if isinstance(res, pd.DataFrame) and "row" in res.columns:
            for c in res.columns:
                data[_REC + str(c)] = _as_array(res[c].to_numpy())
            return data
        items = res.items() if isinstance(res, Mapping) else ((c, res[c].to_numpy()) for c in res.columns)
        for name, v in items:
            a = _as_array(v)
            if len(a) != len(rows):
                raise ModelError(f"evaluator {self.evaluator.name!r} returned {len(a)} values of {name!r} for "
                                 f"{len(rows)} rows")
            data[_OUT + str(name)] = a
        return data


@dataclass
class ExperimentResults:
    """Inputs and outcomes of an experiment, aligned by row.

    Attributes
    ----------
    design
        The design (index: row ids 0..n-1).
    outcomes
        One value per row and outcome (index: row ids); empty columns when the
        evaluator returns records.
    records
        Records with a ``row`` column (None when the evaluator returns one value per row).
    run
        How the blocks were obtained (computed now or taken from the run store).
    settings
        The run store's fingerprint.
    """

    design: pd.DataFrame
    outcomes: pd.DataFrame
    records: pd.DataFrame | None
    run: JobRun | None
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def table(self) -> pd.DataFrame:
        """Inputs and outcomes side by side (one row per experiment); with records, one row per record.
        An outcome named like an input is suffixed ``:outcome``."""
        if self.records is not None:
            return self.design.join(self.records.set_index("row"), how="right", suffixes=("", ":outcome")) \
                .rename_axis("row").reset_index()
        return self.design.join(self.outcomes, suffixes=("", ":outcome"))

    def to_xarray(self) -> Any:
        """The aligned table as an ``xarray.Dataset`` over the dimension ``row``."""
        return self.table.rename_axis("row").to_xarray()


def perform_experiments(evaluator: Evaluator, design: pd.DataFrame, *, seed: int = 0,
                        executor: AbstractExecutor | None = None, directory: str | Path | None = None,
                        resume: bool = False, block_rows: int | None = None,
                        progress: Callable[[int, int], None] | None = None,
                        on_block: Callable[[pd.DataFrame, dict[str, np.ndarray]], None] | None = None,
                        ) -> ExperimentResults:
    """Compute `evaluator` over every row of `design` (see the module docstring).

    Parameters
    ----------
    evaluator
        See :class:`Evaluator`.
    design
        One row per experiment; the row ids are its positions 0..n-1 (the index is reset).
    seed
        Base seed; row ``i``'s randomness depends on (seed, i) only.
    executor
        Where the blocks run (default: this process).
    directory, resume
        Run store (default: a temporary folder, discarded) and whether to reuse the
        finished blocks of a store of the same evaluator, design and seed.
    block_rows
        Rows per block (default: the evaluator's ``block_rows``); results do not depend on it.
    progress
        ``progress(rows done, rows planned)`` after every block.
    on_block
        Called in this process with each finished block's rows and outcomes (one value per
        row, by name) as soon as it is kept, in the order blocks finish (a caller that
        records results as they arrive).

    Returns
    -------
    ExperimentResults

    Raises
    ------
    ModelError
        An empty design.
    DataError
        A run store of other settings (or an existing one without `resume`).
    """
    design = design.reset_index(drop=True).rename_axis("row")
    if design.empty:
        raise ModelError("the experiment design has no rows", hint="give at least one row of factor values")
    job = ExperimentJob(evaluator, design, int(seed), name=f"experiments:{evaluator.name}")
    size = int(block_rows or getattr(evaluator, "block_rows", 0) or len(design))

    def run_in(folder: str | Path, again: bool) -> JobRun:
        def chunk_done(chunk: tuple[int, int]) -> None:
            if on_block is not None:
                data = load_chunk(Path(folder), chunk)
                on_block(design.iloc[chunk[0]:chunk[1]],
                         {k[len(_OUT):]: v for k, v in data.items() if k.startswith(_OUT)})

        return run_job(job, folder, executor=executor, chunk_size=size, resume=again, progress=progress,
                       on_chunk=chunk_done)

    if directory is None:
        with tempfile.TemporaryDirectory(prefix="fitts-experiments-") as tmp:
            return _assemble(job, run_in(tmp, False), keep_run=False)
    return _assemble(job, run_in(directory, resume), keep_run=True)


def screen_experiments(evaluator: Evaluator, wanted: int, candidates: int, directory: str | Path, *, seed: int = 0,
                       rule: str = "rows", keeps_some: bool = True, executor: AbstractExecutor | None = None,
                       resume: bool = False,
                       block_rows: int | None = None, progress: Callable[[int, int], None] | None = None,
                       on_block: Callable[[tuple[int, int]], None] | None = None) -> JobRun:
    """Experiments over candidate rows ``0, 1, ...`` until `wanted` rows are kept (a screening design).

    Where a design's size is not known in advance (a trial recruits the candidates that
    pass its screening), the candidates are rows with no columns, computed in blocks and
    in waves until `wanted` are kept, at most `candidates`; the evaluator returns, per
    block, the kept row ids as ``patient`` and one array per kept row and quantity. The
    first `wanted` kept rows (in id order) are the result, the same for any executor or
    block size. The blocks stay in the run store `directory` (resumable). With
    ``keeps_some=False`` every row is kept unless its evaluation failed (blocks are then
    planned for the rows still wanted, not in screening waves).

    Returns
    -------
    fitts.run.jobs.JobRun
        The blocks and how many of their rows are kept; ``iter_chunks()`` yields the arrays.

    Raises
    ------
    ModelError
        Fewer than `wanted` rows kept among `candidates` (naming the `rule`, in the words of
        a recruitment).
    """
    if wanted < 1 or candidates < wanted:
        raise ModelError(f"a screening wants 1 to {candidates} rows, got {wanted}")
    design = pd.DataFrame(index=pd.RangeIndex(candidates, name="row"))
    job = ExperimentJob(evaluator, design, int(seed), name=f"experiments:{evaluator.name}", wanted=int(wanted),
                        rule=rule, keeps_some=keeps_some)
    size = int(block_rows or getattr(evaluator, "block_rows", 0) or wanted)
    return run_job(job, directory, executor=executor, chunk_size=size, resume=resume, progress=progress,
                   on_chunk=on_block)


def _assemble(job: ExperimentJob, run: JobRun, keep_run: bool) -> ExperimentResults:
    outs: dict[str, list[np.ndarray]] = {}
    recs: dict[str, list[np.ndarray]] = {}
    for data, _keep in run.iter_chunks():
        for k, v in data.items():
            if k.startswith(_OUT):
                outs.setdefault(k[len(_OUT):], []).append(v)
            elif k.startswith(_REC):
                recs.setdefault(k[len(_REC):], []).append(v)
    outcomes = pd.DataFrame({k: np.concatenate(v) for k, v in outs.items()}, index=job.design.index)
    records = None
    if recs:
        records = pd.DataFrame({k: np.concatenate(v) for k, v in recs.items()})
    return ExperimentResults(job.design, outcomes, records, run if keep_run else None, job.fingerprint())


__all__ = ["Evaluator", "ExperimentJob", "ExperimentResults", "design_hash", "perform_experiments", "row_seed",
           "screen_experiments"]
