"""Results on disk: NetCDF and Parquet round trips with metadata, atomic writes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from fitts import DataError, load_dataset, load_model_text, save_dataset, save_table, simulate
from fitts.io.results import _netcdf_attrs, atomic_path, read_table_metadata, result_metadata, trajectory_table
from tests.helpers import TWO_NODE


def test_netcdf_round_trip_keeps_metadata(tmp_path: Path) -> None:
    ds = simulate(load_model_text(TWO_NODE), patients=3, days=2.0, seed=4, command="fitts simulate")
    path = save_dataset(ds, tmp_path / "out" / "run.nc")
    back = load_dataset(path)
    assert back.trajectory.dims == ("patient", "time", "state")
    assert back.attrs["model_hash"] == ds.attrs["model_hash"]
    assert back.attrs["seed"] == 4 and back.attrs["command"] == "fitts simulate"
    assert (back.trajectory.values == ds.trajectory.values).all()
    assert not list((tmp_path / "out").glob("*.part"))


@pytest.mark.parametrize("float32", [False, True])
def test_netcdf_written_as_to_netcdf_would(tmp_path: Path, float32: bool) -> None:
    """save_dataset fills the h5netcdf store itself (no dask lock): the file reads back as
    xarray's own to_netcdf would have written it, data, attributes and compression alike."""
    import xarray as xr

    ds = simulate(load_model_text(TWO_NODE), patients=3, days=2.0, seed=4, record="summary")
    ours = load_dataset(save_dataset(ds, tmp_path / "ours.nc", float32=float32))
    prepared = _netcdf_attrs(ds)
    encoding = {str(n): {"zlib": True, "complevel": 4, "shuffle": True, **({"dtype": "float32"} if float32 else {})}
                for n, v in prepared.data_vars.items() if v.dtype.kind == "f" and v.ndim}
    prepared.to_netcdf(tmp_path / "xarray.nc", engine="h5netcdf", encoding=encoding)
    theirs = load_dataset(tmp_path / "xarray.nc")
    xr.testing.assert_identical(ours, theirs)
    for name in theirs.variables:
        for key in ("dtype", "zlib", "shuffle", "complevel", "chunksizes"):
            assert ours[name].encoding.get(key) == theirs[name].encoding.get(key), (name, key)


def test_writing_a_result_does_not_import_distributed() -> None:
    """A NetCDF write must not import dask.distributed (to_netcdf's scheduler lock does), which
    costs a few tenths of a second in every command that writes one."""
    code = "\n".join([
        "import os, sys, tempfile",
        "from fitts import load_model_text, save_dataset, simulate",
        "from tests.helpers import TWO_NODE",
        "ds = simulate(load_model_text(TWO_NODE), patients=2, days=1.0, backend='numpy')",
        "save_dataset(ds, os.path.join(tempfile.mkdtemp(), 'r.nc'))",
        "print('distributed' in sys.modules)",
    ])
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, check=True)
    assert out.stdout.strip() == "False", out.stderr


def test_parquet_table_with_metadata(tmp_path: Path) -> None:
    ds = simulate(load_model_text(TWO_NODE), patients=2, days=2.0, seed=4)
    table = trajectory_table(ds)
    assert list(table.columns) == ["patient", "time", "state", "value"]
    path = save_table(table, tmp_path / "t.parquet", result_metadata(ds))
    pd.testing.assert_frame_equal(pd.read_parquet(path), table)
    assert read_table_metadata(path)["model_hash"] == ds.attrs["model_hash"]


def test_interrupted_write_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "x.nc"
    target.write_text("old result")
    with pytest.raises(RuntimeError, match="interrupted"), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "old result"
    assert [p.name for p in tmp_path.iterdir()] == ["x.nc"]


def test_missing_or_broken_result_is_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such result file"):
        load_dataset(tmp_path / "nope.nc")
    bad = tmp_path / "bad.nc"
    bad.write_text("not netcdf")
    with pytest.raises(DataError, match="not a readable NetCDF result file"):
        load_dataset(bad)


def test_written_files_follow_the_umask(tmp_path: Path) -> None:
    import os

    old = os.umask(0o022)
    try:
        path = save_table(pd.DataFrame({"a": [1]}), tmp_path / "t.csv")
    finally:
        os.umask(old)
    assert oct(path.stat().st_mode & 0o777) == oct(0o644)
