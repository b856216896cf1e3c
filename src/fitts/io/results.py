"""Write and read results: NetCDF for trajectories, Parquet for tables, atomically.

A file is written to a temporary name in the destination folder and renamed into
place, so an interrupted run never leaves half a file under the final name.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import xarray as xr

from fitts.errors import DataError


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only on success."""
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp creates 0600 files; results should follow the user's umask like any file
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, dest)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def save_json(data: Any, path: str | Path, **dumps: Any) -> Path:
    """Write `data` as JSON to `path` atomically (``json.dumps`` keywords pass through)."""
    return _write_atomic(path, lambda tmp: tmp.write_text(json.dumps(data, **dumps)))


def _write_atomic(path: str | Path, writer: Callable[[Path], None]) -> Path:
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


def _netcdf_attrs(ds: xr.Dataset) -> xr.Dataset:
    """NetCDF attributes must be numbers, strings or lists of them."""
    out = ds.copy()
    for k, v in list(out.attrs.items()):
        if isinstance(v, bool):
            out.attrs[k] = int(v)
        elif isinstance(v, dict):
            out.attrs[k] = json.dumps(v)
    return out


NETCDF_SUFFIXES = (".nc", ".nc4", ".netcdf")


def check_netcdf_path(path: str | Path) -> None:
    """Refuse a NetCDF output whose name says it is something else (e.g. ``x.csv``)."""
    suffix = Path(path).suffix.lower()
    if suffix not in NETCDF_SUFFIXES:
        raise DataError(f"{path}: a result is written as NetCDF, but the suffix {suffix!r} says otherwise; "
                        "name the file .nc (tables go to --table x.csv or x.parquet)")


def save_dataset(ds: xr.Dataset, path: str | Path, *, float32: bool = False) -> Path:
    """Save a result Dataset as NetCDF (h5netcdf engine), compressed, atomically.

    Float variables are zlib-compressed (lossless, with byte shuffling); ``float32=True``
    also stores them in single precision (7 significant digits), for figures and demos.

    Raises
    ------
    DataError
        The path's suffix is not a NetCDF suffix (.nc, .nc4, .netcdf).
    """
    check_netcdf_path(path)
    ds = _netcdf_attrs(ds)
    encoding: dict[str, dict] = {}
    for name, var in ds.data_vars.items():
        if var.dtype.kind == "f" and var.ndim:
            encoding[str(name)] = {"zlib": True, "complevel": 4, "shuffle": True}
            if float32:
                encoding[str(name)]["dtype"] = "float32"
    return _write_atomic(path, lambda tmp: _write_netcdf(ds, tmp, encoding))


def _write_netcdf(ds: xr.Dataset, path: Path, encoding: dict[str, dict]) -> None:
    """``ds.to_netcdf(path, engine="h5netcdf", encoding=encoding)`` without asking dask for a lock.

    ``to_netcdf`` opens its store with a write lock chosen by the active dask scheduler,
    so wherever dask is installed (``fitts[scale]``) every write imports dask and
    distributed, about 0.5 s of a 3 s `fitts simulate`, to write numpy arrays from one
    thread. Opening the h5netcdf store with xarray's own HDF5 lock and filling it with
    ``Dataset.dump_to_store`` writes the same file (tests/test_results.py compares the
    two).
    """
    from xarray.backends import H5NetCDFStore
    from xarray.backends.locks import HDF5_LOCK

    store = H5NetCDFStore.open(str(path), mode="w", lock=HDF5_LOCK)
    try:
        ds.dump_to_store(store, encoding=encoding)
    finally:
        store.close()


def load_dataset(path: str | Path) -> xr.Dataset:
    """Open a result file written by `fitts` (loaded into memory, file closed)."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such result file; run `fitts simulate ... --out {p}` first")
    try:
        # time is in days (units attribute), a number: never decoded as a timedelta (xarray < 2026.4 did)
        with xr.open_dataset(p, engine="h5netcdf", decode_timedelta=False) as ds:
            return ds.load()
    except (OSError, ValueError) as exc:
        raise DataError(f"{p}: not a readable NetCDF result file ({exc})") from None


def save_table(df: pd.DataFrame, path: str | Path, metadata: dict | None = None) -> Path:
    """Save a tidy table as Parquet (or CSV when the suffix is .csv), atomically.

    `metadata` is stored in the Parquet schema under the key ``fitts``.
    """
    p = Path(path)
    if p.suffix == ".csv":
        return _write_atomic(p, lambda tmp: df.to_csv(tmp, index=False))
    df = df.copy()
    df.attrs = {"fitts": json.dumps(metadata or {}, default=str)}

    def write(tmp: Path) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(df, preserve_index=False)
        meta = dict(table.schema.metadata or {})
        meta[b"fitts"] = json.dumps(metadata or {}, default=str).encode()
        pq.write_table(table.replace_schema_metadata(meta), tmp)

    return _write_atomic(p, write)


def read_table_metadata(path: str | Path) -> dict:
    """The `fitts` metadata stored in a Parquet file by :func:`save_table`."""
    import pyarrow.parquet as pq

    meta = pq.read_schema(path).metadata or {}
    return json.loads(meta.get(b"fitts", b"{}"))


def trajectory_table(ds: xr.Dataset) -> pd.DataFrame:
    """Long table (patient, time, state, value) of a trajectory, or of the summaries."""
    if "trajectory" in ds:
        return ds["trajectory"].to_dataframe(name="value").reset_index()
    stats = [k for k in ("mean", "sd", "min", "max", "final") if k in ds]
    return ds[stats].to_dataframe().reset_index()


def result_metadata(ds: xr.Dataset) -> dict:
    keys = ("fitts_version", "model_name", "model_hash", "seed", "command", "dt", "method",
            "backend", "days")
    return {k: ds.attrs.get(k) for k in keys}
