"""Which virtual patient a single-patient analysis studies.

Steady states, the hanging mobile, bifurcation diagrams and loop dominance look at one
patient at a time. The prior-median patient of a theory is usually healthy with no ill
state at all (predispositions are rare, so the median person has none), which makes those
analyses say nothing about fibromyalgia. The default is therefore the **typical ill
patient**: candidates of the theory's population live a year of everyday life (the
protocol's everyday stressors), those who meet the ACR 2016 criteria at the end are the
cases, and the case whose sampled parameters lie closest to the cases' medians (each
parameter scaled by its spread among the cases) is the typical one: a real member of the
ill population, not an average no one is.

Choices (:func:`choose_patient`):

- ``typical-ill`` (default): the medoid of the cases, as above (cached on disk per model
  and seed, because finding it simulates a few thousand patient-years);
- ``median``: every sampled parameter at its prior median;
- ``predisposed``: the median patient with every predisposition (Bernoulli parameter)
  present;
- an integer ``k``: patient ``k`` of the population at the given seed, the same patient a
  simulation with that seed calls ``k``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import xarray as xr

from fitts.compile.compiled import CompiledModel
from fitts.errors import ModelError, did_you_mean
from fitts.io.results import atomic_path, save_json
from fitts.observe.instruments import expressible
from fitts.population.recruit import CASE_INSTRUMENT, Recruitment, everyday_schedule, screen
from fitts.population.sample import predispositions
from fitts.sim.sample import sample_parameters, typical_parameters

CHOICES = ("typical-ill", "median", "predisposed")
CACHE_VERSION = 1


@dataclass(frozen=True)
class Patient:
    """One virtual patient chosen for a single-patient analysis.

    Attributes
    ----------
    params
        Sampled parameters by name (ready for ``simulate(params=...)`` and the analyses).
    choice
        How it was chosen (``typical-ill``, ``median``, ``predisposed`` or ``patient k``).
    patient
        Its id in the population at `seed` (None for the median and predisposed patients).
    seed
        Population seed.
    description
        One sentence for the user: who this patient is and how they were found.
    """

    params: dict[str, float]
    choice: str
    patient: int | None
    seed: int
    description: str


def cache_dir() -> Path:
    """Folder of cached results: ``$FITTS_CACHE_DIR`` or the user's cache folder for fitts."""
    env = os.environ.get("FITTS_CACHE_DIR")
    if env:
        return Path(env)
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("fitts"))


def _medoid(P: np.ndarray) -> int:
    """Row of `P` (cases x parameters) closest to the column medians, columns scaled by their spread."""
    med = np.median(P, axis=0)
    spread = P.std(axis=0)
    spread[spread == 0] = 1.0
    return int(np.argmin((((P - med) / spread) ** 2).sum(axis=1)))


def typical_ill_patient(model: CompiledModel, *, seed: int = 0, candidates: int = 2000, chunk: int = 500,
                        backend: str = "numba", use_cache: bool = True,
                        progress: Callable[[float], None] | None = None) -> Patient:
    """The medoid of the theory's cases after a year of everyday life (see the module docstring).

    Parameters
    ----------
    model
        A compiled theory that can measure ACR 2016 case status.
    seed
        Population seed; patient ids refer to it.
    candidates
        At most this many candidates are screened (in chunks of `chunk`, stopping once 40
        cases are found).
    use_cache
        Read and write the result under :func:`cache_dir` (keyed by model hash and seed).
    progress
        Called with patient-days done.

    Raises
    ------
    ModelError
        No candidate became a case: the theory's population has no ill members to study.
    """
    key = f"typical-ill-v{CACHE_VERSION}-{model.model_hash}-{seed}-{candidates}"
    path = cache_dir() / "patients" / f"{key}.json"
    if use_cache and path.is_file():
        try:
            data = json.loads(path.read_text())
            if set(data["params"]) == {p.name for p in model.params if p.kind == "prior"}:
                return Patient(**data)
        except (OSError, ValueError, KeyError, TypeError):
            pass  # a damaged cache entry is recomputed
    rule = Recruitment(rule="cases", everyday=tuple(everyday_schedule()))
    rule.check(model)
    ids_found: list[np.ndarray] = []
    params_found: list[np.ndarray] = []
    screened = 0
    while screened < candidates and sum(len(i) for i in ids_found) < 40:
        ids = np.arange(screened, min(screened + chunk, candidates))
        s = screen(model, ids, seed=seed, population=None, recruitment=rule, backend=backend, progress=progress)
        ids_found.append(s.ids)
        params_found.append(s.params)
        screened = int(ids[-1]) + 1
    ids_all = np.concatenate(ids_found)
    if len(ids_all) == 0:
        raise ModelError(f"none of {screened} virtual patients of {model.spec.name!r} met the ACR 2016 criteria "
                         "after a year of everyday life, so the theory has no typical ill patient",
                         hint="choose `--patient predisposed` or `--patient median`, give `--patient-params`, "
                              "or calibrate the theory")
    rows = [k for k, p in enumerate(model.params) if p.kind == "prior"]
    P = np.concatenate(params_found)[:, rows]
    best = _medoid(P)
    params = {model.params[k].name: float(P[best, j]) for j, k in enumerate(rows)}
    pid = int(ids_all[best])
    patient = Patient(params=params, choice="typical-ill", patient=pid, seed=seed,
                      description=f"typical ill patient of {model.spec.name}: patient {pid} (seed {seed}), "
                                  f"the case closest to the medians of {len(ids_all)} cases among {screened} "
                                  "candidates after a year of everyday life")
    if use_cache:
        try:
            save_json(asdict(patient), path)
        except OSError:
            pass  # a read-only cache folder only costs the next call the search
    return patient


def choose_patient(model: CompiledModel, choice: str | int = "typical-ill", *, seed: int = 0,
                   backend: str = "numba", progress: Callable[[float], None] | None = None) -> Patient:
    """The patient a single-patient analysis studies (see the module docstring for the choices).

    Raises
    ------
    ModelError
        An unknown choice, a negative id, or no typical ill patient.
    """
    text = str(choice).strip()
    if text.lstrip("-").isdigit():
        k = int(text)
        if k < 0:
            raise ModelError(f"patient id {k} is negative", hint="patient ids are 0, 1, 2, ...")
        P = sample_parameters(model, np.array([k]), seed)
        params = {p.name: float(P[i, 0]) for i, p in enumerate(model.params) if p.kind == "prior"}
        return Patient(params, f"patient {k}", k, seed, f"patient {k} of {model.spec.name} (seed {seed})")
    if text == "typical-ill":
        ok, reason = expressible(model.states, CASE_INSTRUMENT)
        if not ok:  # a model without the symptoms of the criteria (e.g. a toy model) has no cases
            return Patient(typical_parameters(model), "median", None, seed,
                           f"prior-median patient of {model.spec.name} (it cannot have a typical ill patient: "
                           f"ACR 2016 case status is not measurable: {reason})")
        return typical_ill_patient(model, seed=seed, backend=backend, progress=progress)
    if text == "median":
        return Patient(typical_parameters(model), "median", None, seed,
                       f"prior-median patient of {model.spec.name} (no predisposition)")
    if text == "predisposed":
        names = predispositions(model)
        return Patient(typical_parameters(model, {n: 1.0 for n in names}), "predisposed", None, seed,
                       f"prior-median patient of {model.spec.name} with "
                       + (", ".join(names) if names else "no predispositions (the theory has none)"))
    raise ModelError(f"unknown patient {text!r}", hint="give " + ", ".join(CHOICES) + " or a patient id (0, 1, ...)")


def patient_from_result(model: CompiledModel, path: str | Path, patient: int) -> Patient:
    """Patient `patient` of a result file, as a :class:`Patient` whose params a run can reuse.

    Parameters
    ----------
    model
        The compiled model the result was made with (its sampled rows are exported).
    path
        A NetCDF result of ``fitts simulate`` (parameters stored per patient), or a table
        (.parquet/.csv) with a ``patient`` column: parameters are read from its columns when
        it has them (``fitts population``), else drawn again from the model at the seed in
        the table's metadata (trial and attribution tables store ids only).
    patient
        Patient id as the file names it.

    Raises
    ------
    DataError
        Unreadable file, unknown patient id, or a table with neither parameters nor a seed.
    """
    import pandas as pd

    from fitts.errors import DataError
    from fitts.io.results import load_dataset, read_table_metadata

    p = Path(path)
    names = [r.name for r in model.params if r.kind == "prior"]
    if p.suffix.lower() in (".nc", ".nc4", ".netcdf"):
        ds = load_dataset(p)
        if "params" not in ds:
            raise DataError(f"{p}: the result stores no parameters per patient")
        ids = [int(i) for i in ds["patient"].values]
        if patient not in ids:
            raise DataError(f"{p}: no patient {patient}; it holds {len(ids)} patients "
                            f"(ids {ids[0]} .. {ids[-1]})")
        if ds.attrs.get("model_hash") not in (None, model.model_hash):
            raise DataError(f"{p}: the result was made with another version of the model "
                            f"(hash {ds.attrs.get('model_hash')}, this model {model.model_hash}); "
                            "export with the model file the result was made with")
        row = ds["params"].sel(patient=patient)
        stored = {str(k) for k in ds["parameter"].values}
        params = {n: float(row.sel(parameter=n)) for n in names if n in stored}
        seed = int(ds.attrs.get("seed", 0))
        return Patient(params, f"patient {patient}", patient, seed,
                       f"patient {patient} of {p.name} ({model.spec.name}, seed {seed})")
    if p.suffix.lower() not in (".parquet", ".csv"):
        raise DataError(f"{p}: cannot tell the format from the suffix {p.suffix!r}; give a .nc result of "
                        "`fitts simulate` or a .parquet/.csv table with a patient column")
    if not p.is_file():
        raise DataError(f"{p}: no such result file")
    df = pd.read_parquet(p) if p.suffix.lower() == ".parquet" else pd.read_csv(p)
    if "patient" not in df.columns:
        raise DataError(f"{p}: the table has no `patient` column")
    rows = df[df["patient"] == patient]
    if rows.empty:
        raise DataError(f"{p}: no patient {patient} in the table ({df['patient'].nunique()} patients)")
    if all(n in df.columns for n in names):
        first = rows.iloc[0]
        meta = read_table_metadata(p) if p.suffix.lower() == ".parquet" else {}
        seed = int(meta.get("seed", 0))
        return Patient({n: float(first[n]) for n in names}, f"patient {patient}", patient, seed,
                       f"patient {patient} of {p.name} ({model.spec.name})")
    meta = read_table_metadata(p) if p.suffix.lower() == ".parquet" else {}
    if "seed" not in meta:
        raise DataError(f"{p}: the table stores neither parameters nor the seed that drew them; "
                        "export from the .nc result or the population table instead")
    seed = int(meta["seed"])
    chosen = choose_patient(model, patient, seed=seed)
    return Patient(chosen.params, chosen.choice, patient, seed,
                   f"patient {patient} of {p.name}, drawn again from {model.spec.name}'s priors at seed {seed} "
                   "(the table stores ids only; a population with changed prevalences is not reproduced)")


def write_patient_params(patient: Patient, path: str | Path) -> Path:
    """Write a patient's parameters as a YAML mapping that ``--patient-params`` reads (atomic)."""
    import yaml

    from fitts.errors import DataError

    p = Path(path)
    if p.suffix.lower() not in (".yaml", ".yml"):
        raise DataError(f"{p}: name the patient-parameter file .yaml")
    text = f"# {patient.description}\n" + yaml.safe_dump(patient.params, sort_keys=False)
    with atomic_path(p) as tmp:
        Path(tmp).write_text(text)
    return p


def ill_at_end(ds: xr.Dataset, where: str = "the result") -> np.ndarray:
    """Whether each patient of a simulation result is ill at its last recorded time: noise-free
    pain NRS at or above :data:`fitts.analysis.steady.ILL_NRS_CUTOFF`, shape (patients,).

    Raises
    ------
    DataError
        The result holds summaries only, or its model cannot measure pain NRS.
    """
    from fitts.analysis.steady import ILL_NRS_CUTOFF
    from fitts.errors import DataError
    from fitts.observe.instruments import expressible, measure

    ok, reason = expressible([str(s) for s in ds["state"].values], "pain_nrs")
    if not ok:
        raise DataError(f"{where}: cannot tell who is ill: {reason}")
    if "trajectory" not in ds:
        raise DataError(f"{where}: the result holds summaries only; simulate with --record grid to select by state")
    nrs = np.asarray(measure(ds, "pain_nrs", noise=False, time=float(ds["time"].values[-1])).values)
    return nrs >= ILL_NRS_CUTOFF


def select_patient(path: str | Path, rule: str) -> int:
    """The id of the first patient of a result file that meets `rule`.

    Rules: ``ill`` / ``healthy`` (pain NRS, noise-free, at or above / below 4 at the end of
    a ``.nc`` result), or ``COLUMN=VALUE`` on a table (for example
    ``subtype=central-dominant`` on an attribution table, ``arm=snri`` on a trial's
    patients).

    Raises
    ------
    DataError
        An unreadable rule or file, or no patient meeting it.
    """
    import pandas as pd

    from fitts.errors import DataError
    from fitts.io.results import load_dataset

    p = Path(path)
    text = rule.strip()
    if p.suffix.lower() in (".nc", ".nc4", ".netcdf"):
        if text not in ("ill", "healthy"):
            raise DataError(f"{p}: rule {text!r} does not apply to a simulation result; use `ill` or `healthy`")
        ds = load_dataset(p)
        ill = ill_at_end(ds, where=str(p))
        hits = ds["patient"].values[ill if text == "ill" else ~ill]
    else:
        column, sep, value = text.partition("=")
        if not sep:
            raise DataError(f"rule {text!r}: write COLUMN=VALUE for a table, e.g. subtype=central-dominant")
        if not p.is_file():
            raise DataError(f"{p}: no such result file")
        df = pd.read_parquet(p) if p.suffix.lower() == ".parquet" else pd.read_csv(p)
        column = column.strip()
        if column not in df.columns or "patient" not in df.columns:
            raise DataError(f"{p}: the table has no column {column!r}" + did_you_mean(column, list(df.columns))
                            + " (columns: " + ", ".join(map(str, df.columns[:20])) + ")")
        hits = df.loc[df[column].astype(str) == value.strip(), "patient"].to_numpy()
    if len(hits) == 0:
        raise DataError(f"{p}: no patient meets {text!r}")
    return int(hits[0])
