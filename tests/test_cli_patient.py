"""One patient's story: `fitts patient` exports, `--patient-params` replays, `plot --patient` selects;
results never land in a file whose name says another format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import yaml

from fitts.cli import main
from fitts.io.params import read_patient_params


def run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    """Run the CLI in this process (the console script's code path); (exit code, stdout, stderr)."""
    try:
        main([str(a) for a in args])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("story")
    try:
        main(["simulate", "fitts", "--patients", "4", "--days", "20", "--dt", "0.05", "--no-noise",
              "--backend", "numpy", "--out", str(folder / "r.nc")])
    except SystemExit as exc:
        assert not exc.code
    return folder


def test_export_a_patient_of_a_result_and_replay_its_story(story: Path, capsys) -> None:
    code, out, err = run(capsys, "patient", "fitts", story / "r.nc", "--id", "2", "--out", story / "p2.yaml")
    assert code == 0, err
    assert "patient 2 of r.nc" in out
    exported = yaml.safe_load((story / "p2.yaml").read_text())
    with xr.open_dataset(story / "r.nc", engine="h5netcdf") as ds:
        original = ds.load()
    assert exported["pain_sensitivity"] == pytest.approx(
        float(original.params.sel(patient=2, parameter="pain_sensitivity")))
    code, _, err = run(capsys, "simulate", "fitts", "--patients", "1", "--days", "20", "--dt", "0.05",
                       "--no-noise", "--backend", "numpy", "--patient-params", story / "p2.yaml",
                       "--out", story / "again.nc")
    assert code == 0, err
    with xr.open_dataset(story / "again.nc", engine="h5netcdf") as again:
        np.testing.assert_allclose(again.trajectory.isel(patient=0).values,
                                   original.trajectory.sel(patient=2).values, rtol=1e-10, atol=1e-12)


def test_plot_follows_chosen_patients(story: Path, capsys) -> None:
    code, out, err = run(capsys, "plot", story / "r.nc", "--out", story / "one.png", "--patient", "3")
    assert code == 0, err
    assert "(1 patient(s))" in out
    code, _, err = run(capsys, "plot", story / "r.nc", "--out", story / "x.png", "--patient", "9")
    assert code == 2 and "no patient(s) [9]" in err
    code, _, err = run(capsys, "plot", story / "r.nc", "--out", story / "x.png", "--patient", "ill")
    # nobody is ill after 20 quiet days
    assert code == 2 and "no patient is ill" in err


def test_export_errors_name_the_file_and_what_to_do(story: Path, capsys) -> None:
    code, _, err = run(capsys, "patient", "fitts", story / "r.nc", "--id", "99", "--out", story / "p.yaml")
    assert code == 2 and "no patient 99" in err and "holds 4 patients" in err
    code, _, err = run(capsys, "patient", "fitts", story / "r.nc", "--out", story / "p.yaml")
    assert code == 2 and "--id" in err
    code, _, err = run(capsys, "patient", "fitts", "--patient", "predisposed", "--out", story / "p.txt")
    assert code == 2 and "name the patient-parameter file .yaml" in err
    assert not (story / "p.txt").exists()


def test_a_netcdf_result_is_never_written_under_another_suffix(tmp_path: Path, capsys) -> None:
    code, _, err = run(capsys, "simulate", "fitts", "--patients", "1", "--days", "1", "--backend", "numpy",
                       "--out", tmp_path / "x.csv")
    assert code == 2 and "name the file x.nc" in err
    assert not (tmp_path / "x.csv").exists()


def test_a_parameter_csv_without_header_keeps_its_first_line(tmp_path: Path) -> None:
    (tmp_path / "no_header.csv").write_text("pain_sensitivity,0.7\nearly_adversity,1\n")
    (tmp_path / "header.csv").write_text("parameter,value\npain_sensitivity,0.7\n")
    known = {"pain_sensitivity", "early_adversity"}
    assert read_patient_params(tmp_path / "no_header.csv", known) == {"pain_sensitivity": 0.7,
                                                                       "early_adversity": 1.0}
    assert read_patient_params(tmp_path / "header.csv", known) == {"pain_sensitivity": 0.7}
